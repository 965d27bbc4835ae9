"""Threshold CKKS on TenSEAL: distributed keys, encrypted weighted averaging and t-of-n decryption.

One module per protocol step, as Lattigo's multiparty package: errors, parameters, ring (mod-q
arithmetic and samplers), seal_bridge, wire (byte formats), sharing (Shamir), keygen, encryption,
aggregation, decryption, and simulation (the in-memory key generation tests and benchmarks share).
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
    DuplicateShareError,
    ForeignDataError,
    ForeignShareError,
    InconsistentSharesError,
    InsufficientSharesError,
    InvalidInputError,
    MalformedDataError,
    ParameterMismatchError,
    ShareAlreadyIssuedError,
    SubShareDecryptionError,
    ThresholdCkksError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.keygen import (
    JointPublicKey,
    KeyGenerationParty,
    KeyShare,
    PublicKeyShare,
    combine_public_key_shares,
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
    "CkksParameters",
    "DEFAULT_PARAMETERS",
    "DecryptionResult",
    "DecryptionShare",
    "DuplicateShareError",
    "EncryptedVector",
    "ForeignDataError",
    "ForeignShareError",
    "InconsistentSharesError",
    "InsufficientSharesError",
    "InvalidInputError",
    "JointPublicKey",
    "KeyGenerationParty",
    "KeyShare",
    "MalformedDataError",
    "ParameterMismatchError",
    "PublicKeyShare",
    "ShareAlreadyIssuedError",
    "SubShareDecryptionError",
    "ThresholdCkksError",
    "ThresholdKeyShare",
    "aggregate_encrypted",
    "aggregate_noise_bound",
    "combine_decryption_shares",
    "combine_public_key_shares",
    "decryption_error_bound",
    "encrypt_vector",
    "flooding_sigma",
    "fresh_noise_bound",
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
