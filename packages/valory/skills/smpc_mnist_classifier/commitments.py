"""Commit-before-reveal: a hash agreed in consensus in one round, the blob revealed in the next.

A commitment binds the blob to its sender and period, so nobody can copy another agent's commitment
and later reveal that agent's blob as its own, and no commitment can be replayed in another period.
The blobs committed to are ciphertexts (high entropy), so the hash hides them until the reveal.
"""

import hashlib
import struct

UPDATE_DOMAIN = b"smpc-mnist/update-commitment/v1"
DIGEST_HEX_LENGTH = 64


def update_commitment(period: int, sender: str, blob: bytes) -> str:
    """SHA-256 over the domain, the period, the sender and the blob, each length-prefixed."""
    digest = hashlib.sha256()
    for part in (UPDATE_DOMAIN, struct.pack(">Q", period), sender.encode(), blob):
        digest.update(struct.pack(">Q", len(part)))
        digest.update(part)
    return digest.hexdigest()


def is_digest_hex(value: str) -> bool:
    """Whether `value` has the shape of a SHA-256 hex digest."""
    return len(value) == DIGEST_HEX_LENGTH and all(
        char in "0123456789abcdef" for char in value
    )
