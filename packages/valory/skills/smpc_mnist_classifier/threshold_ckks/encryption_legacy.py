"""Encrypted vectors: a flat float vector as CKKS ciphertexts under the joint public key."""

import hashlib
import math
import struct
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import tenseal.sealapi as seal

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    InvalidInputError,
    MalformedDataError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    DEFAULT_PARAMETERS,
    CkksParameters,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.seal_bridge import (
    _coefficients,
    _runtime,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.wire import (
    _preamble,
    _Reader,
    _residue_bytes,
)


if TYPE_CHECKING:  # pragma: no cover
    from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.keygen import JointPublicKey

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


def encrypt_vector(values: np.ndarray, public_key: "JointPublicKey") -> EncryptedVector:
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

