"""Threshold CKKS on TenSEAL: distributed keys, encrypted weighted averaging and t-of-n decryption.

One module per protocol step, as Lattigo's multiparty package: errors, parameters, ring (mod-q
arithmetic and samplers), seal_bridge, wire (byte formats), sharing (Shamir), keygen, encryption,
aggregation, decryption, keystore, and simulation (the in-memory key generation tests and benchmarks
share). keygen_legacy is the previous key generation, kept only while behaviours.py runs it.
No AEA imports: behaviours orchestrate and catch only ThresholdCkksError.
"""

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.aggregation_legacy import (
    aggregate_encrypted,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.decryption_legacy import (
    DecryptionResult,
    DecryptionShare,
    ThresholdKeyShare,
    combine_decryption_shares,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encryption_legacy import (
    EncryptedVector,
    encrypt_vector,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    BadDealingError,
    BadJustificationError,
    BadSubShareError,
    DealingCommitmentError,
    DuplicateShareError,
    ForeignDataError,
    ForeignDealingError,
    ForeignShareError,
    InconsistentDealingError,
    InconsistentSharesError,
    InsufficientSharesError,
    InvalidInputError,
    KeystoreError,
    MalformedDataError,
    MalformedDealingError,
    ParameterMismatchError,
    ShareAlreadyIssuedError,
    SubShareDecryptionError,
    ThresholdCkksError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.dealing import (
    Dealing,
    EpochPublicKey,
    check_dealing,
    check_justification,
    dealing_commitment,
    open_sub_share,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.keygen import (
    Dealer,
    KeyShare,
    joint_public_key,
    qualified_dealers,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.keygen_legacy import (
    JointPublicKey,
    KeyGenerationParty,
    PublicKeyShare,
    combine_public_key_shares,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.keystore import (
    Keystore,
    KeystoreContents,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    DEFAULT_PARAMETERS,
    CkksParameters,
    aggregate_noise_bound,
    decryption_error_bound,
    flooding_sigma,
    fresh_noise_bound,
)

__all__ = [
    "aggregate_encrypted",
    "aggregate_noise_bound",
    "BadDealingError",
    "BadJustificationError",
    "BadSubShareError",
    "check_dealing",
    "check_justification",
    "CkksParameters",
    "combine_decryption_shares",
    "combine_public_key_shares",
    "Dealer",
    "Dealing",
    "dealing_commitment",
    "DealingCommitmentError",
    "decryption_error_bound",
    "DecryptionResult",
    "DecryptionShare",
    "DEFAULT_PARAMETERS",
    "DuplicateShareError",
    "encrypt_vector",
    "EncryptedVector",
    "EpochPublicKey",
    "flooding_sigma",
    "ForeignDataError",
    "ForeignDealingError",
    "ForeignShareError",
    "fresh_noise_bound",
    "InconsistentDealingError",
    "InconsistentSharesError",
    "InsufficientSharesError",
    "InvalidInputError",
    "joint_public_key",
    "JointPublicKey",
    "KeyGenerationParty",
    "KeyShare",
    "Keystore",
    "KeystoreContents",
    "KeystoreError",
    "MalformedDataError",
    "MalformedDealingError",
    "open_sub_share",
    "ParameterMismatchError",
    "PublicKeyShare",
    "qualified_dealers",
    "ShareAlreadyIssuedError",
    "SubShareDecryptionError",
    "ThresholdCkksError",
    "ThresholdKeyShare",
]

# internals the arithmetic and wire-format tests reach through the package
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.ring import (  # noqa: F401
    _add_mod,
    _lagrange_at_zero,
    _mul_mod_once,
    _neg_mod,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.seal_bridge import (  # noqa: F401
    _coefficients,
    _runtime,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.wire import (  # noqa: F401
    _PREAMBLE,
)
