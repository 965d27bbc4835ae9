"""Aggregation of a period's revealed contributions: per-sender checks, then C_k = sum over U of c_k.

U is the set of key holders whose commitment was agreed, whose revealed bytes match it and parse for
this period (parameters, key epoch, round and period, base model, sender, length, weight). Every other
sender is excluded with a reason code; one bad sender never stops the others.
"""

import hashlib
import struct
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Dict, Iterable, Mapping, Optional, Tuple

import numpy as np

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encryption import (
    DIGEST_SIZE,
    Contribution,
    PeriodContext,
    contribution_commitment,
    sender_weight_limit,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    InvalidInputError,
    MalformedDataError,
    ParameterMismatchError,
    ThresholdCkksError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    CkksParameters,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.ring import (
    _add_mod,
    _column,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.seal_bridge import (
    _runtime,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.wire import (
    _preamble,
    _Reader,
    _residue_bytes,
)

_AGGREGATE_MAGIC = b"TCAG"
_AGGREGATE_FIELDS = struct.Struct("<QH")  # total weight, contributor count


class Exclusion(str, Enum):
    """Why a sender's contribution is not in U (values are stable strings for the round record)."""

    NOT_A_KEY_HOLDER = "not-a-key-holder"
    NOT_COMMITTED = "not-committed"
    NOT_REVEALED = "not-revealed"
    COMMITMENT_MISMATCH = "commitment-mismatch"
    FOREIGN_PARAMETERS = "foreign-parameters"
    MALFORMED = "malformed"
    FOREIGN_EPOCH = "foreign-epoch"
    FOREIGN_PERIOD = "foreign-period"
    STALE_BASE_MODEL = "stale-base-model"
    WRONG_SENDER = "wrong-sender"
    WRONG_LENGTH = "wrong-length"
    WEIGHT_TOO_LARGE = "weight-too-large"


@dataclass(frozen=True, eq=False)
class Aggregate:
    """C_k = sum over U of c_k (residues (chunks, data primes, N), NTT form) and W = sum of weights."""

    context: PeriodContext
    contributors: Tuple[int, ...]
    total_weight: int
    residues: np.ndarray

    def to_bytes(self) -> bytes:
        """Preamble, context, W, U, raw residues."""
        return (
            _preamble(_AGGREGATE_MAGIC, self.context.parameters)
            + self.context.to_bytes()
            + _AGGREGATE_FIELDS.pack(self.total_weight, len(self.contributors))
            + struct.pack(f"<{len(self.contributors)}H", *self.contributors)
            + _residue_bytes(self.residues)
        )

    @classmethod
    def from_bytes(cls, data: bytes, parameters: CkksParameters) -> "Aggregate":
        """Strictly parse bytes made by to_bytes under `parameters`."""
        reader = _Reader(data, "aggregate")
        reader.preamble(_AGGREGATE_MAGIC, parameters)
        context = PeriodContext.read(reader, parameters)
        total_weight, count = reader.unpack(_AGGREGATE_FIELDS)
        contributors = reader.unpack(struct.Struct(f"<{count}H"))
        if not contributors or list(contributors) != sorted(set(contributors)):
            raise MalformedDataError(f"aggregate: bad contributor set {contributors}")
        if not count <= total_weight <= parameters.max_total_weight:
            raise MalformedDataError(f"aggregate: total weight {total_weight} out of range")
        moduli = _runtime(parameters).data_moduli
        shape = (context.chunk_count, len(moduli), parameters.poly_modulus_degree)
        residues = reader.residues(shape, moduli)
        reader.finish()
        return cls(context, tuple(contributors), total_weight, residues)

    @cached_property
    def digest(self) -> bytes:
        """sha256 of to_bytes(): what the agents vote on, with U."""
        return hashlib.sha256(self.to_bytes()).digest()


@dataclass(frozen=True)
class AggregationOutcome:
    """The aggregate of U (None when U is empty) and the reason each other sender was excluded."""

    aggregate: Optional[Aggregate]
    excluded: Dict[int, Exclusion]


def _check_contribution(
    contribution: Contribution, sender: int, context: PeriodContext, weight_limit: int
) -> Optional[Exclusion]:
    """The first way a parsed contribution does not belong to this period, or None."""
    found = contribution.context
    if found.epoch != context.epoch:
        return Exclusion.FOREIGN_EPOCH
    if (found.global_round, found.period) != (context.global_round, context.period):
        return Exclusion.FOREIGN_PERIOD
    if found.base_model_digest != context.base_model_digest:
        return Exclusion.STALE_BASE_MODEL
    if contribution.sender != sender:
        return Exclusion.WRONG_SENDER
    if found.length != context.length:
        return Exclusion.WRONG_LENGTH
    if contribution.weight > weight_limit:
        return Exclusion.WEIGHT_TOO_LARGE
    return None


def _admit(
    sender: object,
    commitments: Mapping[int, bytes],
    reveals: Mapping[int, bytes],
    context: PeriodContext,
    key_holders: frozenset,
    weight_limit: int,
) -> Tuple[Optional[Contribution], Optional[Exclusion]]:
    """A sender's parsed contribution, or the reason it is excluded."""
    if sender not in key_holders:
        return None, Exclusion.NOT_A_KEY_HOLDER
    commitment = commitments.get(sender)
    if not isinstance(commitment, bytes) or len(commitment) != DIGEST_SIZE:
        return None, Exclusion.NOT_COMMITTED
    blob = reveals.get(sender)
    if not isinstance(blob, (bytes, bytearray)):
        return None, Exclusion.NOT_REVEALED
    if contribution_commitment(context, sender, bytes(blob)) != commitment:
        return None, Exclusion.COMMITMENT_MISMATCH
    try:
        contribution = Contribution.from_bytes(bytes(blob), context.parameters)
    except ParameterMismatchError:
        return None, Exclusion.FOREIGN_PARAMETERS
    except ThresholdCkksError:
        return None, Exclusion.MALFORMED
    exclusion = _check_contribution(contribution, sender, context, weight_limit)
    return (None, exclusion) if exclusion else (contribution, None)


def aggregate_contributions(
    context: PeriodContext,
    commitments: Mapping[int, bytes],
    reveals: Mapping[int, bytes],
    key_holders: Iterable[int],
    n_parties: int,
    threshold: int,
) -> AggregationOutcome:
    """Sum the admitted contributions of the agreed commitments; exclude every other sender.

    commitments: sender -> hash agreed in the commit round; reveals: sender -> revealed bytes;
    key_holders: the key epoch's qualified parties (only their additive secrets are shared).
    """
    holders = frozenset(key_holders)
    if not holders or not all(isinstance(h, int) and 1 <= h <= n_parties for h in holders):
        raise InvalidInputError(f"key holders {sorted(holders)} are not in 1..{n_parties}")
    weight_limit = sender_weight_limit(context.parameters, n_parties, threshold)
    admitted: Dict[int, Contribution] = {}
    excluded: Dict[int, Exclusion] = {}
    for sender in set(commitments) | set(reveals):
        contribution, exclusion = _admit(
            sender, commitments, reveals, context, holders, weight_limit
        )
        if contribution is None:
            excluded[sender] = exclusion
        else:
            admitted[sender] = contribution
    if not admitted:
        return AggregationOutcome(None, excluded)
    column = _column(_runtime(context.parameters).data_moduli)
    contributors = tuple(sorted(admitted))
    total = admitted[contributors[0]].residues
    for sender in contributors[1:]:
        total = _add_mod(total, admitted[sender].residues, column)
    weight = sum(admitted[sender].weight for sender in contributors)
    return AggregationOutcome(Aggregate(context, contributors, weight, total), excluded)
