"""Commit-before-reveal: a hash agreed in consensus in one round, the blob revealed in the next.

The commitments themselves are made by the crypto layer (threshold_ckks: dealing_commitment,
contribution_commitment), which binds each blob to its sender, key epoch and period. Rounds only
check that a committed value has the shape of a digest.
"""

DIGEST_HEX_LENGTH = 64


def is_digest_hex(value: str) -> bool:
    """Whether `value` has the shape of a SHA-256 hex digest."""
    return len(value) == DIGEST_HEX_LENGTH and all(
        char in "0123456789abcdef" for char in value
    )
