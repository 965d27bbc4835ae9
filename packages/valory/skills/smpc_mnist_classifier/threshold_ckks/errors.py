"""The error types of threshold CKKS: every refusal is a ValueError with a precise subclass."""

from typing import Sequence


class ThresholdCkksError(ValueError):
    """Base class: every refusal of this module is a ValueError with a precise subclass."""


class InvalidInputError(ThresholdCkksError):
    """An argument is out of range: NaN/inf or too large values, bad indices, weights or sets."""


class MalformedDataError(ThresholdCkksError):
    """Serialized bytes are truncated, inconsistent or carry residues outside their modulus."""


class ForeignDataError(ThresholdCkksError):
    """Data belongs to another parameter set, joint key, key generation or ciphertext."""


class ParameterMismatchError(ForeignDataError):
    """Data was produced under different CKKS parameters (their digests differ)."""


class ForeignShareError(ForeignDataError):
    """A share is not for this ciphertext, key or decryptor set."""


class DuplicateShareError(ThresholdCkksError):
    """The same party supplied two shares for the same slot."""


class InsufficientSharesError(ThresholdCkksError):
    """No t-subset of the decryptor set has all of its shares."""


class ShareAlreadyIssuedError(ThresholdCkksError):
    """A party was asked again for shares of a ciphertext: a second noisy share leaks key material."""


class SubShareDecryptionError(ThresholdCkksError):
    """A boxed Shamir sub-share cannot be opened: wrong recipient key, wrong sender key or tampering."""


class InconsistentSharesError(ThresholdCkksError):
    """Decryption shares disagree and no single faulty party explains it; `suspects` lists candidates."""

    def __init__(self, message: str, suspects: Sequence[int]) -> None:
        """Keep the suspect party indices for the caller."""
        super().__init__(f"{message}; suspects: {sorted(suspects)}")
        self.suspects = tuple(sorted(suspects))
