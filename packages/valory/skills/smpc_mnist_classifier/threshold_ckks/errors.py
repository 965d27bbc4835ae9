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


class AlreadyIssuedError(ThresholdCkksError):
    """A second, different encryption or decryption share was asked for under one period's common
    random polynomial a_r: the two together would leak an update or key material."""


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


class BadDealingError(ThresholdCkksError):
    """A key-generation dealing is refused; `dealer` names the party at fault (never a recipient)."""

    def __init__(self, dealer: int, message: str) -> None:
        """Keep the dealer's index for blame and exclusion."""
        super().__init__(f"dealing of party {dealer}: {message}")
        self.dealer = dealer


class MalformedDealingError(BadDealingError, MalformedDataError):
    """A dealer's blob, box or justification is truncated, inconsistent or out of range."""


class ForeignDealingError(BadDealingError, ForeignDataError):
    """A dealer's blob belongs to another key epoch, roster or parameter set."""


class DealingCommitmentError(BadDealingError):
    """A revealed dealing does not match the commitment agreed before any reveal."""


class InconsistentDealingError(BadDealingError):
    """A dealing's public images are not the points of one polynomial of degree < t (public check)."""


class BadSubShareError(BadDealingError):
    """A boxed sub-share does not open, parse or match the dealer's images: grounds for a complaint."""


class BadJustificationError(BadDealingError):
    """A dealer's answer to a complaint is missing or does not match its images."""


class KeystoreError(ThresholdCkksError):
    """A key store cannot be read: wrong password, tampered or foreign file."""
