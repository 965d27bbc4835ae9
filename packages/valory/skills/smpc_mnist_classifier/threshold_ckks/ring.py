"""Arithmetic in R_q over 60-bit RNS primes with numpy uint64, and the samplers (XOF-uniform, Gaussian)."""

import hashlib
import math
import os
from typing import Callable, Sequence

import numpy as np

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
        self._output = b""

    def read(self, size: int) -> bytes:
        """The next `size` bytes of the stream (the output is extended by doubling, not recomputed
        for every read)."""
        end = self._offset + size
        if end > len(self._output):
            self._output = hashlib.shake_256(self._seed).digest(
                max(end, 2 * len(self._output))
            )
        chunk = self._output[self._offset : end]
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


# samples beyond this many sigma are redrawn, so bounds built on it hold with certainty
GAUSSIAN_TAIL_SIGMAS = 6


def _rounded_gaussian(sigma: float, count: int) -> np.ndarray:
    """round(sigma * N(0, 1)) as int64, tail-cut at GAUSSIAN_TAIL_SIGMAS * sigma (redrawn)."""
    values = np.rint(sigma * _standard_normal(count))
    outside = np.abs(values) > GAUSSIAN_TAIL_SIGMAS * sigma
    while outside.any():
        values[outside] = np.rint(sigma * _standard_normal(int(outside.sum())))
        outside = np.abs(values) > GAUSSIAN_TAIL_SIGMAS * sigma
    return values.astype(np.int64)


def _ternary(count: int) -> np.ndarray:
    """Uniform {-1, 0, 1} as int64 (SEAL's secret distribution), from OS randomness."""
    accepted = np.empty(0, dtype=np.int64)
    while accepted.size < count:
        candidates = np.frombuffer(os.urandom(2 * count), dtype=np.uint8)
        kept = candidates[candidates < 255].astype(np.int64)
        accepted = np.concatenate([accepted, kept % 3 - 1])
    return accepted[:count]


def _signed_residues(values: np.ndarray, moduli: np.ndarray) -> np.ndarray:
    """Signed int64 values with |v| < q as residues, shape (primes,) + values.shape."""
    shape = (-1,) + (1,) * values.ndim
    moduli_signed = moduli.astype(np.int64).reshape(shape)
    return np.where(values < 0, values + moduli_signed, values).astype(np.uint64)


def _rounded_gaussian_residues(
    sigma: float, moduli: np.ndarray, count: int
) -> np.ndarray:
    """Tail-cut rounded Gaussian noise as residues, shape (primes, count)."""
    return _signed_residues(_rounded_gaussian(sigma, count), moduli)


def _centered(residues: np.ndarray, moduli: np.ndarray) -> np.ndarray:
    """Residues (..., primes, N) as signed int64 in (-q/2, q/2], prime by prime."""
    moduli_column = _column(moduli)
    signed = residues.astype(np.int64)
    return np.where(
        residues > moduli_column // np.uint64(2),
        signed - moduli_column.astype(np.int64),
        signed,
    )


def _is_short(coefficients: np.ndarray, moduli: np.ndarray, bound: float) -> bool:
    """Whether coefficient-domain residues (..., primes, N) are one integer vector with |v| <= bound.

    A short v has the same centered value on every prime; conversely equal centered values c
    on every prime mean v = c mod the product, so no CRT reconstruction is needed.
    """
    centered = _centered(coefficients, moduli)
    first = centered[..., :1, :]
    return bool((centered == first).all() and np.abs(first).max() <= bound)
