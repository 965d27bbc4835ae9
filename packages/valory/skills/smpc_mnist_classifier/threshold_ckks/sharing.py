"""Shamir sharing over R_q: rosters of x-coordinates 1..n, share evaluation, Lagrange coefficients.

Combining uses Shoup's trick: n! * lambda_j^S is an integer for every subset S of 1..n, so a
combiner multiplies by small integers and never needs fractions (or inverses) mod q.
"""

import math
from typing import Dict, Iterable, Sequence

import numpy as np

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    InvalidInputError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.ring import (
    _add_mod,
    _column,
    _mul_mod_once,
    _per_prime,
)


def _check_roster(index: int, n_parties: int, threshold: int) -> None:
    """Party indices run 1..n (Shamir evaluation points); 1 <= t <= n."""
    if not 1 <= threshold <= n_parties <= 0xFFFF:
        raise InvalidInputError(
            f"need 1 <= threshold ({threshold}) <= n_parties ({n_parties})"
        )
    if not 1 <= index <= n_parties:
        raise InvalidInputError(f"party index {index} is not in 1..{n_parties}")


def shamir_evaluations(
    secret: np.ndarray,
    coefficients: Sequence[np.ndarray],
    points: Iterable[int],
    moduli: np.ndarray,
) -> Dict[int, np.ndarray]:
    """f(x) = secret + c_1 x + ... + c_{t-1} x^{t-1} at each point, by Horner, residue-wise mod q."""
    column = _column(moduli)
    evaluations = {}
    for point in points:
        point_residues = _per_prime(point, moduli)
        value = np.zeros_like(secret)
        for coefficient in reversed(coefficients):  # highest degree first
            value = _add_mod(
                _mul_mod_once(value, point_residues, column), coefficient, column
            )
        value = _add_mod(_mul_mod_once(value, point_residues, column), secret, column)
        evaluations[point] = value
    return evaluations


def scaled_lagrange_at_zero(index: int, subset: Sequence[int], n_parties: int) -> int:
    """n! * lambda_index^subset, an exact (signed) integer: sum over S of it * f(j) = n! * f(0)."""
    members = sorted(set(subset))
    if len(members) != len(subset) or index not in members:
        raise InvalidInputError(f"party {index} is not once in subset {tuple(subset)}")
    if not all(1 <= member <= n_parties for member in members):
        raise InvalidInputError(f"subset {tuple(subset)} leaves 1..{n_parties}")
    others = [member for member in members if member != index]
    numerator = math.factorial(n_parties) * math.prod(others)
    denominator = math.prod(member - index for member in others)
    return numerator // denominator  # exact: the denominator divides n! * prod(others)
