"""Threshold decryption of a period's aggregate: flooded shares of s_U * a_r, sealed, robustly combined.

Key holder j issues d_j,k = (sum over i in U of sh_i->j) * a_r,k + flood_j,k: it depends on the agreed
U and the period only, never on a submitted ciphertext or on who else decrypts, and is issued at most
once per period (IssuanceRecord). It travels sealed to every key holder's box key, so an observer of
all blobs learns nothing. Any t shares combine with the integer coefficients D*lambda_j (D: the
subset's least common denominator) to D * (Encode(sum w m) + E) + F; the combiner checks each extra
share against a t-subset's interpolation, decodes, and names senders that do not fit.
"""

import math
import struct
from dataclasses import dataclass
from enum import Enum
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from nacl.public import PrivateKey

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.aggregation import (
    Aggregate,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.combine import (
    Combiner,
    robust_decode,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encryption import (
    PeriodContext,
    _digest,
    check_key_share,
    encryption_noise_bound,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    InsufficientSharesError,
    InvalidInputError,
    MalformedDataError,
    ParameterMismatchError,
    ThresholdCkksError,
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
    _gaussian_residues,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.sealing import (
    seal_to_key_holders,
    unseal,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.seal_bridge import (
    _runtime,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.wire import (
    _preamble,
    _Reader,
    _residue_bytes,
)

_SHARE_MAGIC = b"TCDH"
_SHARE_FIELDS = struct.Struct("<HH")  # sender, contributor count


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
        return seal_to_key_holders(share.to_bytes(), key_share.index, box_public_keys, parameters)

    return record.issue(IssuanceKind.DECRYPTION_SHARE, context, request, make)


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
    return _parse_share(*unseal(sealed, recipient, box_key, parameters), parameters)


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
        sealer, payload = unseal(blob, recipient, box_key, parameters)
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
    sigma = flooding_sigma(aggregate.context.parameters, len(aggregate.contributors))
    residues = {sender: share.residues for sender, share in shares.items()}
    values, subset, inconsistent = robust_decode(
        Combiner(aggregate, residues, sigma), n_parties, threshold
    )
    return DecryptionResult(values, subset, excluded, inconsistent, len(shares) > threshold)
