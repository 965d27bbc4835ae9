"""CKKS parameters (one frozen definition whose digest tags every object) and the noise bounds."""

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Tuple

import tenseal.sealapi as seal

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    InvalidInputError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.ring import (
    GAUSSIAN_TAIL_SIGMAS,
)

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
    image_noise_sigma_bits: int = 8

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


def image_noise_sigma(parameters: CkksParameters) -> float:
    """Sigma of the noise in a dealing's public images (larger only makes their RLWE harder)."""
    return float(2**parameters.image_noise_sigma_bits)


def image_noise_bound(parameters: CkksParameters) -> float:
    """Every image noise coefficient is below this: the sampler redraws beyond the tail cut."""
    return GAUSSIAN_TAIL_SIGMAS * image_noise_sigma(parameters)
