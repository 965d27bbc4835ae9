"""Threshold decryption of a period's aggregate: flooded shares of s_U * a_r, sealed, robustly combined.

Key holder j issues d_j,k = (sum over i in U of sh_i->j) * a_r,k + flood_j,k: it depends on the agreed
U and the period only, never on a submitted ciphertext or on who else decrypts, and is issued at most
once per period (IssuanceRecord). It travels sealed to every key holder's box key, so an observer of
all blobs learns nothing. Any t shares combine with the integer coefficients D*lambda_j (D: the
subset's least common denominator) to D * (Encode(sum w m) + E) + F; the combiner checks each extra
share against a t-subset's interpolation, decodes, and names senders that do not fit.
"""

import itertools
import math
import os
import struct
from dataclasses import dataclass
from enum import Enum
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.aggregation import (
    Aggregate,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encoding import (
    embed,
    residues_to_floats,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encryption import (
    IssuanceKind,
    IssuanceRecord,
    PeriodContext,
    _digest,
    check_key_share,
    encryption_noise_bound,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    ForeignShareError,
    InconsistentSharesError,
    InsufficientSharesError,
    InvalidInputError,
    MalformedDataError,
    ParameterMismatchError,
    ThresholdCkksError,
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
    _gaussian_residues,
    _mul_mod_once,
    _per_prime,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.seal_bridge import (
    _runtime,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.sharing import (
    integer_lagrange,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.wire import (
    _PREAMBLE,
    _preamble,
    _Reader,
    _residue_bytes,
)

# a Gaussian exceeds 8 sigma with probability 1e-15 per coefficient: no honest share is ever refused
TAIL_SIGMAS = 8
# float64 rounding of the encoding and decoding FFTs, relative to the largest value
_FLOAT_ERROR = 2.0**-40
_SHARE_MAGIC = b"TCDH"
_SHARE_FIELDS = struct.Struct("<HH")  # sender, contributor count
_SEALED_MAGIC = b"TCSB"
_SEALED_FIELDS = struct.Struct("<H32sH")  # sender, key commitment, recipient count
# SealedBox adds an ephemeral public key and a MAC to the 32-byte message key
_SEALED_KEY = struct.Struct(f"<H{SecretBox.KEY_SIZE + 48}s")  # recipient, sealed message key


def flooding_sigma(parameters: CkksParameters, contributors: int) -> float:
    """Flooding sigma of a share: 2^kappa x the 8-sigma bound of U's summed encryption noise."""
    return 2.0**parameters.flooding_margin_bits * encryption_noise_bound(contributors)


def minimum_contributors(n_parties: int) -> int:
    """Smallest U a key holder decrypts: f Byzantine members plus two honest ones, so a decrypted
    sum is never one honest update (f < n/3)."""
    return (n_parties - 1) // 3 + 2


class ShareExclusion(str, Enum):
    """Why a sender's decryption share is not used (stable strings for the round record)."""

    NOT_A_KEY_HOLDER = "not-a-key-holder"
    DUPLICATE = "duplicate"
    UNREADABLE = "unreadable"
    FOREIGN_PARAMETERS = "foreign-parameters"
    MALFORMED = "malformed"
    FOREIGN_PERIOD = "foreign-period"
    FOREIGN_CONTRIBUTORS = "foreign-contributors"
    WRONG_SENDER = "wrong-sender"


@dataclass(frozen=True, eq=False)
class DecryptionShare:
    """d_j,k for every chunk k: residues (chunks, data primes, N), NTT form."""

    context: PeriodContext
    contributors: Tuple[int, ...]
    sender: int
    residues: np.ndarray

    def to_bytes(self) -> bytes:
        """Preamble, context, sender, U, raw residues."""
        return (
            _preamble(_SHARE_MAGIC, self.context.parameters)
            + self.context.to_bytes()
            + _SHARE_FIELDS.pack(self.sender, len(self.contributors))
            + struct.pack(f"<{len(self.contributors)}H", *self.contributors)
            + _residue_bytes(self.residues)
        )

    @classmethod
    def from_bytes(cls, data: bytes, parameters: CkksParameters) -> "DecryptionShare":
        """Strictly parse bytes made by to_bytes under `parameters`."""
        reader = _Reader(data, "decryption share")
        reader.preamble(_SHARE_MAGIC, parameters)
        context = PeriodContext.read(reader, parameters)
        sender, count = reader.unpack(_SHARE_FIELDS)
        contributors = reader.unpack(struct.Struct(f"<{count}H"))
        if not contributors or list(contributors) != sorted(set(contributors)):
            raise MalformedDataError(f"decryption share: bad contributor set {contributors}")
        moduli = _runtime(parameters).data_moduli
        shape = (context.chunk_count, len(moduli), parameters.poly_modulus_degree)
        residues = reader.residues(shape, moduli)
        reader.finish()
        return cls(context, tuple(contributors), sender, residues)


def _key_commitment(message_key: bytes) -> bytes:
    """Binds every recipient to the same message key, so a sender cannot show each a different share."""
    return _digest(b"threshold-ckks/share-key/v1", message_key)


def _seal(
    payload: bytes,
    sender: int,
    box_public_keys: Mapping[int, bytes],
    parameters: CkksParameters,
) -> bytes:
    """The payload under a fresh SecretBox key, that key sealed to every key holder's box key."""
    message_key = os.urandom(SecretBox.KEY_SIZE)
    recipients = []
    for recipient in sorted(box_public_keys):
        try:
            box_key = PublicKey(bytes(box_public_keys[recipient]))
        except (TypeError, ValueError) as error:
            raise InvalidInputError(f"no valid box key for party {recipient}") from error
        sealed = SealedBox(box_key).encrypt(message_key)
        recipients.append(_SEALED_KEY.pack(recipient, sealed))
    header = _SEALED_FIELDS.pack(sender, _key_commitment(message_key), len(recipients))
    box = bytes(SecretBox(message_key).encrypt(payload))
    return _preamble(_SEALED_MAGIC, parameters) + header + b"".join(recipients) + box


def _check_contributors(
    contributors: Iterable[int], qualified: Sequence[int], n_parties: int
) -> Tuple[int, ...]:
    """U sorted: distinct qualified key holders, at least minimum_contributors of them."""
    members = tuple(sorted(contributors))
    if len(set(members)) != len(members) or not set(members) <= set(qualified):
        raise InvalidInputError(f"contributors {members} repeat or are not key holders")
    if len(members) < minimum_contributors(n_parties):
        raise InvalidInputError(
            f"{len(members)} contributors: a sum of fewer than "
            f"{minimum_contributors(n_parties)} could be one honest update"
        )
    return members


def issue_decryption_share(
    key_share: KeyShare,
    context: PeriodContext,
    contributors: Iterable[int],
    record: IssuanceRecord,
    box_public_keys: Mapping[int, bytes],
) -> bytes:
    """This key holder's share for the agreed U of the period, sealed to `box_public_keys`.

    At most one share per period, ever: a retry for the same U returns the same bytes, another U is
    refused (two shares on one a_r would reveal s_j * a_r of their difference, hence an update).
    Persist `record` before publishing the bytes.
    """
    check_key_share(key_share, context)
    members = _check_contributors(contributors, key_share.qualified, key_share.n_parties)
    request = _digest(
        b"threshold-ckks/decryption-request/v1",
        context.to_bytes(),
        struct.pack(f"<{len(members)}H", *members),
    )

    def make() -> bytes:
        """(sum of U's sub-shares) * a_r + flood, sealed."""
        parameters = context.parameters
        runtime = _runtime(parameters)
        column = _column(runtime.data_moduli)
        summed = key_share.sub_shares[members[0]]
        for dealer in members[1:]:
            summed = _add_mod(summed, key_share.sub_shares[dealer], column)
        masks = context.mask(summed)
        shape = (context.chunk_count, parameters.poly_modulus_degree)
        flood = _gaussian_residues(
            flooding_sigma(parameters, len(members)), runtime.data_moduli, math.prod(shape)
        )
        flood = flood.reshape((len(runtime.data_moduli),) + shape).transpose(1, 0, 2)
        residues = _add_mod(masks, runtime.to_ntt(np.ascontiguousarray(flood)), column)
        share = DecryptionShare(context, members, key_share.index, residues)
        return _seal(share.to_bytes(), key_share.index, box_public_keys, parameters)

    return record.issue(IssuanceKind.DECRYPTION_SHARE, context, request, make)


def _unseal(
    sealed: bytes, recipient: int, box_key: PrivateKey, parameters: CkksParameters
) -> Tuple[int, bytes]:
    """(sender, payload) of a sealed blob, for key holder `recipient` holding `box_key`."""
    reader = _Reader(sealed, "sealed decryption share")
    reader.preamble(_SEALED_MAGIC, parameters)
    sender, commitment, count = reader.unpack(_SEALED_FIELDS)
    entries = [reader.unpack(_SEALED_KEY) for _ in range(count)]
    consumed = _PREAMBLE.size + _SEALED_FIELDS.size + count * _SEALED_KEY.size
    box = reader.take(len(bytes(sealed)) - consumed)
    sealed_keys = dict(entries)
    if len(sealed_keys) != count:
        raise MalformedDataError("sealed decryption share: a recipient repeats")
    if recipient not in sealed_keys:
        raise ForeignShareError(f"the share of party {sender} is not sealed to party {recipient}")
    try:
        message_key = SealedBox(box_key).decrypt(sealed_keys[recipient])
        payload = SecretBox(message_key).decrypt(box)
    except (CryptoError, ValueError, TypeError) as error:
        raise MalformedDataError(
            f"the share of party {sender} does not open for party {recipient}"
        ) from error
    if _key_commitment(message_key) != commitment:
        raise MalformedDataError(f"the share of party {sender} shows party {recipient} another key")
    return sender, payload


def _parse_share(sender: int, payload: bytes, parameters: CkksParameters) -> DecryptionShare:
    """The share inside an opened payload, which must name the sealing sender."""
    share = DecryptionShare.from_bytes(payload, parameters)
    if share.sender != sender:
        raise MalformedDataError(f"a share sealed by party {sender} names party {share.sender}")
    return share


def open_decryption_share(
    sealed: bytes, recipient: int, box_key: PrivateKey, parameters: CkksParameters
) -> DecryptionShare:
    """The share inside a sealed blob, for key holder `recipient` holding `box_key`."""
    return _parse_share(*_unseal(sealed, recipient, box_key, parameters), parameters)


@dataclass(frozen=True)
class DecryptionResult:
    """The decrypted weighted average and how it was obtained.

    subset: the t senders whose shares produced it; excluded: senders whose shares were unusable
    (reason per sender); inconsistent: senders whose well-formed shares contradict the result;
    redundant: more than t well-formed shares existed, so a wrong share would have been detected.
    """

    values: np.ndarray
    subset: Tuple[int, ...]
    excluded: Dict[int, ShareExclusion]
    inconsistent: Tuple[int, ...]
    redundant: bool


_LOW_BITS = 32
_LOW_MASK = np.uint64(2**_LOW_BITS - 1)
_HALF_SHIFT = np.uint64(_LOW_BITS)


def _combination(
    terms: Sequence[Tuple[int, np.ndarray]], moduli: np.ndarray
) -> np.ndarray:
    """sum of (small, signed) integer coefficient * residues, mod q.

    Lagrange coefficients stay below 2^13 for n <= 10, so the sum is accumulated exactly in int64 on
    the 32-bit halves of the residues and reduced once: one modular multiplication (by 2^32) per
    combination instead of one per term.
    """
    if sum(abs(coefficient) for coefficient, _ in terms) >= 2**31:
        raise InvalidInputError("Lagrange coefficients too large for this roster")
    low = np.zeros(terms[0][1].shape, dtype=np.int64)
    high = np.zeros_like(low)
    for coefficient, residues in terms:
        # residues < 2^62: reinterpreting the halves as int64 is exact and copies nothing
        low += coefficient * (residues & _LOW_MASK).view(np.int64)
        high += coefficient * (residues >> _HALF_SHIFT).view(np.int64)
    column = _column(moduli)
    signed_column = column.astype(np.int64)
    shifted = _mul_mod_once(
        (high % signed_column).view(np.uint64), _per_prime(2**_LOW_BITS, moduli), column
    )
    return _add_mod(shifted, (low % signed_column).view(np.uint64), column)


class _Combiner:
    """Decodes t-subsets of one aggregate's well-formed shares and checks shares against them."""

    def __init__(self, aggregate: Aggregate, shares: Mapping[int, DecryptionShare]) -> None:
        """Keep the aggregate, the shares and the period's noise scale."""
        self.aggregate = aggregate
        self.shares = shares
        self.parameters = aggregate.context.parameters
        self.moduli = _runtime(self.parameters).data_moduli
        self.sigma = flooding_sigma(self.parameters, len(aggregate.contributors))

    def consistent(self, subset: Tuple[int, ...], party: int) -> bool:
        """d_party matches the interpolation of the subset's shares at x = party, up to flooding."""
        coefficients, denominator = integer_lagrange(subset, party)
        terms = [(denominator, self.shares[party].residues)] + [
            (-c, self.shares[member].residues) for c, member in zip(coefficients, subset)
        ]
        residual = _runtime(self.parameters).from_ntt(_combination(terms, self.moduli))
        bound = (
            TAIL_SIGMAS
            * self.sigma
            * math.sqrt(denominator**2 + sum(c * c for c in coefficients))
        )
        return bool(np.abs(residues_to_floats(residual, self.moduli)).max() <= bound)

    def decode(self, subset: Tuple[int, ...]) -> Tuple[np.ndarray, bool]:
        """All slots of D*C + sum D*lambda_j d_j, divided by D*W, and whether they are plausible."""
        coefficients, denominator = integer_lagrange(subset, 0)
        terms = [(denominator, self.aggregate.residues)] + [
            (c, self.shares[member].residues) for c, member in zip(coefficients, subset)
        ]
        combined = _runtime(self.parameters).from_ntt(_combination(terms, self.moduli))
        weight = self.aggregate.total_weight
        scale = self.parameters.scale * denominator * weight
        slots = embed(residues_to_floats(combined, self.moduli) / scale).reshape(-1)
        lambdas = math.sqrt(sum(c * c for c in coefficients)) / denominator
        degree = self.parameters.poly_modulus_degree
        bound = (
            TAIL_SIGMAS * self.sigma * lambdas * math.sqrt(degree / 2)
            + encryption_noise_bound(len(self.aggregate.contributors)) * degree
        ) / (self.parameters.scale * weight) + _FLOAT_ERROR * self.parameters.max_abs_value
        length = self.aggregate.context.length
        plausible = bool(
            np.abs(slots.imag).max() <= bound
            and np.abs(slots.real[:length]).max() <= self.parameters.max_abs_value + bound
            and np.abs(slots.real[length:]).max(initial=0.0) <= bound
        )
        return slots.real[:length].copy(), plausible


def _faulty_bound(n_parties: int) -> int:
    """f: the largest number of Byzantine parties the protocol tolerates (f < n/3)."""
    return (n_parties - 1) // 3


def _robust_decode(
    combiner: _Combiner, n_parties: int, threshold: int
) -> Tuple[np.ndarray, Tuple[int, ...], Tuple[int, ...]]:
    """(values, subset, inconsistent senders).

    For each t-subset S, the senders whose shares fit S's interpolation form its agreeing set A.
    If A has t + f members it holds t honest ones, so S's result is the true decryption (certified).
    Otherwise the agreeing sets are candidates: exactly one that decodes plausibly is taken; several
    plausible, disagreeing ones cannot be told apart and raise InconsistentSharesError.
    """
    parties = sorted(combiner.shares)
    candidates: Dict[frozenset, Tuple[int, ...]] = {}
    for subset in itertools.combinations(parties, threshold):
        agreeing = frozenset(subset) | {
            party
            for party in parties
            if party not in subset and combiner.consistent(subset, party)
        }
        if len(agreeing) >= threshold + _faulty_bound(n_parties):
            values, plausible = combiner.decode(subset)
            if not plausible:
                raise InconsistentSharesError(
                    "the agreed aggregate itself does not decrypt to a plausible average "
                    "(a crafted contribution)",
                    (),
                )
            return values, subset, tuple(p for p in parties if p not in agreeing)
        candidates.setdefault(agreeing, subset)
        if len(agreeing) == len(parties):
            break  # every share fits one interpolation: no other candidate can exist
    plausible_results = []
    for agreeing, subset in candidates.items():
        values, plausible = combiner.decode(subset)
        if plausible:
            plausible_results.append((agreeing, subset, values))
    if len(plausible_results) == 1:
        agreeing, subset, values = plausible_results[0]
        return values, subset, tuple(p for p in parties if p not in agreeing)
    if not plausible_results:
        raise InconsistentSharesError("no subset of shares decodes plausibly", parties)
    common = frozenset.intersection(*(agreeing for agreeing, _, _ in plausible_results))
    raise InconsistentSharesError(
        "plausible subsets of shares disagree", [p for p in parties if p not in common]
    )


def _collect(
    aggregate: Aggregate,
    sealed_shares: Iterable[Tuple[int, bytes]],
    recipient: int,
    box_key: PrivateKey,
    n_parties: int,
) -> Tuple[Dict[int, DecryptionShare], Dict[int, ShareExclusion]]:
    """Open and check every sender's share; anything wrong excludes that sender only."""
    blobs: Dict[object, List[bytes]] = {}
    for sender, blob in sealed_shares:
        blobs.setdefault(sender, []).append(blob)
    shares: Dict[int, DecryptionShare] = {}
    excluded: Dict[int, ShareExclusion] = {}
    for sender, sent in blobs.items():
        if not isinstance(sender, int) or not 1 <= sender <= n_parties:
            excluded[sender] = ShareExclusion.NOT_A_KEY_HOLDER
        elif len(sent) > 1:
            excluded[sender] = ShareExclusion.DUPLICATE
        else:
            share, exclusion = _admit_share(aggregate, sender, sent[0], recipient, box_key)
            if share is None:
                excluded[sender] = exclusion
            else:
                shares[sender] = share
    return shares, excluded


def _admit_share(
    aggregate: Aggregate, sender: int, blob: bytes, recipient: int, box_key: PrivateKey
) -> Tuple[Optional[DecryptionShare], Optional[ShareExclusion]]:
    """(share, None) for a share of this aggregate's period and U, else (None, reason)."""
    parameters = aggregate.context.parameters
    try:
        sealer, payload = _unseal(blob, recipient, box_key, parameters)
    except ParameterMismatchError:
        return None, ShareExclusion.FOREIGN_PARAMETERS
    except ThresholdCkksError:
        return None, ShareExclusion.UNREADABLE
    try:
        share = _parse_share(sealer, payload, parameters)
    except ParameterMismatchError:
        return None, ShareExclusion.FOREIGN_PARAMETERS
    except ThresholdCkksError:
        return None, ShareExclusion.MALFORMED
    if share.sender != sender:
        return None, ShareExclusion.WRONG_SENDER
    if share.context != aggregate.context:
        return None, ShareExclusion.FOREIGN_PERIOD
    if share.contributors != aggregate.contributors:
        return None, ShareExclusion.FOREIGN_CONTRIBUTORS
    return share, None


def combine_decryption_shares(
    aggregate: Aggregate,
    sealed_shares: Iterable[Tuple[int, bytes]],
    recipient: int,
    box_key: PrivateKey,
    n_parties: int,
    threshold: int,
) -> DecryptionResult:
    """The weighted average sum_U w m / W from the sealed shares (sender, bytes) of the period.

    Unusable shares exclude their sender only; with fewer than t usable ones it raises
    InsufficientSharesError; shares that cannot be reconciled raise InconsistentSharesError.
    """
    shares, excluded = _collect(aggregate, sealed_shares, recipient, box_key, n_parties)
    if len(shares) < threshold:
        raise InsufficientSharesError(
            f"{len(shares)} usable decryption shares, need {threshold}; "
            f"excluded: {sorted((str(k), v.value) for k, v in excluded.items())}"
        )
    values, subset, inconsistent = _robust_decode(
        _Combiner(aggregate, shares), n_parties, threshold
    )
    return DecryptionResult(values, subset, excluded, inconsistent, len(shares) > threshold)
