"""Verifiable distributed key generation: dealings with public RLWE images, complaints, QUAL, key shares.

Dealer i samples a ternary s_i and a Shamir polynomial f_i of degree < t with f_i(0) = s_i, and
publishes, for every point j = 0..n, the images B_ij = -a*f_i(j) + e_ij and B'_ij = -a'*f_i(j) + e'_ij
under the epoch's two common random polynomials (B_i0 is its public-key share), plus f_i(j) sealed
to j's box key. Anyone checks that the t-th finite differences of the images are short (the points
lie on one polynomial of degree < t); recipient j checks its point against B_ij and B'_ij and
complains otherwise; the dealer answers each complaint with the plain point, which anyone checks.
Dealings are committed (hash agreed in consensus) before any is revealed, so no dealer can choose
its share from the others'. Every refusal names the dealer, never a recipient.
"""

import os
import struct
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Dict, Iterable, Mapping, Tuple

import numpy as np
from nacl.public import PublicKey, SealedBox

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    ForeignDataError,
    InsufficientSharesError,
    InvalidInputError,
    MalformedDataError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.dealing import (
    Dealing,
    _images,
    _point_bytes,
    EpochPublicKey,
    seed_digest,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    DEFAULT_PARAMETERS,
    CkksParameters,
    image_noise_sigma,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.ring import (
    _add_mod,
    _column,
    _rounded_gaussian_residues,
    _signed_residues,
    _ternary,
    _uniform_residues,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.seal_bridge import (
    _runtime,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.sharing import (
    _check_roster,
    shamir_evaluations,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.wire import (
    _preamble,
    _Reader,
    _residue_bytes,
)

_KEY_SHARE_MAGIC = b"TCKY"
_DEALER_MAGIC = b"TCDR"
_DEALER_FIELDS = struct.Struct("<HHHI")  # index, n_parties, threshold, seed length
_KEY_SHARE_FIELDS = struct.Struct(
    "<32sHHHH"
)  # epoch, n_parties, threshold, index, |QUAL|


@dataclass(frozen=True, eq=False)
class KeyShare:
    """Party `index`'s share of one key epoch: its additive secret and the Shamir points dealt to it.

    Residues are uint64 over the data-level primes, NTT form. additive_secret is s_i (encryption
    under one's own key); sub_shares[d] = f_d(index) for every dealer d in `qualified`, whose sum is
    this party's Shamir share of the joint secret sum_{d in QUAL} s_d (decryption). Secret: never log it.
    """

    parameters: CkksParameters
    n_parties: int
    threshold: int
    index: int
    epoch: bytes
    additive_secret: np.ndarray
    sub_shares: Mapping[int, np.ndarray]
    qualified: Tuple[int, ...]

    @cached_property
    def shamir_share(self) -> np.ndarray:
        """sum over QUAL of f_d(index): this party's point of the joint secret's polynomial."""
        column = _column(_runtime(self.parameters).data_moduli)
        total = np.zeros_like(self.additive_secret)
        for dealer in self.qualified:
            total = _add_mod(total, self.sub_shares[dealer], column)
        return total

    def to_bytes(self) -> bytes:
        """Secret bytes for the key store: fields, QUAL, s_i, then the points in QUAL order."""
        fields = _KEY_SHARE_FIELDS.pack(
            self.epoch, self.n_parties, self.threshold, self.index, len(self.qualified)
        )
        members = struct.pack(f"<{len(self.qualified)}H", *self.qualified)
        points = [self.additive_secret] + [self.sub_shares[d] for d in self.qualified]
        return (
            _preamble(_KEY_SHARE_MAGIC, self.parameters)
            + fields
            + members
            + b"".join(_residue_bytes(point) for point in points)
        )

    @classmethod
    def from_bytes(
        cls, data: bytes, parameters: CkksParameters = DEFAULT_PARAMETERS
    ) -> "KeyShare":
        """Strictly parse bytes made by to_bytes under `parameters`."""
        reader = _Reader(data, "key share")
        reader.preamble(_KEY_SHARE_MAGIC, parameters)
        epoch, n_parties, threshold, index, count = reader.unpack(_KEY_SHARE_FIELDS)
        qualified = reader.unpack(struct.Struct(f"<{count}H"))
        _check_roster(index, n_parties, threshold)
        if (
            list(qualified) != sorted(set(qualified))
            or count < threshold
            or not all(1 <= member <= n_parties for member in qualified)
        ):
            raise MalformedDataError(f"key share: bad QUAL {qualified}")
        moduli = _runtime(parameters).data_moduli
        shape = (len(moduli), parameters.poly_modulus_degree)
        secret = reader.residues(shape, moduli)
        points = {dealer: reader.residues(shape, moduli) for dealer in qualified}
        reader.finish()
        return cls(
            parameters, n_parties, threshold, index, epoch, secret, points, qualified
        )


def qualified_dealers(
    n_parties: int,
    threshold: int,
    passed: Iterable[int],
    complaints: Mapping[int, Iterable[int]],
    justified: Mapping[int, Iterable[int]],
) -> Tuple[int, ...]:
    """QUAL: dealers that passed the public check and justified every complaint against them.

    passed: dealers whose agreed commitment matched a reveal that passed check_dealing;
    complaints: complainer -> dealers it complained about; justified: dealer -> complainers
    it answered with a point that passed check_justification.
    """
    accused: Dict[int, set] = {}
    for complainer, dealers in complaints.items():
        for dealer in dealers:
            accused.setdefault(dealer, set()).add(complainer)
    qualified = tuple(
        sorted(
            dealer
            for dealer in set(passed)
            if 1 <= dealer <= n_parties
            and accused.get(dealer, set()) <= set(justified.get(dealer, ()))
        )
    )
    if len(qualified) < threshold:
        raise InsufficientSharesError(
            f"only dealers {qualified} qualified; a key needs at least {threshold}"
        )
    return qualified


def joint_public_key(
    dealings: Mapping[int, Dealing], qualified: Iterable[int], seed: bytes
) -> EpochPublicKey:
    """(sum of QUAL's public-key shares B_i0, a): its digest is the key epoch id."""
    members = tuple(sorted(set(qualified)))
    if not members or not set(members) <= set(dealings):
        raise InvalidInputError(
            f"QUAL {members} needs a checked dealing of each member, have {sorted(dealings)}"
        )
    first = dealings[members[0]]
    if len(members) < first.threshold or any(
        dealings[d].seed_digest != seed_digest(seed) for d in members
    ):
        raise InvalidInputError(f"QUAL {members} is too small or mixes key generations")
    column = _column(_runtime(first.parameters).data_moduli)
    total = np.zeros_like(first.images[0, 0])
    for dealer in members:
        total = _add_mod(total, dealings[dealer].images[0, 0], column)
    return EpochPublicKey(
        first.parameters, first.n_parties, first.threshold, bytes(seed), members, total
    )


class Dealer:
    """One party's dealing for a key epoch; keep it until finalize() returned the KeyShare.

    Holds the secret polynomial's points: never log or publish anything but `dealing` and the
    justifications it is asked for.
    """

    def __init__(
        self,
        index: int,
        n_parties: int,
        threshold: int,
        seed: bytes,
        box_public_keys: Mapping[int, bytes],
        parameters: CkksParameters = DEFAULT_PARAMETERS,
    ) -> None:
        """Sample s_i and f_i, compute the images and seal f_i(j) to every party j."""
        _check_roster(index, n_parties, threshold)
        if not seed:
            raise InvalidInputError("the key epoch seed must not be empty")
        self.index, self.n_parties, self.threshold = index, n_parties, threshold
        self.parameters, self._seed = parameters, bytes(seed)
        runtime = _runtime(parameters)
        moduli, degree = runtime.data_moduli, parameters.poly_modulus_degree
        secret = runtime.to_ntt(_signed_residues(_ternary(degree), moduli)[np.newaxis])[
            0
        ]
        coefficients = [
            _uniform_residues(moduli, degree, os.urandom) for _ in range(threshold - 1)
        ]
        points = shamir_evaluations(secret, coefficients, range(n_parties + 1), moduli)
        self._points = np.stack([points[j] for j in range(n_parties + 1)])
        self.dealing = self._deal(box_public_keys)

    def to_bytes(self) -> bytes:
        """Secret state for the key store, so a restart during key generation can still reveal,
        justify and finalize: roster, seed, the points f_i(0..n), then the dealing's bytes.
        """
        fields = _DEALER_FIELDS.pack(
            self.index, self.n_parties, self.threshold, len(self._seed)
        )
        return (
            _preamble(_DEALER_MAGIC, self.parameters)
            + fields
            + self._seed
            + _residue_bytes(self._points)
            + self.dealing.to_bytes()
        )

    @classmethod
    def from_bytes(
        cls, data: bytes, parameters: CkksParameters = DEFAULT_PARAMETERS
    ) -> "Dealer":
        """Strictly parse bytes made by to_bytes under `parameters`."""
        reader = _Reader(data, "dealer state")
        reader.preamble(_DEALER_MAGIC, parameters)
        index, n_parties, threshold, seed_length = reader.unpack(_DEALER_FIELDS)
        _check_roster(index, n_parties, threshold)
        seed = reader.take(seed_length)
        moduli = _runtime(parameters).data_moduli
        shape = (n_parties + 1, len(moduli), parameters.poly_modulus_degree)
        points = reader.residues(shape, moduli)
        blob = reader.rest()
        dealer = cls.__new__(cls)
        dealer.index, dealer.n_parties, dealer.threshold = index, n_parties, threshold
        dealer.parameters, dealer._seed, dealer._points = parameters, seed, points
        dealer.dealing = Dealing.from_bytes(
            blob, index, n_parties, threshold, seed, parameters
        )
        return dealer

    @property
    def additive_secret(self) -> np.ndarray:
        """s_i = f_i(0): this party's own key for encrypting its updates."""
        return self._points[0]

    def _deal(self, box_public_keys: Mapping[int, bytes]) -> Dealing:
        """Images with fresh noise, and the sealed points."""
        runtime = _runtime(self.parameters)
        moduli, degree = runtime.data_moduli, self.parameters.poly_modulus_degree
        column = _column(moduli)
        count = 2 * (self.n_parties + 1)
        noise = _rounded_gaussian_residues(
            image_noise_sigma(self.parameters), moduli, count * degree
        )
        noise = runtime.to_ntt(
            np.ascontiguousarray(
                noise.reshape(len(moduli), count, degree).transpose(1, 0, 2)
            )
        ).reshape((2, self.n_parties + 1, len(moduli), degree))
        images = _add_mod(
            _images(self._points, self.parameters, self._seed), noise, column
        )
        unsealed = Dealing(
            self.parameters,
            self.index,
            self.n_parties,
            self.threshold,
            seed_digest(self._seed),
            images,
            (),
        )
        boxes = tuple(
            bytes(
                SealedBox(_box_public_key(box_public_keys, j)).encrypt(
                    _point_bytes(unsealed, j, self._points[j])
                )
            )
            for j in range(1, self.n_parties + 1)
        )
        return replace(unsealed, boxes=boxes)

    def justification(self, complainer: int) -> bytes:
        """The plain point f_i(complainer), published to answer that party's complaint."""
        _check_roster(complainer, self.n_parties, self.threshold)
        return _point_bytes(self.dealing, complainer, self._points[complainer])

    def finalize(
        self, public_key: EpochPublicKey, received: Mapping[int, np.ndarray]
    ) -> KeyShare:
        """This party's key share: its s_i and the checked point f_d(index) of every dealer d in QUAL."""
        if (public_key.parameters, public_key.n_parties, public_key.threshold) != (
            self.parameters,
            self.n_parties,
            self.threshold,
        ) or seed_digest(public_key.seed) != seed_digest(self._seed):
            raise ForeignDataError(
                "the joint public key belongs to another key generation"
            )
        if set(received) != set(public_key.qualified):
            raise InvalidInputError(
                f"need the points of exactly dealers {public_key.qualified}, got {sorted(received)}"
            )
        return KeyShare(
            self.parameters,
            self.n_parties,
            self.threshold,
            self.index,
            public_key.digest,
            self.additive_secret,
            {d: received[d] for d in public_key.qualified},
            public_key.qualified,
        )


def _box_public_key(box_public_keys: Mapping[int, bytes], index: int) -> PublicKey:
    """A registered Curve25519 key, refused clearly when missing or malformed."""
    try:
        return PublicKey(bytes(box_public_keys[index]))
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidInputError(f"no valid box public key for party {index}") from error
