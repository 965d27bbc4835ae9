"""Encryption of a weighted update by secret-key aggregation (Stevens et al. 2022, Flamingo 2023).

Party i sends c_k = Encode(w_i * m_i chunk k) + e_k - s_i * a_r,k for every chunk k, where s_i is its
additive key share and a_r,k a uniform polynomial that nobody chooses: it is expanded from agreed
data of the period (joint key digest, global round, period, base model digest). Only the c_k travel;
summed over the agreed contributor set U they decrypt with s_U * a_r,k, whose shares the key holders
issue. A crafted c_k can therefore only shift the result, never steer a decryption share.
"""

import hashlib
import itertools
import math
import struct
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encoding import (
    embed_inverse,
    integers_to_residues,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    ForeignDataError,
    InvalidInputError,
    MalformedDataError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.issuance import (
    IssuanceKind,
    IssuanceRecord,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.keygen import (
    KeyShare,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    CkksParameters,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.ring import (
    _add_mod,
    _column,
    _mul_mod_once,
    _neg_mod,
    _rounded_gaussian_residues,
    _ShakeStream,
    _uniform_residues,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.seal_bridge import (
    _runtime,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.sharing import (
    integer_lagrange,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.wire import (
    _preamble,
    _Reader,
    _residue_bytes,
)

ENCRYPTION_NOISE_SIGMA = 3.2
DIGEST_SIZE = 32
_CONTEXT_FIELDS = struct.Struct("<32sQQ32sQ")  # epoch, global round, period, base model, length
_CONTRIBUTION_MAGIC = b"TCUC"
_CONTRIBUTION_FIELDS = struct.Struct("<HQI")  # sender, weight, chunk count


def _digest(*parts: bytes) -> bytes:
    """SHA-256 over length-prefixed parts, so no two part lists hash alike."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(struct.pack("<Q", len(part)) + part)
    return hasher.digest()


@dataclass(frozen=True)
class PeriodContext:
    """The agreed data of one aggregation period: every a_r,k, contribution and share is bound to it."""

    parameters: CkksParameters
    epoch: bytes  # digest of the key epoch's joint public key
    global_round: int
    period: int
    base_model_digest: bytes
    length: int  # values per update

    def __post_init__(self) -> None:
        """Refuse contexts that cannot be serialized or encrypted."""
        for name in ("epoch", "base_model_digest"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != DIGEST_SIZE:
                raise InvalidInputError(f"{name} must be {DIGEST_SIZE} bytes")
        for name in ("global_round", "period", "length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidInputError(f"{name} must be an integer")
            if not 0 <= value < 2**64:
                raise InvalidInputError(f"{name} {value} out of range")
        if self.length < 1:
            raise InvalidInputError("an update holds at least one value")

    @property
    def chunk_count(self) -> int:
        """Polynomials per update: N/2 values each."""
        return -(-self.length // self.parameters.slot_count)

    def to_bytes(self) -> bytes:
        """The context fields as they appear in every blob of the period."""
        return _CONTEXT_FIELDS.pack(
            self.epoch,
            self.global_round,
            self.period,
            self.base_model_digest,
            self.length,
        )

    @classmethod
    def read(cls, reader: _Reader, parameters: CkksParameters) -> "PeriodContext":
        """Parse the context fields; out-of-range values are malformed data."""
        try:
            return cls(parameters, *reader.unpack(_CONTEXT_FIELDS))
        except InvalidInputError as error:
            raise MalformedDataError(f"bad period context: {error}") from error

    def common_polynomials(self) -> np.ndarray:
        """a_r,k for every chunk k: uniform residues (chunks, data primes, N), NTT form, derived
        once per period and process."""
        agreed = _CONTEXT_FIELDS.pack(
            self.epoch, self.global_round, self.period, self.base_model_digest, 0
        )
        return _common_polynomials(self.parameters, agreed, self.chunk_count)

    def mask(self, secret: np.ndarray) -> np.ndarray:
        """secret * a_r,k for every chunk k (secret: data primes x N, NTT form; its Shoup companion
        is 1/chunks the work of a_r's)."""
        column = _column(_runtime(self.parameters).data_moduli)
        return _mul_mod_once(self.common_polynomials(), secret, column)


@lru_cache(maxsize=4)
def _common_polynomials(
    parameters: CkksParameters, agreed: bytes, chunk_count: int
) -> np.ndarray:
    """a_r,k rejection-sampled from SHAKE-256 of a domain tag, the agreed data and k; read-only."""
    moduli = _runtime(parameters).data_moduli
    chunks = []
    for chunk in range(chunk_count):
        seed = _digest(
            b"threshold-ckks/period-crs/v1",
            parameters.digest,
            agreed,
            struct.pack("<I", chunk),
        )
        stream = _ShakeStream(seed)
        chunks.append(
            _uniform_residues(moduli, parameters.poly_modulus_degree, stream.read)
        )
    polynomials = np.stack(chunks)
    polynomials.flags.writeable = False
    return polynomials


@lru_cache(maxsize=None)
def largest_lagrange_denominator(n_parties: int, threshold: int) -> int:
    """The largest D of integer_lagrange(S, 0) over the t-subsets S of 1..n (3, 15, 108 for n = 4,
    7, 10 with t = n - f, against n! = 24, 5040, 3628800): how much a combination multiplies the
    message before decoding."""
    return max(
        integer_lagrange(subset, 0)[1]
        for subset in itertools.combinations(range(1, n_parties + 1), threshold)
    )


def total_weight_limit(
    parameters: CkksParameters, n_parties: int, threshold: int
) -> int:
    """Largest total weight W that decrypts without wrapping: a combination multiplies the message
    (|coefficient| <= W * max_abs * scale) by its Lagrange denominator D <= largest D; a factor 2 of
    margin covers noise and rounding, so D * W * max_abs * scale * 2 < q / 2."""
    modulus = math.prod(int(q) for q in _runtime(parameters).data_moduli)
    per_weight = (
        largest_lagrange_denominator(n_parties, threshold)
        * 2**parameters.max_abs_value_bits
        * 2**parameters.scale_bits
        * 4
    )
    return min(parameters.max_total_weight, modulus // per_weight)


def sender_weight_limit(
    parameters: CkksParameters, n_parties: int, threshold: int
) -> int:
    """Largest weight of one contribution: every key holder at its limit still fits the total."""
    return total_weight_limit(parameters, n_parties, threshold) // n_parties


def encryption_noise_bound(contributors: int) -> float:
    """8-sigma bound on a coefficient of the summed fresh noise of `contributors` encryptions."""
    return 8 * ENCRYPTION_NOISE_SIGMA * math.sqrt(contributors)


@dataclass(frozen=True, eq=False)
class Contribution:
    """c_k = Encode(w * m chunk k) + e_k - s_sender * a_r,k for every chunk: residues (chunks,
    data primes, N), NTT form; the weight w is public (it is the update's share of the average)."""

    context: PeriodContext
    sender: int
    weight: int
    residues: np.ndarray

    def to_bytes(self) -> bytes:
        """Preamble, period context, sender, weight, chunk count, raw residues."""
        return (
            _preamble(_CONTRIBUTION_MAGIC, self.context.parameters)
            + self.context.to_bytes()
            + _CONTRIBUTION_FIELDS.pack(self.sender, self.weight, len(self.residues))
            + _residue_bytes(self.residues)
        )

    @classmethod
    def from_bytes(cls, data: bytes, parameters: CkksParameters) -> "Contribution":
        """Strictly parse bytes made by to_bytes under `parameters` (the context is checked by the
        aggregator against the period's own)."""
        reader = _Reader(data, "contribution")
        reader.preamble(_CONTRIBUTION_MAGIC, parameters)
        context = PeriodContext.read(reader, parameters)
        sender, weight, chunk_count = reader.unpack(_CONTRIBUTION_FIELDS)
        if chunk_count != context.chunk_count:
            raise MalformedDataError(
                f"contribution: {chunk_count} chunks cannot hold exactly {context.length} values"
            )
        if not 1 <= weight <= parameters.max_total_weight:
            raise MalformedDataError(f"contribution: weight {weight} out of range")
        moduli = _runtime(parameters).data_moduli
        shape = (chunk_count, len(moduli), parameters.poly_modulus_degree)
        residues = reader.residues(shape, moduli)
        reader.finish()
        return cls(context, sender, weight, residues)


def contribution_commitment(context: PeriodContext, sender: int, blob: bytes) -> bytes:
    """The hash agreed in the commit round, before any contribution is revealed."""
    return _digest(
        b"threshold-ckks/contribution-commitment/v1",
        context.epoch,
        struct.pack("<QQH", context.global_round, context.period, sender),
        bytes(blob),
    )


def _check_update(
    update: np.ndarray, weight: int, context: PeriodContext, weight_limit: int
) -> np.ndarray:
    """A flat finite float vector of the period's length, in range, and a weight in 1..limit."""
    parameters = context.parameters
    vector = np.asarray(update, dtype=np.float64)
    if vector.shape != (context.length,):
        raise InvalidInputError(
            f"expected an update of shape ({context.length},), got {vector.shape}"
        )
    if not np.isfinite(vector).all():
        raise InvalidInputError("the update contains NaN or infinity")
    if np.abs(vector).max() > parameters.max_abs_value:
        raise InvalidInputError(f"a value exceeds the bound {parameters.max_abs_value}")
    if (
        not isinstance(weight, (int, np.integer))
        or isinstance(weight, bool)
        or not 1 <= weight <= weight_limit
    ):
        raise InvalidInputError(f"weight must be an integer in 1..{weight_limit}")
    return vector


def encode_weighted(
    update: np.ndarray, weight: int, context: PeriodContext
) -> np.ndarray:
    """Encode(w * m) per chunk plus fresh noise, NTT form (chunks, data primes, N)."""
    parameters = context.parameters
    runtime = _runtime(parameters)
    slots = np.zeros(context.chunk_count * parameters.slot_count)
    slots[: context.length] = update * int(weight)
    coefficients = np.round(
        embed_inverse(
            slots.reshape(context.chunk_count, parameters.slot_count),
            parameters.poly_modulus_degree,
        )
        * parameters.scale
    )
    column = _column(runtime.data_moduli)
    message = integers_to_residues(coefficients, runtime.data_moduli)
    noise = _rounded_gaussian_residues(
        ENCRYPTION_NOISE_SIGMA, runtime.data_moduli, coefficients.size
    ).reshape((len(runtime.data_moduli),) + coefficients.shape)
    return runtime.to_ntt(_add_mod(message, noise.transpose(1, 0, 2), column))


def check_key_share(key_share: KeyShare, context: PeriodContext) -> None:
    """The key share belongs to the period's parameters and key epoch."""
    if key_share.parameters != context.parameters:
        raise ForeignDataError("the key share uses other parameters")
    if key_share.epoch != context.epoch:
        raise ForeignDataError("the key share belongs to another key epoch")


def encrypt_update(
    update: np.ndarray,
    weight: int,
    key_share: KeyShare,
    context: PeriodContext,
    record: IssuanceRecord,
) -> bytes:
    """This party's contribution for the period, as bytes: once per period, ever.

    A retry with the same update and weight returns the same bytes; a different one is refused
    (two encryptions under one a_r would reveal the difference of the updates). Persist `record`
    before publishing the bytes.
    """
    check_key_share(key_share, context)
    limit = sender_weight_limit(
        context.parameters, key_share.n_parties, key_share.threshold
    )
    vector = _check_update(update, weight, context, limit)
    request = _digest(
        b"threshold-ckks/encryption-request/v1",
        context.to_bytes(),
        struct.pack("<Q", int(weight)),
        vector.astype("<f8").tobytes(),
    )

    def encrypt() -> bytes:
        """c = Encode(w m) + e - s_i a_r."""
        column = _column(_runtime(context.parameters).data_moduli)
        masks = context.mask(key_share.additive_secret)
        encoded = encode_weighted(vector, int(weight), context)
        residues = _add_mod(encoded, _neg_mod(masks, column), column)
        return Contribution(context, key_share.index, int(weight), residues).to_bytes()

    return record.issue(IssuanceKind.ENCRYPTION, context, request, encrypt)
