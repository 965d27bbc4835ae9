"""Threshold CKKS on TenSEAL: distributed keys, encrypted weighted averaging and t-of-n decryption.

One module per protocol step, as Lattigo's multiparty package: errors, parameters, ring (mod-q
arithmetic and samplers), seal_bridge, wire (byte formats), sharing (Shamir), dealing + keygen, encryption,
aggregation, decryption + sealing + combine, issuance, keystore, and simulation (the in-memory key generation tests and benchmarks
share).
No AEA imports: behaviours orchestrate and catch only ThresholdCkksError.
"""

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.aggregation import (
    Aggregate,
    AggregationOutcome,
    Exclusion,
    aggregate_contributions,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.decryption import (
    DecryptionResult,
    DecryptionShare,
    ShareExclusion,
    combine_decryption_shares,
    issue_decryption_share,
    minimum_contributors,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encryption import (
    PeriodContext,
    contribution_commitment,
    encrypt_update,
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
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.issuance import (
    IssuanceRecord,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.keystore import (
    Keystore,
    KeystoreContents,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    DEFAULT_PARAMETERS,
    CkksParameters,
)

__all__ = [
    "IssuanceRecord",
    "encrypt_update",
    "contribution_commitment",
    "PeriodContext",
    "minimum_contributors",
    "issue_decryption_share",
    "ShareExclusion",
    "aggregate_contributions",
    "Exclusion",
    "AggregationOutcome",
    "Aggregate",
    "BadDealingError",
    "BadJustificationError",
    "BadSubShareError",
    "check_dealing",
    "check_justification",
    "CkksParameters",
    "combine_decryption_shares",
    "Dealer",
    "Dealing",
    "dealing_commitment",
    "DealingCommitmentError",
    "DecryptionResult",
    "DecryptionShare",
    "DEFAULT_PARAMETERS",
    "DuplicateShareError",
    "EpochPublicKey",
    "ForeignDataError",
    "ForeignDealingError",
    "ForeignShareError",
    "InconsistentDealingError",
    "InconsistentSharesError",
    "InsufficientSharesError",
    "InvalidInputError",
    "joint_public_key",
    "KeyShare",
    "Keystore",
    "KeystoreContents",
    "KeystoreError",
    "MalformedDataError",
    "MalformedDealingError",
    "open_sub_share",
    "ParameterMismatchError",
    "qualified_dealers",
    "ShareAlreadyIssuedError",
    "SubShareDecryptionError",
    "ThresholdCkksError",
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
