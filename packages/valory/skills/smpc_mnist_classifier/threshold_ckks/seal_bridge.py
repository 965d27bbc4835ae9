"""The SEAL runtime: contexts, raw uncompressed object bodies and SEAL's own NTT.

sealapi exposes no buffers and (de)serializes only through file paths: objects are saved to and
loaded from mode-0600 scratch files in a private, memory-backed directory when available.
"""

import os
import struct
import tempfile
from functools import lru_cache
from typing import List, Tuple

import numpy as np
import tenseal.sealapi as seal
import zstandard

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    InvalidInputError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    CkksParameters,
    _SECURITY_LEVELS,
)

_SEAL_HEADER = struct.Struct("<HBBBBHQ")
_SEAL_MAGIC = 0xA15E
# parms_id, ntt, size, N, primes, scale, correction
_CIPHERTEXT_FIELDS = struct.Struct("<4QBQQQdQ")
_PLAINTEXT_FIELDS = struct.Struct("<4QQd")  # parms_id, coeff_count, scale
_MAX_CIPHERTEXT_POLYS = 16  # SEAL_CIPHERTEXT_SIZE_MAX


# where the u64 data words start in a saved Ciphertext / Plaintext body
_DATA_OFFSETS = {seal.Ciphertext: 97, seal.Plaintext: 72}
_COMPRESSION_NONE = 0
_COMPRESSION_ZSTD = 2


@lru_cache(maxsize=None)
def _scratch() -> tempfile.TemporaryDirectory:
    """A private scratch directory for this process, in memory (/dev/shm) when available."""
    shm = "/dev/shm"
    return tempfile.TemporaryDirectory(
        prefix="threshold-ckks-", dir=shm if os.path.isdir(shm) else None
    )


def _coefficients(seal_object: object, count: int) -> np.ndarray:
    """The first `count` u64 data words of a SEAL Ciphertext or Plaintext.

    Saved (SEAL compresses with zstd), decompressed and read in one go: ~50x faster than
    reading word by word through pybind.
    """
    handle, path = tempfile.mkstemp(dir=_scratch().name)
    os.close(handle)
    try:
        seal_object.save(path)
        with open(path, "rb") as scratch:
            saved = scratch.read()
    finally:
        os.unlink(path)
    _, _, _, _, compression, _, total = _SEAL_HEADER.unpack_from(saved)
    body = saved[_SEAL_HEADER.size : total]
    if compression == _COMPRESSION_ZSTD:
        body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
    elif compression != _COMPRESSION_NONE:
        raise InvalidInputError(
            f"SEAL saved with unsupported compression {compression}"
        )
    offset = _DATA_OFFSETS[type(seal_object)]
    return np.frombuffer(body, dtype="<u8", count=count, offset=offset).astype(
        np.uint64
    )


class _SealRuntime:
    """SEAL context objects for one parameter set, and raw uncompressed loading of SEAL objects.

    Bodies go through scratch files (see the module docstring), deleted right after loading.
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
        self._version = self._seal_version()

    @staticmethod
    def _moduli(context_data: object) -> np.ndarray:
        """Prime values of one level."""
        primes = context_data.parms().coeff_modulus()
        return np.array([prime.value() for prime in primes], dtype=np.uint64)

    def _seal_version(self) -> Tuple[int, int]:
        """(major, minor) SEAL writes into headers; load refuses any other."""
        handle, path = tempfile.mkstemp(dir=_scratch().name)
        os.close(handle)
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
        handle, path = tempfile.mkstemp(dir=_scratch().name)
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
        """Data-level coefficient-domain polys (k, primes, N) to NTT form with SEAL's own NTT."""
        return self._transform(polys, to_ntt=True)

    def from_ntt(self, polys: np.ndarray) -> np.ndarray:
        """Data-level NTT-form polys (k, primes, N) to coefficients with SEAL's inverse NTT."""
        return self._transform(polys, to_ntt=False)

    def _transform(self, polys: np.ndarray, to_ntt: bool) -> np.ndarray:
        """Polys ride as the components of ciphertexts (at most 16 each) through SEAL's (i)NTT.

        Each carrier ends with a filler poly of ones: SEAL throws on a "transparent" ciphertext
        (all components after the first zero), which input polys may well be.
        """
        transformed = []
        step = _MAX_CIPHERTEXT_POLYS - 1
        for start in range(0, len(polys), step):
            chunk = polys[start : start + step]
            carrier = np.concatenate([chunk, np.ones_like(chunk[:1])])
            body = self.ciphertext_body(self.data_parms_id, carrier, not to_ntt, 1.0)
            ciphertext = self._load(seal.Ciphertext(), body)
            if to_ntt:
                self.evaluator.transform_to_ntt_inplace(ciphertext)
            else:
                self.evaluator.transform_from_ntt_inplace(ciphertext)
            transformed.append(
                _coefficients(ciphertext, chunk.size).reshape(chunk.shape)
            )
        return np.concatenate(transformed)


@lru_cache(maxsize=None)
def _runtime(parameters: CkksParameters) -> _SealRuntime:
    """One SEAL runtime per parameter set and process."""
    return _SealRuntime(parameters)
