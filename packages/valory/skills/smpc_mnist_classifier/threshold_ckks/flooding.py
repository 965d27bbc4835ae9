"""How much a key epoch's decryptions reveal, and so how many decryptions one key epoch may serve.

After combining a t-subset S, share j's flood enters as lambda_j^S * flood_j against the summed encryption
noise E (both scaled by S's denominator), so it hides E with margin |lambda_j| * 2^kappa. Per decryption
the statistical distance to a simulation that knows only the average is at most
`N * chunks * B_E / (min|lambda| * sigma_flood) = N * chunks * 2^-kappa / min|lambda|`, and over D
decryptions under one key D times that. Key rotation bounds D: docs/security.md, "Key rotation".
"""

import itertools
import math
from fractions import Fraction
from functools import lru_cache

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    InvalidInputError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    CkksParameters,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.sharing import (
    integer_lagrange,
)

# The statistical distance one key epoch may accumulate over all its decryptions.
EPOCH_DISTANCE_BUDGET_BITS = 16


@lru_cache(maxsize=None)
def smallest_lagrange_weight(n_parties: int, threshold: int) -> Fraction:
    """min |lambda_j^S(0)| over the t-subsets S of 1..n and their members j (1/3, 1/15, 1/84 for n = 4,
    7, 10 with t = n - f): the weakest a share's flood can be in a combination."""
    if not 1 <= threshold <= n_parties:
        raise InvalidInputError(f"threshold {threshold} is not in 1..{n_parties}")
    return min(
        Fraction(abs(weight), denominator)
        for subset in itertools.combinations(range(1, n_parties + 1), threshold)
        for weights, denominator in [integer_lagrange(subset, 0)]
        for weight in weights
    )


def decryption_distance(
    parameters: CkksParameters, value_count: int, n_parties: int, threshold: int
) -> float:
    """Bound on the statistical distance one decryption of `value_count` values adds (whole vector)."""
    if value_count < 1:
        raise InvalidInputError("a decryption reveals at least one value")
    chunks = -(-value_count // parameters.slot_count)
    revealed = parameters.poly_modulus_degree * chunks
    return float(
        revealed
        * Fraction(1, 2**parameters.flooding_margin_bits)
        / smallest_lagrange_weight(n_parties, threshold)
    )


def max_decryptions_per_epoch(
    parameters: CkksParameters, value_count: int, n_parties: int, threshold: int
) -> int:
    """The most decryptions one key epoch may serve with its total distance within 2^-budget bits."""
    budget = 2.0**-EPOCH_DISTANCE_BUDGET_BITS
    return math.floor(
        budget / decryption_distance(parameters, value_count, n_parties, threshold)
    )
