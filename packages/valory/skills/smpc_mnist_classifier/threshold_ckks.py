"""Threshold CKKS on TenSEAL: distributed keys, encrypted weighted averaging and t-of-n decryption.

Keys follow Mouchet et al. (as Lattigo's multiparty package): each agent samples s_i with SEAL and
publishes p0_i = -a*s_i + e_i for a common polynomial a expanded from an agreed seed; the joint public
key is (sum p0_i, a). Each agent Shamir-shares s_i (degree t-1, per RNS prime and coefficient) and
boxes sub-share j to agent j, so agent j holds s'_j = sum_i f_i(j) and nobody ever holds sum_i s_i.
Averaging multiplies updates by integer weights (sample counts, default 1) and sums them exactly;
the header keeps the weight total W and decoding divides by W: no weight quantisation error, and
every agent gets byte-identical aggregates.
Decryption shares are d_j^T = lambda_j^T s'_j c1 + e_j with flooding noise e_j of sigma 2^40 x the
aggregate's noise bound. lambda must be applied by the holder: a combiner applying it would multiply
e_j by a full-size number mod q. So a share is bound to (ciphertext digest, t-subset T of the agreed
decryptor set S), and each member of S issues, in one go, a share for every t-subset containing it
(a second issuance for the same ciphertext is refused). The combiner decodes every complete subset:
a party p is blamed only if it is the single party such that all subsets without p decode plausibly
and agree. With at most one faulty party this never blames an honest one; garbage or wrong-key
shares are named even with |S| = t + 1, crafted plausible ones are detected and raised as suspects.
"""

import hashlib
import itertools
import json
import math
import os
import struct
import tempfile
from dataclasses import asdict, dataclass
from functools import cached_property, lru_cache
from typing import (
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

import numpy as np
import tenseal.sealapi as seal
from nacl.exceptions import CryptoError
from nacl.public import Box, PrivateKey
from nacl.public import PublicKey as BoxPublicKey


class ThresholdCkksError(ValueError):
    """Base class: every refusal of this module is a ValueError with a precise subclass."""


class InvalidInputError(ThresholdCkksError):
    """An argument is out of range: NaN/inf or too large values, bad indices, weights or sets."""


class MalformedDataError(ThresholdCkksError):
    """Serialized bytes are truncated, inconsistent or carry residues outside their modulus."""


class ForeignDataError(ThresholdCkksError):
    """Data belongs to another parameter set, joint key, key generation or ciphertext."""


class ParameterMismatchError(ForeignDataError):
    """Data was produced under different CKKS parameters (their digests differ)."""


class ForeignShareError(ForeignDataError):
    """A share is not for this ciphertext, key or decryptor set."""


class DuplicateShareError(ThresholdCkksError):
    """The same party supplied two shares for the same slot."""


class InsufficientSharesError(ThresholdCkksError):
    """No t-subset of the decryptor set has all of its shares."""


class ShareAlreadyIssuedError(ThresholdCkksError):
    """A party was asked again for shares of a ciphertext: a second noisy share leaks key material."""


class SubShareDecryptionError(ThresholdCkksError):
    """A boxed Shamir sub-share cannot be opened: wrong recipient key, wrong sender key or tampering."""


class InconsistentSharesError(ThresholdCkksError):
    """Decryption shares disagree and no single faulty party explains it; `suspects` lists candidates."""

    def __init__(self, message: str, suspects: Sequence[int]) -> None:
        """Keep the suspect party indices for the caller."""
        super().__init__(f"{message}; suspects: {sorted(suspects)}")
        self.suspects = tuple(sorted(suspects))


_SECURITY_LEVELS = {
    128: seal.SEC_LEVEL_TYPE.TC128,
    192: seal.SEC_LEVEL_TYPE.TC192,
    256: seal.SEC_LEVEL_TYPE.TC256,
}
# residues below 2^62 keep Shoup multiplication and modular sums inside uint64
_MAX_PRIME_BITS = 60


@dataclass(frozen=True)
class CkksParameters:
    """The single definition of the scheme's parameters; its digest tags every serialized object.

    The data level keeps all primes but the last (SEAL's special prime). The value and weight bounds
    guarantee |W * value| * scale stays below half the data modulus, so aggregates never wrap.
    """

    poly_modulus_degree: int = 8192
    coeff_modulus_bits: Tuple[int, ...] = (60, 60, 60)
    scale_bits: int = 80
    security_level_bits: int = 128
    flooding_margin_bits: int = 40
    max_abs_value_bits: int = 16
    max_total_weight_bits: int = 20

    def __post_init__(self) -> None:
        """Refuse parameter sets this module cannot run correctly."""
        if self.security_level_bits not in _SECURITY_LEVELS:
            raise InvalidInputError(
                f"security level must be one of {sorted(_SECURITY_LEVELS)}"
            )
        if (
            len(self.coeff_modulus_bits) < 2
            or max(self.coeff_modulus_bits) > _MAX_PRIME_BITS
        ):
            raise InvalidInputError(f"need >= 2 primes of <= {_MAX_PRIME_BITS} bits")
        # the data level drops the special prime; primes lie a bit below 2^bits
        data_bits = sum(self.coeff_modulus_bits[:-1]) - 1
        needed = (
            self.scale_bits + self.max_abs_value_bits + self.max_total_weight_bits + 2
        )
        if needed > data_bits - 1:
            raise InvalidInputError(
                f"scale + value + weight bits ({needed}) exceed the data modulus"
            )

    @property
    def slot_count(self) -> int:
        """Values per ciphertext."""
        return self.poly_modulus_degree // 2

    @property
    def scale(self) -> float:
        """CKKS encoding scale."""
        return float(2**self.scale_bits)

    @property
    def max_abs_value(self) -> float:
        """Largest accepted |value| in an update."""
        return float(2**self.max_abs_value_bits)

    @property
    def max_total_weight(self) -> int:
        """Largest accepted sum of aggregation weights."""
        return 2**self.max_total_weight_bits

    @cached_property
    def digest(self) -> bytes:
        """sha256 of the canonical JSON encoding; mismatched parameters are refused by it."""
        canonical = json.dumps(
            {"scheme": "threshold-ckks/v1", **asdict(self)},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).digest()


DEFAULT_PARAMETERS = CkksParameters()


# ---------------------------------------------------------------- noise estimates


def fresh_noise_bound(parameters: CkksParameters, n_parties: int) -> float:
    """8-sigma bound on a coefficient of a fresh ciphertext's noise under an n-party joint key.

    SEAL encrypts at the key level and divides by the special prime: what remains is the rounding
    r0 + r1*s (|r| <= 1/2, s = sum of n ternary keys, variance 2n/3 per coefficient) plus the
    key-level noise divided by a 60-bit prime (< 1). The encoder's own float error is part of the
    message (a function of the private plaintext), not key-dependent noise.
    """
    variance = parameters.poly_modulus_degree * (2 * n_parties / 3) / 12 + 1 / 12
    return 8 * math.sqrt(variance) + 1


def aggregate_noise_bound(
    parameters: CkksParameters, n_parties: int, total_weight: int
) -> float:
    """Noise bound of a weighted sum: each fresh ciphertext's bound times its integer weight."""
    return total_weight * fresh_noise_bound(parameters, n_parties)


def flooding_sigma(
    parameters: CkksParameters, n_parties: int, total_weight: int
) -> float:
    """Flooding sigma of a decryption share: 2^margin x the aggregate's noise bound."""
    return 2.0**parameters.flooding_margin_bits * aggregate_noise_bound(
        parameters, n_parties, total_weight
    )


def decryption_error_bound(
    parameters: CkksParameters, n_parties: int, threshold: int
) -> float:
    """Bound on the absolute error of a decrypted average (any total weight: both scale with W).

    t flooding terms sum to sigma*sqrt(t) per coefficient; a slot's real or imaginary part sees
    sqrt(N/2) of it after the canonical embedding; 10 sigma; plus the ciphertext noise worst case.
    """
    sigma_per_weight = flooding_sigma(parameters, n_parties, 1)
    slot_sigma = (
        math.sqrt(threshold)
        * sigma_per_weight
        * math.sqrt(parameters.poly_modulus_degree / 2)
    ) / parameters.scale
    ciphertext_noise = (
        fresh_noise_bound(parameters, n_parties)
        * parameters.poly_modulus_degree
        / parameters.scale
    )
    return 10 * slot_sigma + ciphertext_noise


# ---------------------------------------------------------------- arithmetic mod 60-bit primes

_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def _mul_high(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """High 64 bits of 64x64-bit products, from four 32-bit partial products."""
    left_low, left_high = left & _LOW32, left >> _SHIFT32
    right_low, right_high = right & _LOW32, right >> _SHIFT32
    low_low = left_low * right_low
    high_low = left_high * right_low
    low_high = left_low * right_high
    cross = (low_low >> _SHIFT32) + (high_low & _LOW32) + low_high  # < 2^64 exactly
    return left_high * right_high + (high_low >> _SHIFT32) + (cross >> _SHIFT32)


def _shoup_companion(factor: np.ndarray, moduli: np.ndarray) -> np.ndarray:
    """floor(factor * 2^64 / q): precomputed once so products by `factor` need no division."""
    exact = (factor.astype(object) << 64) // moduli.astype(object)
    return exact.astype(np.uint64)


def _mul_mod(
    values: np.ndarray, factor: np.ndarray, companion: np.ndarray, moduli: np.ndarray
) -> np.ndarray:
    """values * factor mod q (Shoup); `moduli` is a (primes, 1) column broadcast over coefficients."""
    # uint64 arithmetic wraps mod 2^64; Shoup's quotient estimate leaves the result in [0, 2q)
    product = values * factor - _mul_high(values, companion) * moduli
    return np.where(product >= moduli, product - moduli, product)


def _mul_mod_once(
    values: np.ndarray, factor: np.ndarray, moduli: np.ndarray
) -> np.ndarray:
    """values * factor mod q for a factor used once."""
    return _mul_mod(values, factor, _shoup_companion(factor, moduli), moduli)


def _add_mod(left: np.ndarray, right: np.ndarray, moduli: np.ndarray) -> np.ndarray:
    """(left + right) mod q for reduced operands (q < 2^63, so the sum cannot wrap)."""
    total = left + right
    return np.where(total >= moduli, total - moduli, total)


def _neg_mod(values: np.ndarray, moduli: np.ndarray) -> np.ndarray:
    """-values mod q."""
    return np.where(values == 0, values, moduli - values)


def _column(moduli: np.ndarray) -> np.ndarray:
    """Moduli as a (primes, 1) column that broadcasts over (..., primes, N) residues."""
    return moduli.reshape(-1, 1)


def _per_prime(value: int, moduli: np.ndarray) -> np.ndarray:
    """An integer reduced mod each prime, as a (primes, 1) column."""
    return np.array([[value % int(q)] for q in moduli], dtype=np.uint64)


def _lagrange_at_zero(
    index: int, subset: Sequence[int], moduli: np.ndarray
) -> np.ndarray:
    """lambda_index^subset = prod m / (m - index) over the other members, mod each prime."""
    numerator = math.prod(member for member in subset if member != index)
    denominator = math.prod(member - index for member in subset if member != index)
    return np.array(
        [[numerator * pow(denominator, -1, int(q)) % int(q)] for q in moduli],
        dtype=np.uint64,
    )


# ---------------------------------------------------------------- randomness


class _ShakeStream:
    """A SHAKE-256 output stream read sequentially, so every agent expands a seed identically."""

    def __init__(self, seed: bytes) -> None:
        """Start at offset 0 of SHAKE-256(seed)."""
        self._seed = seed
        self._offset = 0

    def read(self, size: int) -> bytes:
        """The next `size` bytes of the stream."""
        end = self._offset + size
        chunk = hashlib.shake_256(self._seed).digest(end)[self._offset :]
        self._offset = end
        return chunk


def _uniform_residues(
    moduli: np.ndarray, count: int, read: Callable[[int], bytes]
) -> np.ndarray:
    """`count` uniform residues per prime by rejection sampling (plain `% q` would be biased)."""
    rows = []
    for modulus in moduli:
        mask = np.uint64((1 << int(modulus).bit_length()) - 1)
        accepted = np.empty(0, dtype=np.uint64)
        while accepted.size < count:
            candidates = np.frombuffer(read(8 * count), dtype="<u8") & mask
            accepted = np.concatenate([accepted, candidates[candidates < modulus]])
        rows.append(accepted[:count])
    return np.stack(rows)


def _standard_normal(count: int) -> np.ndarray:
    """Standard normal samples by Box-Muller on OS randomness (not a seeded, predictable PRNG)."""
    pairs = (count + 1) // 2
    mantissas = np.frombuffer(os.urandom(16 * pairs), dtype="<u8") >> np.uint64(11)
    uniform_open = (mantissas[:pairs].astype(np.float64) + 1.0) * 2.0**-53  # (0, 1]
    angle = 2 * math.pi * mantissas[pairs:].astype(np.float64) * 2.0**-53
    radius = np.sqrt(-2.0 * np.log(uniform_open))
    return np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:count]


def _gaussian_residues(sigma: float, moduli: np.ndarray, count: int) -> np.ndarray:
    """Integer Gaussian noise as residues, shape (primes, count).

    sigma may exceed float64's 53-bit precision, so the sample is floor(x / 2^32) * 2^32 plus
    32 uniform low bits: the Gaussian's histogram with uniform 2^32-wide bins. It has no lattice
    gaps, which smudging requires (shifting it by a small noise must barely change it).
    """
    high = np.floor(sigma * _standard_normal(count) / 2.0**32).astype(np.int64)
    low = np.frombuffer(os.urandom(4 * count), dtype="<u4").astype(np.uint64)
    column = _column(moduli)
    signed = np.where(high < 0, high + column.astype(np.int64), high)
    high_residues = signed.astype(np.uint64)
    shifted = _mul_mod_once(high_residues, _per_prime(2**32, moduli), column)
    return _add_mod(shifted, low, column)


# ---------------------------------------------------------------- SEAL bridge

_SEAL_HEADER = struct.Struct("<HBBBBHQ")
_SEAL_MAGIC = 0xA15E
# parms_id, ntt, size, N, primes, scale, correction
_CIPHERTEXT_FIELDS = struct.Struct("<4QBQQQdQ")
_PLAINTEXT_FIELDS = struct.Struct("<4QQd")  # parms_id, coeff_count, scale
_MAX_CIPHERTEXT_POLYS = 16  # SEAL_CIPHERTEXT_SIZE_MAX


def _coefficients(seal_object: object, count: int) -> np.ndarray:
    """Copy the first `count` u64 words out of a SEAL object (pybind exposes no buffer)."""
    return np.fromiter(
        map(seal_object.__getitem__, range(count)), dtype=np.uint64, count=count
    )


class _SealRuntime:
    """SEAL context objects for one parameter set, and raw uncompressed loading of SEAL objects.

    sealapi loads only from file paths, so bodies go through mode-0600 scratch files in a private,
    memory-backed directory when available, deleted right after loading.
    """

    def __init__(self, parameters: CkksParameters) -> None:
        """Build the context and read the SEAL build's serialization version."""
        encryption_parameters = seal.EncryptionParameters(seal.SCHEME_TYPE.CKKS)
        encryption_parameters.set_poly_modulus_degree(parameters.poly_modulus_degree)
        encryption_parameters.set_coeff_modulus(
            seal.CoeffModulus.Create(
                parameters.poly_modulus_degree, list(parameters.coeff_modulus_bits)
            )
        )
        self.context = seal.SEALContext(
            encryption_parameters,
            True,
            _SECURITY_LEVELS[parameters.security_level_bits],
        )
        if not self.context.parameters_set():
            raise InvalidInputError(
                f"SEAL refuses the parameters: {self.context.parameters_error_message()}"
            )
        self.encoder = seal.CKKSEncoder(self.context)
        self.evaluator = seal.Evaluator(self.context)
        self.key_parms_id = list(self.context.key_parms_id())
        self.data_parms_id = list(self.context.first_parms_id())
        self.key_moduli = self._moduli(self.context.key_context_data())
        self.data_moduli = self._moduli(self.context.first_context_data())
        shm = "/dev/shm"
        self._scratch = tempfile.TemporaryDirectory(
            prefix="threshold-ckks-", dir=shm if os.path.isdir(shm) else None
        )
        self._version = self._seal_version()

    @staticmethod
    def _moduli(context_data: object) -> np.ndarray:
        """Prime values of one level."""
        primes = context_data.parms().coeff_modulus()
        return np.array([prime.value() for prime in primes], dtype=np.uint64)

    def _seal_version(self) -> Tuple[int, int]:
        """(major, minor) SEAL writes into headers; load refuses any other."""
        path = os.path.join(self._scratch.name, "version-probe")
        seal.Plaintext().save(path)
        with open(path, "rb") as handle:
            _, _, major, minor, _, _, _ = _SEAL_HEADER.unpack(
                handle.read(_SEAL_HEADER.size)
            )
        os.unlink(path)
        return major, minor

    def _header(self, body_size: int) -> bytes:
        """A SEAL header for an uncompressed object."""
        major, minor = self._version
        total = _SEAL_HEADER.size + body_size
        return _SEAL_HEADER.pack(
            _SEAL_MAGIC, _SEAL_HEADER.size, major, minor, 0, 0, total
        )

    def _array(self, values: np.ndarray) -> bytes:
        """A nested DynArray<u64>: header, count, little-endian words."""
        words = values.astype("<u8").tobytes()
        body = struct.pack("<Q", values.size) + words
        return self._header(len(body)) + body

    def _load(self, seal_object: object, body: bytes) -> object:
        """Load a body into a SEAL object through a private scratch file."""
        handle, path = tempfile.mkstemp(dir=self._scratch.name)
        try:
            with os.fdopen(handle, "wb") as scratch:
                scratch.write(self._header(len(body)) + body)
            seal_object.load(self.context, path)
        finally:
            os.unlink(path)
        return seal_object

    def ciphertext_body(
        self, parms_id: List[int], polys: np.ndarray, ntt_form: bool, scale: float
    ) -> bytes:
        """Ciphertext/PublicKey body from residues shaped (polys, primes, N)."""
        size, primes, degree = polys.shape
        fields = _CIPHERTEXT_FIELDS.pack(
            *parms_id, ntt_form, size, degree, primes, scale, 1
        )
        return fields + self._array(polys)

    def plaintext_body(
        self, parms_id: List[int], residues: np.ndarray, scale: float
    ) -> bytes:
        """Plaintext/SecretKey body from NTT-form residues shaped (primes, N)."""
        return _PLAINTEXT_FIELDS.pack(*parms_id, residues.size, scale) + self._array(
            residues
        )

    def load_plaintext(self, residues: np.ndarray, scale: float) -> seal.Plaintext:
        """A data-level NTT plaintext, ready to decode."""
        body = self.plaintext_body(self.data_parms_id, residues, scale)
        return self._load(seal.Plaintext(), body)

    def load_public_key(self, polys: np.ndarray) -> seal.PublicKey:
        """A key-level public key from (p0, p1) residues."""
        body = self.ciphertext_body(self.key_parms_id, polys, True, 1.0)
        return self._load(seal.PublicKey(), body)

    def to_ntt(self, polys: np.ndarray) -> np.ndarray:
        """Data-level coefficient-domain polys (k, primes, N) to NTT form with SEAL's own NTT.

        Polys ride as the components of coefficient-form ciphertexts (at most 16 each); a lone
        poly gets a filler companion because SEAL refuses a ciphertext whose c1 is zero.
        """
        transformed = []
        for start in range(0, len(polys), _MAX_CIPHERTEXT_POLYS):
            chunk = polys[start : start + _MAX_CIPHERTEXT_POLYS]
            carrier = (
                chunk
                if len(chunk) > 1
                else np.concatenate([chunk, np.ones_like(chunk)])
            )
            body = self.ciphertext_body(self.data_parms_id, carrier, False, 1.0)
            ciphertext = self._load(seal.Ciphertext(), body)
            self.evaluator.transform_to_ntt_inplace(ciphertext)
            transformed.append(
                _coefficients(ciphertext, chunk.size).reshape(chunk.shape)
            )
        return np.concatenate(transformed)


@lru_cache(maxsize=None)
def _runtime(parameters: CkksParameters) -> _SealRuntime:
    """One SEAL runtime per parameter set and process."""
    return _SealRuntime(parameters)


@lru_cache(maxsize=8)
def _common_random_polynomial(
    parameters: CkksParameters, crs_seed: bytes
) -> np.ndarray:
    """The agreed polynomial a (key level, NTT form), uniform mod each prime, from SHAKE-256(seed)."""
    runtime = _runtime(parameters)
    stream = _ShakeStream(b"threshold-ckks/crs/v1" + parameters.digest + crs_seed)
    residues = _uniform_residues(
        runtime.key_moduli, parameters.poly_modulus_degree, stream.read
    )
    residues.flags.writeable = False
    return residues


def _crs_digest(crs_seed: bytes) -> bytes:
    """Identifies a key generation run without repeating its seed."""
    return hashlib.sha256(b"threshold-ckks/crs-id/v1" + crs_seed).digest()


# ---------------------------------------------------------------- byte formats

_FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<4sB32s")  # magic, format version, parameters digest


def _preamble(magic: bytes, parameters: CkksParameters) -> bytes:
    """Leading bytes of every serialized object."""
    return _PREAMBLE.pack(magic, _FORMAT_VERSION, parameters.digest)


class _Reader:
    """Strict sequential parser: any shortfall, excess or out-of-range residue raises."""

    def __init__(self, data: bytes, what: str) -> None:
        """Parse `data`, naming it `what` in errors."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise MalformedDataError(
                f"{what}: expected bytes, got {type(data).__name__}"
            )
        self._data = bytes(data)
        self._offset = 0
        self._what = what

    def take(self, size: int) -> bytes:
        """The next `size` bytes."""
        end = self._offset + size
        if end > len(self._data):
            raise MalformedDataError(
                f"{self._what}: truncated, needs {end} bytes, has {len(self._data)}"
            )
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def unpack(self, layout: struct.Struct) -> tuple:
        """The next fixed-layout fields."""
        return layout.unpack(self.take(layout.size))

    def preamble(self, magic: bytes, parameters: CkksParameters) -> None:
        """Check magic, format version and parameters digest."""
        found_magic, version, digest = self.unpack(_PREAMBLE)
        if found_magic != magic or version != _FORMAT_VERSION:
            raise MalformedDataError(
                f"{self._what}: not a v{_FORMAT_VERSION} {magic!r} object "
                f"(found {found_magic!r} v{version})"
            )
        if digest != parameters.digest:
            raise ParameterMismatchError(
                f"{self._what}: made under parameters {digest.hex()[:16]}, "
                f"expected {parameters.digest.hex()[:16]}"
            )

    def residues(self, shape: Tuple[int, ...], moduli: np.ndarray) -> np.ndarray:
        """u64 little-endian residues of `shape` whose axis -2 runs over `moduli`."""
        raw = np.frombuffer(self.take(8 * math.prod(shape)), dtype="<u8").reshape(shape)
        if (raw >= _column(moduli)).any():
            raise MalformedDataError(
                f"{self._what}: a residue is not below its modulus"
            )
        return raw.astype(np.uint64)

    def finish(self) -> None:
        """Refuse trailing bytes."""
        if self._offset != len(self._data):
            raise MalformedDataError(
                f"{self._what}: {len(self._data) - self._offset} unexpected trailing bytes"
            )


def _residue_bytes(residues: np.ndarray) -> bytes:
    """Raw 8-byte little-endian residues (uniform data: compression would only add overhead)."""
    return residues.astype("<u8").tobytes()


def _check_roster(index: int, n_parties: int, threshold: int) -> None:
    """Party indices run 1..n (Shamir evaluation points); 1 <= t <= n."""
    if not 1 <= threshold <= n_parties <= 0xFFFF:
        raise InvalidInputError(
            f"need 1 <= threshold ({threshold}) <= n_parties ({n_parties})"
        )
    if not 1 <= index <= n_parties:
        raise InvalidInputError(f"party index {index} is not in 1..{n_parties}")


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


# ---------------------------------------------------------------- distributed key generation

_PUBLIC_KEY_SHARE_MAGIC = b"TCPS"
_PUBLIC_KEY_SHARE_FIELDS = struct.Struct("<32sH")  # crs digest, party index
_JOINT_KEY_MAGIC = b"TCPK"
_JOINT_KEY_FIELDS = struct.Struct("<HHH")  # n_parties, threshold, seed length
_SUB_SHARE_MAGIC = b"TCSS"
# crs digest, sender, recipient, n_parties, threshold
_SUB_SHARE_FIELDS = struct.Struct("<32sHHHH")


@dataclass(frozen=True, eq=False)
class PublicKeyShare:
    """One agent's p0_i = -a*s_i + e_i (key level, NTT form), published at key generation."""

    parameters: CkksParameters
    party_index: int
    crs_digest: bytes
    residues: np.ndarray

    def to_bytes(self) -> bytes:
        """Compact bytes: preamble, crs digest, index, raw residues."""
        fields = _PUBLIC_KEY_SHARE_FIELDS.pack(self.crs_digest, self.party_index)
        return (
            _preamble(_PUBLIC_KEY_SHARE_MAGIC, self.parameters)
            + fields
            + _residue_bytes(self.residues)
        )

    @classmethod
    def from_bytes(
        cls, data: bytes, parameters: CkksParameters = DEFAULT_PARAMETERS
    ) -> "PublicKeyShare":
        """Strictly parse bytes made by to_bytes under `parameters`."""
        reader = _Reader(data, "public key share")
        reader.preamble(_PUBLIC_KEY_SHARE_MAGIC, parameters)
        crs_digest, party_index = reader.unpack(_PUBLIC_KEY_SHARE_FIELDS)
        moduli = _runtime(parameters).key_moduli
        residues = reader.residues(
            (len(moduli), parameters.poly_modulus_degree), moduli
        )
        reader.finish()
        return cls(parameters, party_index, crs_digest, residues)


@dataclass(frozen=True, eq=False)
class JointPublicKey:
    """(sum p0_i, a): a standard SEAL public key of the joint secret, plus the roster it came from."""

    parameters: CkksParameters
    n_parties: int
    threshold: int
    crs_seed: bytes
    p0: np.ndarray

    def to_bytes(self) -> bytes:
        """Compact bytes: a is regenerated from the seed, so only p0 is stored."""
        fields = _JOINT_KEY_FIELDS.pack(
            self.n_parties, self.threshold, len(self.crs_seed)
        )
        return (
            _preamble(_JOINT_KEY_MAGIC, self.parameters)
            + fields
            + self.crs_seed
            + _residue_bytes(self.p0)
        )

    @classmethod
    def from_bytes(
        cls, data: bytes, parameters: CkksParameters = DEFAULT_PARAMETERS
    ) -> "JointPublicKey":
        """Strictly parse bytes made by to_bytes under `parameters`."""
        reader = _Reader(data, "joint public key")
        reader.preamble(_JOINT_KEY_MAGIC, parameters)
        n_parties, threshold, seed_length = reader.unpack(_JOINT_KEY_FIELDS)
        crs_seed = reader.take(seed_length)
        moduli = _runtime(parameters).key_moduli
        p0 = reader.residues((len(moduli), parameters.poly_modulus_degree), moduli)
        reader.finish()
        _check_roster(1, n_parties, threshold)
        return cls(parameters, n_parties, threshold, crs_seed, p0)

    @cached_property
    def digest(self) -> bytes:
        """sha256 of to_bytes(): what ciphertexts and shares are bound to."""
        return hashlib.sha256(self.to_bytes()).digest()

    @cached_property
    def seal_public_key(self) -> seal.PublicKey:
        """The key as a sealapi PublicKey, usable by any SEAL Encryptor."""
        polys = np.stack(
            [self.p0, _common_random_polynomial(self.parameters, self.crs_seed)]
        )
        return _runtime(self.parameters).load_public_key(polys)

    @cached_property
    def encryptor(self) -> seal.Encryptor:
        """A SEAL encryptor under this key."""
        return seal.Encryptor(_runtime(self.parameters).context, self.seal_public_key)


class KeyGenerationParty:
    """One agent's side of key generation; discard it once finalize() returned its threshold share.

    Steps: publish box_public_key and public_key_share(); send encrypted_sub_shares(box keys);
    combine_public_key_shares() of all agents; finalize() with the sub-shares addressed to it.
    """

    def __init__(
        self,
        index: int,
        n_parties: int,
        threshold: int,
        crs_seed: bytes,
        parameters: CkksParameters = DEFAULT_PARAMETERS,
        box_key: Optional[PrivateKey] = None,
    ) -> None:
        """Sample s_i (and a box key pair unless one was already published); derive p0_i and f_i(1..n)."""
        _check_roster(index, n_parties, threshold)
        if not crs_seed:
            raise InvalidInputError("the common random seed must not be empty")
        self.index = index
        self.n_parties = n_parties
        self.threshold = threshold
        self.parameters = parameters
        self._crs_seed = bytes(crs_seed)
        self._box_key = box_key or PrivateKey.generate()
        runtime = _runtime(parameters)
        secret_key = seal.KeyGenerator(runtime.context).secret_key()
        key_shape = (len(runtime.key_moduli), parameters.poly_modulus_degree)
        self._secret = _coefficients(secret_key.data(), math.prod(key_shape)).reshape(
            key_shape
        )
        self._public_key_residues = self._public_key_part(secret_key)
        self._evaluations = self._shamir_evaluations()

    @property
    def box_public_key(self) -> bytes:
        """Curve25519 public key to publish at registration, for sub-share boxes."""
        return bytes(self._box_key.public_key)

    def _public_key_part(self, secret_key: seal.SecretKey) -> np.ndarray:
        """p0_i = -a*s_i + e_i from SEAL's symmetric zero encryption (c0 + c1*s_i = -e_i)."""
        runtime = _runtime(self.parameters)
        zero = seal.Ciphertext()
        seal.Encryptor(runtime.context, secret_key).encrypt_zero_symmetric(
            runtime.key_parms_id, zero
        )
        c0, c1 = _coefficients(zero, 2 * self._secret.size).reshape(
            (2,) + self._secret.shape
        )
        column = _column(runtime.key_moduli)
        a = _common_random_polynomial(self.parameters, self._crs_seed)
        # -a*s - c0 - c1*s = -a*s + e
        masked = _mul_mod_once(_add_mod(a, c1, column), self._secret, column)
        return _neg_mod(_add_mod(masked, c0, column), column)

    def public_key_share(self) -> PublicKeyShare:
        """This agent's p0_i to publish."""
        return PublicKeyShare(
            self.parameters,
            self.index,
            _crs_digest(self._crs_seed),
            self._public_key_residues,
        )

    def _shamir_evaluations(self) -> Dict[int, np.ndarray]:
        """f_i(j) for j = 1..n, f_i(0) = s_i on the data-level primes, degree t-1, fresh coefficients."""
        moduli = _runtime(self.parameters).data_moduli
        column = _column(moduli)
        secret = self._secret[: len(moduli)]
        coefficients = [
            _uniform_residues(moduli, self.parameters.poly_modulus_degree, os.urandom)
            for _ in range(self.threshold - 1)
        ]
        evaluations = {}
        for point in range(1, self.n_parties + 1):
            point_residues = _per_prime(point, moduli)
            value = np.zeros_like(secret)
            for coefficient in reversed(coefficients):  # Horner, highest degree first
                value = _add_mod(
                    _mul_mod_once(value, point_residues, column), coefficient, column
                )
            value = _add_mod(
                _mul_mod_once(value, point_residues, column), secret, column
            )
            evaluations[point] = value
        return evaluations

    def encrypted_sub_shares(
        self, box_public_keys: Mapping[int, bytes]
    ) -> Dict[int, bytes]:
        """f_i(j) for every other agent j, each in a Box only j can open (and that proves sender i)."""
        header_fields = (_crs_digest(self._crs_seed), self.index)
        boxed = {}
        for recipient in range(1, self.n_parties + 1):
            if recipient == self.index:
                continue
            fields = _SUB_SHARE_FIELDS.pack(
                *header_fields, recipient, self.n_parties, self.threshold
            )
            payload = (
                _preamble(_SUB_SHARE_MAGIC, self.parameters)
                + fields
                + _residue_bytes(self._evaluations[recipient])
            )
            box = Box(self._box_key, _box_public_key(box_public_keys, recipient))
            boxed[recipient] = bytes(box.encrypt(payload))
        return boxed

    def _open_sub_share(
        self, sender: int, sealed: bytes, sender_key: BoxPublicKey
    ) -> np.ndarray:
        """Open and check one sub-share addressed to this agent."""
        try:
            payload = Box(self._box_key, sender_key).decrypt(bytes(sealed))
        except CryptoError as error:
            raise SubShareDecryptionError(
                f"sub-share from party {sender} to party {self.index} does not open: {error}"
            ) from error
        reader = _Reader(payload, f"sub-share {sender}->{self.index}")
        reader.preamble(_SUB_SHARE_MAGIC, self.parameters)
        fields = reader.unpack(_SUB_SHARE_FIELDS)
        expected = (
            _crs_digest(self._crs_seed),
            sender,
            self.index,
            self.n_parties,
            self.threshold,
        )
        if fields != expected:
            raise ForeignDataError(
                f"sub-share {sender}->{self.index} belongs to another key generation or roster"
            )
        moduli = _runtime(self.parameters).data_moduli
        residues = reader.residues(
            (len(moduli), self.parameters.poly_modulus_degree), moduli
        )
        reader.finish()
        return residues

    def finalize(
        self,
        encrypted_sub_shares: Mapping[int, bytes],
        box_public_keys: Mapping[int, bytes],
        public_key: "JointPublicKey",
    ) -> "ThresholdKeyShare":
        """s'_j = f_j(j) + sum of the sub-shares from all other agents, bound to the joint key."""
        senders = set(range(1, self.n_parties + 1)) - {self.index}
        if set(encrypted_sub_shares) != senders:
            raise InvalidInputError(
                f"need sub-shares from exactly parties {sorted(senders)}, "
                f"got {sorted(encrypted_sub_shares)}"
            )
        roster = (public_key.parameters, public_key.n_parties, public_key.threshold)
        if roster != (self.parameters, self.n_parties, self.threshold) or _crs_digest(
            public_key.crs_seed
        ) != _crs_digest(self._crs_seed):
            raise ForeignDataError(
                "the joint public key belongs to another key generation"
            )
        column = _column(_runtime(self.parameters).data_moduli)
        key_share = self._evaluations[self.index]
        for sender in sorted(senders):
            received = self._open_sub_share(
                sender,
                encrypted_sub_shares[sender],
                _box_public_key(box_public_keys, sender),
            )
            key_share = _add_mod(key_share, received, column)
        return ThresholdKeyShare(
            self.index,
            self.n_parties,
            self.threshold,
            public_key.digest,
            key_share,
            self.parameters,
        )


def _box_public_key(box_public_keys: Mapping[int, bytes], index: int) -> BoxPublicKey:
    """A registered Curve25519 key, refused clearly when missing or malformed."""
    try:
        return BoxPublicKey(bytes(box_public_keys[index]))
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidInputError(f"no valid box public key for party {index}") from error


def combine_public_key_shares(
    shares: Sequence[PublicKeyShare],
    threshold: int,
    crs_seed: bytes,
    parameters: CkksParameters = DEFAULT_PARAMETERS,
) -> JointPublicKey:
    """The joint public key (sum p0_i, a) from the shares of all n agents, indices 1..n."""
    indices = [share.party_index for share in shares]
    if len(set(indices)) != len(indices):
        raise DuplicateShareError(
            f"public key shares repeat a party: {sorted(indices)}"
        )
    if sorted(indices) != list(range(1, len(shares) + 1)):
        raise InvalidInputError(
            f"need public key shares of parties 1..n, got {sorted(indices)}"
        )
    _check_roster(1, len(shares), threshold)
    for share in shares:
        if share.parameters != parameters:
            raise ParameterMismatchError(
                f"public key share of party {share.party_index}"
            )
        if share.crs_digest != _crs_digest(crs_seed):
            raise ForeignShareError(
                f"public key share of party {share.party_index} used another common random seed"
            )
    column = _column(_runtime(parameters).key_moduli)
    p0 = shares[0].residues
    for share in shares[1:]:
        p0 = _add_mod(p0, share.residues, column)
    return JointPublicKey(parameters, len(shares), threshold, bytes(crs_seed), p0)


# ---------------------------------------------------------------- encrypted vectors

_VECTOR_MAGIC = b"TCEV"
# key digest, length, ciphertext count, total weight
_VECTOR_FIELDS = struct.Struct("<32sQIQ")


@dataclass(frozen=True, eq=False)
class EncryptedVector:
    """Ciphertexts of W * v for a float vector v, W = total aggregation weight (1 when fresh).

    residues: uint64 (ciphertexts, 2, data primes, N), NTT form, data level, scale 2^scale_bits.
    """

    parameters: CkksParameters
    public_key_digest: bytes
    length: int
    total_weight: int
    residues: np.ndarray

    @property
    def ciphertext_count(self) -> int:
        """Number of ciphertexts."""
        return int(self.residues.shape[0])

    def to_bytes(self) -> bytes:
        """Header (params digest, key digest, length, count, weight) + raw 8-byte residues."""
        fields = _VECTOR_FIELDS.pack(
            self.public_key_digest,
            self.length,
            self.ciphertext_count,
            self.total_weight,
        )
        return (
            _preamble(_VECTOR_MAGIC, self.parameters)
            + fields
            + _residue_bytes(self.residues)
        )

    @classmethod
    def from_bytes(
        cls, data: bytes, parameters: CkksParameters = DEFAULT_PARAMETERS
    ) -> "EncryptedVector":
        """Strictly parse bytes made by to_bytes under `parameters`."""
        reader = _Reader(data, "encrypted vector")
        reader.preamble(_VECTOR_MAGIC, parameters)
        key_digest, length, count, total_weight = reader.unpack(_VECTOR_FIELDS)
        if length < 1 or count != _ciphertexts_for(length, parameters):
            raise MalformedDataError(
                f"encrypted vector: {count} ciphertexts cannot hold exactly {length} values"
            )
        if not 1 <= total_weight <= parameters.max_total_weight:
            raise MalformedDataError(
                f"encrypted vector: total weight {total_weight} out of range"
            )
        moduli = _runtime(parameters).data_moduli
        shape = (count, 2, len(moduli), parameters.poly_modulus_degree)
        residues = reader.residues(shape, moduli)
        reader.finish()
        return cls(parameters, key_digest, length, total_weight, residues)

    @cached_property
    def digest(self) -> bytes:
        """sha256 of to_bytes(): decryption shares are bound to it."""
        return hashlib.sha256(self.to_bytes()).digest()


def _ciphertexts_for(length: int, parameters: CkksParameters) -> int:
    """Ciphertexts needed for `length` values."""
    return -(-length // parameters.slot_count)


def encrypt_vector(values: np.ndarray, public_key: JointPublicKey) -> EncryptedVector:
    """Encrypt a flat float vector (any length) under the joint key, N/2 values per ciphertext."""
    parameters = public_key.parameters
    vector = np.asarray(values, dtype=np.float64)
    if vector.ndim != 1 or vector.size == 0:
        raise InvalidInputError(
            f"expected a non-empty flat vector, got shape {vector.shape}"
        )
    if not np.isfinite(vector).all():
        raise InvalidInputError("the vector contains NaN or infinity")
    if np.abs(vector).max() > parameters.max_abs_value:
        raise InvalidInputError(f"a value exceeds the bound {parameters.max_abs_value}")
    runtime = _runtime(parameters)
    count = _ciphertexts_for(vector.size, parameters)
    ciphertext_shape = (2, len(runtime.data_moduli), parameters.poly_modulus_degree)
    residues = np.empty((count,) + ciphertext_shape, dtype=np.uint64)
    slots = parameters.slot_count
    for position in range(count):
        plaintext = seal.Plaintext()
        chunk = vector[position * slots : (position + 1) * slots]
        runtime.encoder.encode(chunk, parameters.scale, plaintext)
        ciphertext = seal.Ciphertext()
        public_key.encryptor.encrypt(plaintext, ciphertext)
        words = _coefficients(ciphertext, math.prod(ciphertext_shape))
        residues[position] = words.reshape(ciphertext_shape)
    return EncryptedVector(parameters, public_key.digest, vector.size, 1, residues)


def aggregate_encrypted(
    updates: Sequence[EncryptedVector], weights: Optional[Sequence[int]] = None
) -> EncryptedVector:
    """Weighted sum of encrypted vectors; decrypting it yields sum w_i W_i v_i / sum w_i W_i.

    Weights are positive integers (e.g. sample counts; default 1 each, a plain average). Integer
    multiplication and modular addition are exact and order-independent, so every agent gets
    byte-identical output, and normalising by the total at decode time loses no precision.
    """
    if not updates:
        raise InvalidInputError("nothing to aggregate")
    weights = [1] * len(updates) if weights is None else list(weights)
    if len(weights) != len(updates) or not all(
        isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w >= 1
        for w in weights
    ):
        raise InvalidInputError("need one positive integer weight per update")
    first = updates[0]
    for update in updates:
        if update.parameters != first.parameters:
            raise ParameterMismatchError(
                "updates were encrypted under different parameters"
            )
        if update.public_key_digest != first.public_key_digest:
            raise ForeignDataError("updates were encrypted under different joint keys")
        if update.length != first.length:
            raise InvalidInputError(
                f"update lengths differ: {update.length} != {first.length}"
            )
    total_weight = sum(
        int(w) * update.total_weight for w, update in zip(weights, updates)
    )
    if total_weight > first.parameters.max_total_weight:
        raise InvalidInputError(
            f"total weight {total_weight} exceeds the parameters' bound"
        )
    moduli = _runtime(first.parameters).data_moduli
    column = _column(moduli)
    total = np.zeros_like(first.residues)
    for weight, update in zip(weights, updates):
        term = update.residues
        if weight != 1:
            term = _mul_mod_once(term, _per_prime(int(weight), moduli), column)
        total = _add_mod(total, term, column)
    return EncryptedVector(
        first.parameters, first.public_key_digest, first.length, total_weight, total
    )


# ---------------------------------------------------------------- threshold decryption

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
    public_key: JointPublicKey,
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
    public_key: JointPublicKey,
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
