"""Shamir sharing over R_q: rosters of x-coordinates 1..n, share evaluation, Lagrange coefficients.

Combining uses integer Lagrange weights (Shoup's trick, with the subset's least common denominator
instead of n!): a combiner multiplies by small integers and never needs fractions mod q.
"""

import math
from fractions import Fraction
from typing import Dict, Iterable, Sequence, Tuple

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


def integer_lagrange(subset: Sequence[int], point: int) -> Tuple[Tuple[int, ...], int]:
    """Integer Lagrange weights: (c_j for j in subset, D) with D * f(point) = sum c_j f(j), deg f < |S|.

    D is the least common denominator of the Lagrange coefficients (it divides n!), so the
    combination needs only small integer multiples and no inverses mod q.
    """
    members = tuple(subset)
    if len(set(members)) != len(members) or not members:
        raise InvalidInputError(f"subset {members} is empty or repeats a point")
    weights = [
        math.prod(
            Fraction(point - other, member - other)
            for other in members
            if other != member
        )
        for member in members
    ]
    denominator = math.lcm(*(weight.denominator for weight in weights))
    return tuple(int(weight * denominator) for weight in weights), denominator
