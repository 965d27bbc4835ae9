"""Threshold decryption: flooded, subset-bound decryption shares and their robust combination.

Decryption shares are d_j^T = lambda_j^T s'_j c1 + e_j with flooding noise e_j of sigma 2^40 x the
aggregate's noise bound. lambda must be applied by the holder: a combiner applying it would multiply
e_j by a full-size number mod q. So a share is bound to (ciphertext digest, t-subset T of the agreed
decryptor set S), and each member of S issues, in one go, a share for every t-subset containing it
(a second issuance for the same ciphertext is refused). The combiner decodes every complete subset:
a party p is blamed only if it is the single party such that all subsets without p decode plausibly
and agree. With at most one faulty party this never blames an honest one; garbage or wrong-key
shares are named even with |S| = t + 1, crafted plausible ones are detected and raised as suspects.
"""

import itertools
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, FrozenSet, Iterable, List, Sequence, Tuple

import numpy as np

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encryption_legacy import (
    EncryptedVector,
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
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    DEFAULT_PARAMETERS,
    CkksParameters,
    decryption_error_bound,
    flooding_sigma,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.ring import (
    _add_mod,
    _column,
    _gaussian_residues,
    _lagrange_at_zero,
    _mul_mod,
    _mul_mod_once,
    _shoup_companion,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.seal_bridge import (
    _runtime,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.sharing import (
    _check_roster,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.wire import (
    _preamble,
    _Reader,
    _residue_bytes,
)


if TYPE_CHECKING:  # pragma: no cover
    from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.keygen import JointPublicKey


def _decryptor_set(
    members: Iterable[int], threshold: int, n_parties: int
) -> Tuple[int, ...]:
    """The agreed decryptor set, sorted; at least t distinct valid indices."""
    ordered = tuple(sorted(members))
    if len(set(ordered)) != len(ordered) or not all(
        1 <= m <= n_parties for m in ordered
    ):
        raise InvalidInputError(
            f"decryptor set {ordered} has duplicates or indices outside 1..n"
        )
    if len(ordered) < threshold:
        raise InsufficientSharesError(
            f"decryptor set {ordered} has fewer than threshold {threshold} parties"
        )
    return ordered


_SHARE_MAGIC = b"TCDS"
# key digest, ciphertext digest, party, |T|, count
_SHARE_FIELDS = struct.Struct("<32s32sHHI")
_KEY_SHARE_MAGIC = b"TCKS"
# key digest, index, n, t, issued digest count
_KEY_SHARE_FIELDS = struct.Struct("<32sHHHI")


@dataclass(frozen=True, eq=False)
class DecryptionShare:
    """d_j^T = lambda_j^T s'_j c1 + e_j for one party j, subset T and aggregate ciphertext.

    residues: uint64 (ciphertexts, data primes, N), NTT form.
    """

    parameters: CkksParameters
    public_key_digest: bytes
    ciphertext_digest: bytes
    party_index: int
    subset: Tuple[int, ...]
    residues: np.ndarray

    def to_bytes(self) -> bytes:
        """Header (params, key and ciphertext digests, party, subset, count) + raw residues."""
        fields = _SHARE_FIELDS.pack(
            self.public_key_digest,
            self.ciphertext_digest,
            self.party_index,
            len(self.subset),
            self.residues.shape[0],
        )
        subset = struct.pack(f"<{len(self.subset)}H", *self.subset)
        return (
            _preamble(_SHARE_MAGIC, self.parameters)
            + fields
            + subset
            + _residue_bytes(self.residues)
        )

    @classmethod
    def from_bytes(
        cls, data: bytes, parameters: CkksParameters = DEFAULT_PARAMETERS
    ) -> "DecryptionShare":
        """Strictly parse bytes made by to_bytes under `parameters`."""
        reader = _Reader(data, "decryption share")
        reader.preamble(_SHARE_MAGIC, parameters)
        key_digest, ciphertext_digest, party, subset_size, count = reader.unpack(
            _SHARE_FIELDS
        )
        subset = reader.unpack(struct.Struct(f"<{subset_size}H"))
        if list(subset) != sorted(set(subset)) or party not in subset:
            raise MalformedDataError(
                f"decryption share: bad subset {subset} for party {party}"
            )
        if count < 1:
            raise MalformedDataError("decryption share: no ciphertexts")
        moduli = _runtime(parameters).data_moduli
        residues = reader.residues(
            (count, len(moduli), parameters.poly_modulus_degree), moduli
        )
        reader.finish()
        return cls(
            parameters, key_digest, ciphertext_digest, party, tuple(subset), residues
        )


class ThresholdKeyShare:
    """Agent j's Shamir share s'_j of the joint secret; issues flooded decryption shares.

    It records every ciphertext digest it has served and refuses a second request: persist
    to_bytes() (secret!) after each issuance so a restart keeps the record.
    """

    def __init__(
        self,
        index: int,
        n_parties: int,
        threshold: int,
        public_key_digest: bytes,
        key_residues: np.ndarray,
        parameters: CkksParameters = DEFAULT_PARAMETERS,
        issued_digests: Iterable[bytes] = (),
    ) -> None:
        """Hold s'_j (data primes, NTT form) and precompute its Shoup companion."""
        _check_roster(index, n_parties, threshold)
        self.index = index
        self.n_parties = n_parties
        self.threshold = threshold
        self.public_key_digest = public_key_digest
        self.parameters = parameters
        self._moduli = _runtime(parameters).data_moduli
        self._key = key_residues
        self._key_companion = _shoup_companion(key_residues, _column(self._moduli))
        self._issued = set(issued_digests)

    @property
    def issued_digests(self) -> FrozenSet[bytes]:
        """Ciphertext digests this party has issued shares for."""
        return frozenset(self._issued)

    def to_bytes(self) -> bytes:
        """Secret state (key share and issued digests) for the agent's own persistent storage."""
        fields = _KEY_SHARE_FIELDS.pack(
            self.public_key_digest,
            self.index,
            self.n_parties,
            self.threshold,
            len(self._issued),
        )
        return (
            _preamble(_KEY_SHARE_MAGIC, self.parameters)
            + fields
            + b"".join(sorted(self._issued))
            + _residue_bytes(self._key)
        )

    @classmethod
    def from_bytes(
        cls, data: bytes, parameters: CkksParameters = DEFAULT_PARAMETERS
    ) -> "ThresholdKeyShare":
        """Strictly parse bytes made by to_bytes under `parameters`."""
        reader = _Reader(data, "threshold key share")
        reader.preamble(_KEY_SHARE_MAGIC, parameters)
        key_digest, index, n_parties, threshold, issued_count = reader.unpack(
            _KEY_SHARE_FIELDS
        )
        issued = [reader.take(32) for _ in range(issued_count)]
        moduli = _runtime(parameters).data_moduli
        key = reader.residues((len(moduli), parameters.poly_modulus_degree), moduli)
        reader.finish()
        return cls(index, n_parties, threshold, key_digest, key, parameters, issued)

    def decryption_shares(
        self, aggregate: EncryptedVector, decryptor_set: Sequence[int]
    ) -> List[DecryptionShare]:
        """One flooded share per t-subset of the agreed decryptor set that contains this party.

        Issued once per ciphertext digest: the digest is recorded before any share exists.
        """
        if aggregate.parameters != self.parameters:
            raise ParameterMismatchError("the aggregate uses other parameters")
        if aggregate.public_key_digest != self.public_key_digest:
            raise ForeignDataError("the aggregate is encrypted under another joint key")
        members = _decryptor_set(decryptor_set, self.threshold, self.n_parties)
        if self.index not in members:
            raise InvalidInputError(
                f"party {self.index} is not in the decryptor set {members}"
            )
        digest = aggregate.digest
        if digest in self._issued:
            raise ShareAlreadyIssuedError(
                f"party {self.index} already issued shares for ciphertext {digest.hex()[:16]}"
            )
        self._issued.add(digest)
        all_subsets = itertools.combinations(members, self.threshold)
        subsets = [subset for subset in all_subsets if self.index in subset]
        column = _column(self._moduli)
        masked = _mul_mod(
            aggregate.residues[:, 1], self._key, self._key_companion, column
        )
        noise = self._flooding_noise(aggregate, len(subsets))
        shares = []
        for subset, subset_noise in zip(subsets, noise):
            lagrange = _lagrange_at_zero(self.index, subset, self._moduli)
            residues = _mul_mod_once(masked, lagrange, column)
            shares.append(
                DecryptionShare(
                    self.parameters,
                    self.public_key_digest,
                    digest,
                    self.index,
                    subset,
                    _add_mod(residues, subset_noise, column),
                )
            )
        return shares

    def _flooding_noise(
        self, aggregate: EncryptedVector, subset_count: int
    ) -> np.ndarray:
        """Fresh flooding noise per subset and ciphertext, sampled as coefficients, then NTT."""
        sigma = flooding_sigma(self.parameters, self.n_parties, aggregate.total_weight)
        degree = self.parameters.poly_modulus_degree
        polys = subset_count * aggregate.ciphertext_count
        coefficients = _gaussian_residues(sigma, self._moduli, polys * degree)
        per_poly = coefficients.reshape(len(self._moduli), polys, degree).transpose(
            1, 0, 2
        )
        transformed = _runtime(self.parameters).to_ntt(np.ascontiguousarray(per_poly))
        return transformed.reshape(
            (subset_count, aggregate.ciphertext_count, len(self._moduli), degree)
        )


@dataclass(frozen=True)
class DecryptionResult:
    """A decrypted average, the subset that produced it and the parties whose shares were bad."""

    values: np.ndarray
    subset: Tuple[int, ...]
    bad_parties: Tuple[int, ...]


def _collect_shares(
    aggregate: EncryptedVector,
    shares: Iterable[DecryptionShare],
    members: Tuple[int, ...],
    public_key: "JointPublicKey",
) -> Dict[Tuple[int, ...], Dict[int, DecryptionShare]]:
    """Shares grouped by subset; foreign and duplicate shares are refused."""
    expected_shape = aggregate.residues[:, 1].shape
    grouped: Dict[Tuple[int, ...], Dict[int, DecryptionShare]] = {}
    for share in shares:
        name = f"share of party {share.party_index} for subset {share.subset}"
        if share.parameters != aggregate.parameters:
            raise ForeignShareError(f"{name} uses other parameters")
        if share.public_key_digest != public_key.digest:
            raise ForeignShareError(f"{name} is for another joint key")
        if share.ciphertext_digest != aggregate.digest:
            raise ForeignShareError(f"{name} is for another ciphertext")
        if (
            len(share.subset) != public_key.threshold
            or not set(share.subset) <= set(members)
            or share.party_index not in share.subset
        ):
            raise ForeignShareError(f"{name} does not fit decryptor set {members}")
        if share.residues.shape != expected_shape:
            raise ForeignShareError(f"{name} has shape {share.residues.shape}")
        by_party = grouped.setdefault(tuple(share.subset), {})
        if share.party_index in by_party:
            raise DuplicateShareError(f"{name} was supplied twice")
        by_party[share.party_index] = share
    return grouped


def _decode_subset(
    aggregate: EncryptedVector, shares: Iterable[DecryptionShare]
) -> np.ndarray:
    """All slots of c0 + sum of the subset's shares, decoded and divided by the total weight."""
    runtime = _runtime(aggregate.parameters)
    column = _column(runtime.data_moduli)
    total = aggregate.residues[:, 0]
    for share in shares:
        total = _add_mod(total, share.residues, column)
    slots = [
        runtime.encoder.decode_complex(
            runtime.load_plaintext(poly, aggregate.parameters.scale)
        )
        for poly in total
    ]
    return np.asarray(slots, dtype=np.complex128).reshape(-1) / aggregate.total_weight


def _plausible(
    slots: np.ndarray, length: int, parameters: CkksParameters, bound: float
) -> bool:
    """A correct decryption is real, in range, and zero on padding slots, up to the noise bound."""
    return bool(
        np.abs(slots.imag).max() <= bound
        and np.abs(slots.real[:length]).max() <= parameters.max_abs_value + bound
        and (length == slots.size or np.abs(slots.real[length:]).max() <= bound)
    )


def _agree(left: np.ndarray, right: np.ndarray, bound: float) -> bool:
    """Two decryptions of one ciphertext differ only by their flooding noise."""
    difference = left - right
    return bool(
        max(np.abs(difference.real).max(), np.abs(difference.imag).max()) <= 2 * bound
    )


def combine_decryption_shares(
    aggregate: EncryptedVector,
    shares: Iterable[DecryptionShare],
    decryptor_set: Sequence[int],
    public_key: "JointPublicKey",
) -> DecryptionResult:
    """Decrypt the aggregate's average from the shares of the agreed decryptor set.

    Every complete t-subset is decoded. All plausible and agreeing: the result of the first one.
    Otherwise the single party p whose absence leaves only plausible, agreeing subsets is named in
    bad_parties and the result comes from the subsets without p; no such single party (or an only
    subset that decodes implausibly) raises InconsistentSharesError with the suspects.
    """
    if aggregate.parameters != public_key.parameters:
        raise ParameterMismatchError(
            "the aggregate and the joint key use different parameters"
        )
    if aggregate.public_key_digest != public_key.digest:
        raise ForeignDataError("the aggregate is encrypted under another joint key")
    threshold = public_key.threshold
    members = _decryptor_set(decryptor_set, threshold, public_key.n_parties)
    grouped = _collect_shares(aggregate, shares, members, public_key)
    complete = sorted(
        subset for subset, by_party in grouped.items() if len(by_party) == threshold
    )
    if not complete:
        best = max(
            (sorted(by_party) for by_party in grouped.values()), key=len, default=[]
        )
        raise InsufficientSharesError(
            f"need the shares of all {threshold} members of one {threshold}-subset of {members}; "
            f"the most complete subset has shares from parties {best}"
        )
    bound = decryption_error_bound(
        aggregate.parameters, public_key.n_parties, threshold
    )
    decoded = {
        subset: _decode_subset(aggregate, grouped[subset].values())
        for subset in complete
    }
    good = {
        subset: _plausible(slots, aggregate.length, aggregate.parameters, bound)
        for subset, slots in decoded.items()
    }

    def consistent(subsets: List[Tuple[int, ...]]) -> bool:
        """All plausible and agreeing with the first."""
        return all(
            good[subset] and _agree(decoded[subsets[0]], decoded[subset], bound)
            for subset in subsets
        )

    def result(subset: Tuple[int, ...], bad: Tuple[int, ...]) -> DecryptionResult:
        """The real part of the payload slots."""
        return DecryptionResult(
            decoded[subset].real[: aggregate.length].copy(), subset, bad
        )

    if consistent(complete):
        return result(complete[0], ())
    publishers = sorted(set(itertools.chain.from_iterable(complete)))
    explanations = []
    for party in publishers:
        without = [subset for subset in complete if party not in subset]
        if without and consistent(without):
            explanations.append((party, without[0]))
    if len(explanations) == 1:
        party, subset = explanations[0]
        return result(subset, (party,))
    suspects = [party for party, _ in explanations] or publishers
    raise InconsistentSharesError("decryption shares disagree", suspects)
