"""CKKS encoding in numpy: the canonical embedding by FFT, and exact conversions between floats and RNS.

SEAL's encoder takes ~4 ms per polynomial at scales above 2^64 (multi-precision path); the same map
in numpy costs a fraction of that. Slot i is the value at zeta^(3^i mod 2N), zeta = exp(i*pi/N), as in
SEAL, so SEAL decodes what this encodes and vice versa (a test checks both directions).
"""

from functools import lru_cache
from typing import Tuple

import numpy as np

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.ring import (
    _add_mod,
    _column,
    _mul_mod,
    _mul_mod_once,
    _neg_mod,
    _per_prime,
    _shoup_companion,
)

# float64 integers below 2^62 convert to int64 exactly; larger ones are mantissa * 2^exponent
_DIRECT_LIMIT = 2.0**62
_MANTISSA_BITS = 53
_MAX_EXPONENT = 1100


@lru_cache(maxsize=None)
def _slot_positions(degree: int) -> Tuple[np.ndarray, np.ndarray]:
    """Indices k (root zeta^(2k+1)) of each slot's root and of its conjugate, in SEAL's slot order."""
    exponents = np.array(
        [pow(3, slot, 2 * degree) for slot in range(degree // 2)], dtype=np.int64
    )
    positions = (exponents - 1) // 2
    return positions, degree - 1 - positions


@lru_cache(maxsize=None)
def _twist(degree: int) -> np.ndarray:
    """zeta^j for j = 0..N-1: turns the negacyclic evaluation into a plain DFT."""
    return np.exp(1j * np.pi * np.arange(degree) / degree)


def embed_inverse(slots: np.ndarray, degree: int) -> np.ndarray:
    """Real coefficient vectors whose evaluations at the slot roots are `slots` (rows: polys)."""
    positions, conjugates = _slot_positions(degree)
    values = np.zeros((slots.shape[0], degree), dtype=np.complex128)
    values[:, positions] = slots
    values[:, conjugates] = np.conj(slots)
    return (np.fft.fft(values, axis=1) / degree * np.conj(_twist(degree))).real


def embed(coefficients: np.ndarray) -> np.ndarray:
    """Evaluations of real coefficient vectors (rows: polys) at the slot roots."""
    degree = coefficients.shape[1]
    positions, _ = _slot_positions(degree)
    values = np.fft.ifft(coefficients * _twist(degree), axis=1) * degree
    return values[:, positions]


@lru_cache(maxsize=None)
def _powers_of_two(moduli: Tuple[int, ...]) -> Tuple[np.ndarray, np.ndarray]:
    """2^e mod q for e < _MAX_EXPONENT, shape (primes, exponents), and their Shoup companions."""
    powers = np.array(
        [[pow(2, e, q) for e in range(_MAX_EXPONENT)] for q in moduli], dtype=np.uint64
    )
    column = np.array(moduli, dtype=np.uint64).reshape(-1, 1)
    return powers, _shoup_companion(powers, column)


def integers_to_residues(values: np.ndarray, moduli: np.ndarray) -> np.ndarray:
    """Integer-valued float64 array (polys, N) -> exact residues (polys, primes, N)."""
    column = _column(moduli)
    magnitude = np.abs(values)
    direct = magnitude < _DIRECT_LIMIT
    residues = np.where(direct, magnitude, 0.0).astype(np.uint64)[:, None, :] % column
    if not direct.all():
        mantissa, exponent = np.frexp(np.where(direct, 0.0, magnitude))
        whole = (mantissa * 2.0**_MANTISSA_BITS).astype(np.uint64)[:, None, :] % column
        shift = np.clip(exponent - _MANTISSA_BITS, 0, _MAX_EXPONENT - 1)
        powers, companions = _powers_of_two(tuple(int(q) for q in moduli))
        rows = range(len(moduli))
        factor = np.stack([powers[row][shift] for row in rows], axis=1)
        companion = np.stack([companions[row][shift] for row in rows], axis=1)
        large = _mul_mod(whole, factor, companion, column)
        residues = np.where(direct[:, None, :], residues, large)
    return np.where((values < 0)[:, None, :], _neg_mod(residues, column), residues)


@lru_cache(maxsize=None)
def _garner_constants(moduli: Tuple[int, ...]) -> Tuple[Tuple[int, ...], ...]:
    """For prime i: prod_{k<l} q_k mod q_i for each l <= i (mixed-radix weights) and the inverse."""
    rows = []
    for i, modulus in enumerate(moduli):
        weights = []
        product = 1
        for previous in moduli[:i]:
            weights.append(product % modulus)
            product *= previous
        rows.append(tuple(weights) + (pow(product, -1, modulus) if i else 1,))
    return tuple(rows)


def residues_to_floats(residues: np.ndarray, moduli: np.ndarray) -> np.ndarray:
    """Centered values of residues (..., primes, N) as float64 (Garner's mixed radix, top digit signed)."""
    primes = [int(q) for q in moduli]
    constants = _garner_constants(tuple(primes))
    digits = []
    for i, modulus in enumerate(primes):
        prime = np.array([modulus], dtype=np.uint64)
        q = _column(prime)
        partial = np.zeros_like(residues[..., i : i + 1, :])
        for k, digit in enumerate(digits):
            term = digit % q
            if constants[i][k] != 1:
                term = _mul_mod_once(term, _per_prime(constants[i][k], prime), q)
            partial = _add_mod(partial, term, q)
        difference = _add_mod(residues[..., i : i + 1, :], _neg_mod(partial, q), q)
        if constants[i][-1] != 1:
            difference = _mul_mod_once(difference, _per_prime(constants[i][-1], prime), q)
        digits.append(difference)
    top = digits[-1].astype(np.int64)  # primes < 2^62: exact, and centering stays exact
    value = np.where(top >= primes[-1] // 2, top - primes[-1], top).astype(np.float64)
    for digit, modulus in zip(reversed(digits[:-1]), reversed(primes[:-1])):
        # negative values take the complement digit, so small magnitudes keep their low bits
        below = (modulus - digit).astype(np.float64)
        value = np.where(
            value < 0,
            (value + 1) * modulus - below,
            value * modulus + digit.astype(np.float64),
        )
    return value[..., 0, :]
