"""Key-epoch objects and the checks anyone runs: common random polynomials, dealings, commitments,
the public check, recipient and justification checks, the joint public key."""

import hashlib
import math
import struct
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Tuple

import numpy as np
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    BadJustificationError,
    BadSubShareError,
    DealingCommitmentError,
    InconsistentDealingError,
    InvalidInputError,
    ForeignDataError,
    ForeignDealingError,
    MalformedDataError,
    MalformedDealingError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    DEFAULT_PARAMETERS,
    CkksParameters,
    image_noise_bound,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.ring import (
    _add_mod,
    _column,
    _is_short,
    _mul_mod,
    _mul_mod_once,
    _neg_mod,
    _per_prime,
    _ShakeStream,
    _shoup_companion,
    _uniform_residues,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.seal_bridge import (
    _runtime,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.sharing import (
    _check_roster,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.wire import (
    _PREAMBLE,
    _preamble,
    _Reader,
    _residue_bytes,
)

_COMMITMENT_TAG = b"threshold-ckks/dealing-commitment/v1"
_DEALING_MAGIC = b"TCDL"
_DEALING_FIELDS = struct.Struct("<32sHHH")  # seed digest, dealer, n_parties, threshold
_EPOCH_KEY_MAGIC = b"TCEK"
_EPOCH_KEY_FIELDS = struct.Struct("<HHHH")  # n_parties, threshold, seed length, |QUAL|
_POINT_MAGIC = (
    b"TCSS"  # a plain Shamir point: inside a sealed box, or published as justification
)
_POINT_FIELDS = struct.Struct("<32sHH")  # seed digest, dealer, recipient
_SEALED_BOX_OVERHEAD = 48  # ephemeral public key and MAC of a nacl SealedBox


def seed_digest(seed: bytes) -> bytes:
    """Identifies a key generation run without repeating its seed."""
    return hashlib.sha256(b"threshold-ckks/keygen-id/v2" + bytes(seed)).digest()


@lru_cache(maxsize=4)
def epoch_polynomials(
    parameters: CkksParameters, seed: bytes
) -> Tuple[np.ndarray, np.ndarray]:
    """(a, a') and their Shoup companions: uniform data-level NTT polys from SHAKE-256 of the seed."""
    moduli = _runtime(parameters).data_moduli
    stream = _ShakeStream(b"threshold-ckks/epoch-crs/v2" + parameters.digest + seed)
    polynomials = np.stack(
        [
            _uniform_residues(moduli, parameters.poly_modulus_degree, stream.read)
            for _ in range(2)
        ]
    )
    companions = np.stack(
        [_shoup_companion(poly, _column(moduli)) for poly in polynomials]
    )
    polynomials.flags.writeable = False
    companions.flags.writeable = False
    return polynomials, companions


def _box_size(parameters: CkksParameters) -> int:
    """Bytes of one sealed point."""
    residues = len(_runtime(parameters).data_moduli) * parameters.poly_modulus_degree
    return _PREAMBLE.size + _POINT_FIELDS.size + 8 * residues + _SEALED_BOX_OVERHEAD


@dataclass(frozen=True, eq=False)
class Dealing:
    """Dealer i's public images (2, n+1, primes, N) under (a, a') at points 0..n, and n sealed points.

    images[0, 0] = B_i0 is its public-key share; boxes[j - 1] holds f_i(j) for party j.
    """

    parameters: CkksParameters
    dealer: int
    n_parties: int
    threshold: int
    seed_digest: bytes
    images: np.ndarray
    boxes: Tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        """Preamble, fields, raw image residues, then the fixed-size boxes."""
        fields = _DEALING_FIELDS.pack(
            self.seed_digest, self.dealer, self.n_parties, self.threshold
        )
        return (
            _preamble(_DEALING_MAGIC, self.parameters)
            + fields
            + _residue_bytes(self.images)
            + b"".join(self.boxes)
        )

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        dealer: int,
        n_parties: int,
        threshold: int,
        seed: bytes,
        parameters: CkksParameters = DEFAULT_PARAMETERS,
    ) -> "Dealing":
        """Strictly parse the blob `dealer` revealed; any fault names `dealer`."""
        _check_roster(dealer, n_parties, threshold)
        try:
            reader = _Reader(data, "dealing")
            reader.preamble(_DEALING_MAGIC, parameters)
            fields = reader.unpack(_DEALING_FIELDS)
            if fields != (seed_digest(seed), dealer, n_parties, threshold):
                raise ForeignDataError("it belongs to another key generation or roster")
            moduli = _runtime(parameters).data_moduli
            shape = (2, n_parties + 1, len(moduli), parameters.poly_modulus_degree)
            images = reader.residues(shape, moduli)
            size = _box_size(parameters)
            boxes = tuple(reader.take(size) for _ in range(n_parties))
            reader.finish()
        except ForeignDataError as error:
            raise ForeignDealingError(dealer, str(error)) from error
        except MalformedDataError as error:
            raise MalformedDealingError(dealer, str(error)) from error
        return cls(parameters, dealer, n_parties, threshold, fields[0], images, boxes)


def _images(points: np.ndarray, parameters: CkksParameters, seed: bytes) -> np.ndarray:
    """-a*f(j) (and -a'*f(j)) for NTT points (k, primes, N): shape (2, k, primes, N), no noise."""
    moduli = _runtime(parameters).data_moduli
    column = _column(moduli)
    polynomials, companions = epoch_polynomials(parameters, seed)
    return np.stack(
        [
            _neg_mod(_mul_mod(points, poly, companion, column), column)
            for poly, companion in zip(polynomials, companions)
        ]
    )


def _noise_is_short(
    residues: np.ndarray, parameters: CkksParameters, bound: float
) -> bool:
    """Whether NTT-form polys (..., primes, N) are, as coefficients, all below `bound`."""
    runtime = _runtime(parameters)
    shape = residues.shape
    flat = residues.reshape((-1,) + shape[-2:])
    return _is_short(
        runtime.from_ntt(np.ascontiguousarray(flat)), runtime.data_moduli, bound
    )


def _point_matches(
    dealing: Dealing, recipient: int, point: np.ndarray, seed: bytes
) -> bool:
    """Recipient check: B_ij + a*sh and B'_ij + a'*sh are both short."""
    if seed_digest(seed) != dealing.seed_digest:
        raise InvalidInputError(
            "the seed given is not the dealing's key generation seed"
        )
    column = _column(_runtime(dealing.parameters).data_moduli)
    expected = _images(point[np.newaxis], dealing.parameters, seed)[:, 0]
    noise = _add_mod(dealing.images[:, recipient], _neg_mod(expected, column), column)
    return _noise_is_short(
        noise, dealing.parameters, image_noise_bound(dealing.parameters)
    )


def _finite_differences(
    images: np.ndarray, threshold: int, moduli: np.ndarray
) -> np.ndarray:
    """t-th differences sum_m (-1)^m C(t, m) B_{k+m} for k = 0..n-t, of images (2, n+1, primes, N)."""
    column = _column(moduli)
    count = images.shape[1] - threshold
    total = np.zeros((2, count) + images.shape[2:], dtype=np.uint64)
    for step in range(threshold + 1):
        weight = (-1) ** step * math.comb(threshold, step)
        term = _mul_mod_once(
            images[:, step : step + count], _per_prime(weight, moduli), column
        )
        total = _add_mod(total, term, column)
    return total


def _point_bytes(dealing: Dealing, recipient: int, point: np.ndarray) -> bytes:
    """A plain point f_i(j), bound to the key generation, dealer and recipient."""
    fields = _POINT_FIELDS.pack(dealing.seed_digest, dealing.dealer, recipient)
    return _preamble(_POINT_MAGIC, dealing.parameters) + fields + _residue_bytes(point)


def _parse_point(
    data: bytes, dealing: Dealing, recipient: int, what: str
) -> np.ndarray:
    """Strictly parse a point made by _point_bytes for (dealing, recipient)."""
    parameters = dealing.parameters
    reader = _Reader(data, what)
    reader.preamble(_POINT_MAGIC, parameters)
    if reader.unpack(_POINT_FIELDS) != (dealing.seed_digest, dealing.dealer, recipient):
        raise ForeignDataError(f"{what} belongs to another key generation or recipient")
    moduli = _runtime(parameters).data_moduli
    point = reader.residues((len(moduli), parameters.poly_modulus_degree), moduli)
    reader.finish()
    return point


@dataclass(frozen=True, eq=False)
class EpochPublicKey:
    """(b, a) with b = sum of QUAL's public-key shares (data level, NTT form); its digest names the epoch."""

    parameters: CkksParameters
    n_parties: int
    threshold: int
    seed: bytes
    qualified: Tuple[int, ...]
    b: np.ndarray

    def to_bytes(self) -> bytes:
        """Preamble, roster, seed, QUAL, raw residues of b (a is regenerated from the seed)."""
        fields = _EPOCH_KEY_FIELDS.pack(
            self.n_parties, self.threshold, len(self.seed), len(self.qualified)
        )
        members = struct.pack(f"<{len(self.qualified)}H", *self.qualified)
        return (
            _preamble(_EPOCH_KEY_MAGIC, self.parameters)
            + fields
            + self.seed
            + members
            + _residue_bytes(self.b)
        )

    @classmethod
    def from_bytes(
        cls, data: bytes, parameters: CkksParameters = DEFAULT_PARAMETERS
    ) -> "EpochPublicKey":
        """Strictly parse bytes made by to_bytes under `parameters`."""
        reader = _Reader(data, "epoch public key")
        reader.preamble(_EPOCH_KEY_MAGIC, parameters)
        n_parties, threshold, seed_length, count = reader.unpack(_EPOCH_KEY_FIELDS)
        seed = reader.take(seed_length)
        qualified = reader.unpack(struct.Struct(f"<{count}H"))
        moduli = _runtime(parameters).data_moduli
        b = reader.residues((len(moduli), parameters.poly_modulus_degree), moduli)
        reader.finish()
        _check_roster(1, n_parties, threshold)
        if not seed or list(qualified) != sorted(set(qualified)) or count < threshold:
            raise MalformedDataError(f"epoch public key: bad seed or QUAL {qualified}")
        if not all(1 <= member <= n_parties for member in qualified):
            raise MalformedDataError(f"epoch public key: QUAL {qualified} leaves 1..n")
        return cls(parameters, n_parties, threshold, seed, tuple(qualified), b)

    @property
    def a(self) -> np.ndarray:
        """The epoch's common random polynomial a."""
        return epoch_polynomials(self.parameters, self.seed)[0][0]

    @cached_property
    def digest(self) -> bytes:
        """sha256 of to_bytes(): the key epoch id every ciphertext and share is bound to."""
        return hashlib.sha256(self.to_bytes()).digest()


def dealing_commitment(blob: bytes, seed: bytes, dealer: int) -> bytes:
    """SHA-256 binding a dealing's bytes to the key epoch seed and its dealer (agreed before reveal)."""
    header = struct.pack("<I", len(seed)) + bytes(seed) + struct.pack("<H", dealer)
    return hashlib.sha256(_COMMITMENT_TAG + header + bytes(blob)).digest()


def check_dealing(
    blob: bytes,
    commitment: bytes,
    dealer: int,
    n_parties: int,
    threshold: int,
    seed: bytes,
    parameters: CkksParameters = DEFAULT_PARAMETERS,
) -> Dealing:
    """The revealed dealing of `dealer` if it matches its agreed commitment and passes the public check."""
    _check_roster(dealer, n_parties, threshold)
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise MalformedDealingError(
            dealer, f"expected bytes, got {type(blob).__name__}"
        )
    if dealing_commitment(blob, seed, dealer) != commitment:
        raise DealingCommitmentError(
            dealer, "the revealed blob does not match its commitment"
        )
    dealing = Dealing.from_bytes(blob, dealer, n_parties, threshold, seed, parameters)
    moduli = _runtime(parameters).data_moduli
    differences = _finite_differences(dealing.images, threshold, moduli)
    if not _noise_is_short(
        differences, parameters, 2**threshold * image_noise_bound(parameters)
    ):
        raise InconsistentDealingError(
            dealer,
            f"its images are not the points of one polynomial of degree < {threshold}",
        )
    return dealing


def open_sub_share(
    dealing: Dealing, recipient: int, box_key: PrivateKey, seed: bytes
) -> np.ndarray:
    """Recipient j's point f_i(j): opened, parsed and checked against the images, or a complaint."""
    _check_roster(recipient, dealing.n_parties, dealing.threshold)
    what = f"sub-share {dealing.dealer}->{recipient}"
    try:
        payload = SealedBox(box_key).decrypt(dealing.boxes[recipient - 1])
        point = _parse_point(payload, dealing, recipient, what)
    except (CryptoError, MalformedDataError, ForeignDataError) as error:
        raise BadSubShareError(dealing.dealer, f"{what}: {error}") from error
    if not _point_matches(dealing, recipient, point, seed):
        raise BadSubShareError(dealing.dealer, f"{what} does not match the images")
    return point


def check_justification(
    blob: bytes, dealing: Dealing, complainer: int, seed: bytes
) -> np.ndarray:
    """The point a dealer published for a complaint, if it parses and matches its images."""
    _check_roster(complainer, dealing.n_parties, dealing.threshold)
    what = f"justification {dealing.dealer}->{complainer}"
    try:
        point = _parse_point(blob, dealing, complainer, what)
    except (MalformedDataError, ForeignDataError) as error:
        raise BadJustificationError(dealing.dealer, str(error)) from error
    if not _point_matches(dealing, complainer, point, seed):
        raise BadJustificationError(dealing.dealer, f"{what} does not match the images")
    return point
