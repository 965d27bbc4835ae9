"""Robust combination of decryption shares: integer Lagrange, share-consistency checks, plausibility.

Any t shares give D * (Encode(sum w m) + E) + F with D*lambda_j integer (D: the subset's least
common denominator), decoded and divided by D * W. A share outside a t-subset S is checked against
S's interpolation at its own point; if t + f shares agree they include t honest ones and the result
is certain. Otherwise only a single plausible candidate is accepted.
"""

import itertools
import math
from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.aggregation import (
    Aggregate,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encoding import (
    embed,
    residues_to_floats,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encryption import (
    encryption_noise_bound,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    InconsistentSharesError,
    InvalidInputError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.ring import (
    _add_mod,
    _column,
    _mul_mod_once,
    _per_prime,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.seal_bridge import (
    _runtime,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.sharing import (
    integer_lagrange,
)

# a Gaussian exceeds 8 sigma with probability 1e-15 per coefficient: no honest share is ever refused
TAIL_SIGMAS = 8
# float64 rounding of the encoding and decoding FFTs, relative to the largest value
_FLOAT_ERROR = 2.0**-40
_LOW_BITS = 32
_LOW_MASK = np.uint64(2**_LOW_BITS - 1)
_HALF_SHIFT = np.uint64(_LOW_BITS)


def _combination(
    terms: Sequence[Tuple[int, np.ndarray]], moduli: np.ndarray
) -> np.ndarray:
    """sum of (small, signed) integer coefficient * residues, mod q.

    Lagrange coefficients stay below 2^13 for n <= 10, so the sum is accumulated exactly in int64 on
    the 32-bit halves of the residues and reduced once: one modular multiplication (by 2^32) per
    combination instead of one per term.
    """
    if sum(abs(coefficient) for coefficient, _ in terms) >= 2**31:
        raise InvalidInputError("Lagrange coefficients too large for this roster")
    low = np.zeros(terms[0][1].shape, dtype=np.int64)
    high = np.zeros_like(low)
    for coefficient, residues in terms:
        # residues < 2^62: reinterpreting the halves as int64 is exact and copies nothing
        low += coefficient * (residues & _LOW_MASK).view(np.int64)
        high += coefficient * (residues >> _HALF_SHIFT).view(np.int64)
    column = _column(moduli)
    signed_column = column.astype(np.int64)
    shifted = _mul_mod_once(
        (high % signed_column).view(np.uint64), _per_prime(2**_LOW_BITS, moduli), column
    )
    return _add_mod(shifted, (low % signed_column).view(np.uint64), column)


class Combiner:
    """Decodes t-subsets of one aggregate's well-formed shares and checks shares against them."""

    def __init__(
        self, aggregate: Aggregate, shares: Mapping[int, np.ndarray], sigma: float
    ) -> None:
        """Keep the aggregate, each sender's share residues and the shares' flooding sigma."""
        self.aggregate = aggregate
        self.shares = shares
        self.parameters = aggregate.context.parameters
        self.moduli = _runtime(self.parameters).data_moduli
        self.sigma = sigma

    def consistent(self, subset: Tuple[int, ...], party: int) -> bool:
        """d_party matches the interpolation of the subset's shares at x = party, up to flooding."""
        coefficients, denominator = integer_lagrange(subset, party)
        terms = [(denominator, self.shares[party])] + [
            (-c, self.shares[member]) for c, member in zip(coefficients, subset)
        ]
        residual = _runtime(self.parameters).from_ntt(_combination(terms, self.moduli))
        bound = (
            TAIL_SIGMAS
            * self.sigma
            * math.sqrt(denominator**2 + sum(c * c for c in coefficients))
        )
        return bool(np.abs(residues_to_floats(residual, self.moduli)).max() <= bound)

    def decode(self, subset: Tuple[int, ...]) -> Tuple[np.ndarray, bool]:
        """All slots of D*C + sum D*lambda_j d_j, divided by D*W, and whether they are plausible."""
        coefficients, denominator = integer_lagrange(subset, 0)
        terms = [(denominator, self.aggregate.residues)] + [
            (c, self.shares[member]) for c, member in zip(coefficients, subset)
        ]
        combined = _runtime(self.parameters).from_ntt(_combination(terms, self.moduli))
        weight = self.aggregate.total_weight
        scale = self.parameters.scale * denominator * weight
        slots = embed(residues_to_floats(combined, self.moduli) / scale).reshape(-1)
        lambdas = math.sqrt(sum(c * c for c in coefficients)) / denominator
        degree = self.parameters.poly_modulus_degree
        bound = (
            TAIL_SIGMAS * self.sigma * lambdas * math.sqrt(degree / 2)
            + encryption_noise_bound(len(self.aggregate.contributors)) * degree
        ) / (self.parameters.scale * weight) + _FLOAT_ERROR * self.parameters.max_abs_value
        length = self.aggregate.context.length
        plausible = bool(
            np.abs(slots.imag).max() <= bound
            and np.abs(slots.real[:length]).max() <= self.parameters.max_abs_value + bound
            and np.abs(slots.real[length:]).max(initial=0.0) <= bound
        )
        return slots.real[:length].copy(), plausible


def _faulty_bound(n_parties: int) -> int:
    """f: the largest number of Byzantine parties the protocol tolerates (f < n/3)."""
    return (n_parties - 1) // 3


def robust_decode(
    combiner: Combiner, n_parties: int, threshold: int
) -> Tuple[np.ndarray, Tuple[int, ...], Tuple[int, ...]]:
    """(values, subset, inconsistent senders).

    For each t-subset S, the senders whose shares fit S's interpolation form its agreeing set A.
    If A has t + f members it holds t honest ones, so S's result is the true decryption (certified).
    Otherwise the agreeing sets are candidates: exactly one that decodes plausibly is taken; several
    plausible, disagreeing ones cannot be told apart and raise InconsistentSharesError.
    """
    parties = sorted(combiner.shares)
    candidates: Dict[frozenset, Tuple[int, ...]] = {}
    for subset in itertools.combinations(parties, threshold):
        agreeing = frozenset(subset) | {
            party
            for party in parties
            if party not in subset and combiner.consistent(subset, party)
        }
        if len(agreeing) >= threshold + _faulty_bound(n_parties):
            values, plausible = combiner.decode(subset)
            if not plausible:
                raise InconsistentSharesError(
                    "the agreed aggregate itself does not decrypt to a plausible average "
                    "(a crafted contribution)",
                    (),
                )
            return values, subset, tuple(p for p in parties if p not in agreeing)
        candidates.setdefault(agreeing, subset)
        if len(agreeing) == len(parties):
            break  # every share fits one interpolation: no other candidate can exist
    plausible_results = []
    for agreeing, subset in candidates.items():
        values, plausible = combiner.decode(subset)
        if plausible:
            plausible_results.append((agreeing, subset, values))
    if len(plausible_results) == 1:
        agreeing, subset, values = plausible_results[0]
        return values, subset, tuple(p for p in parties if p not in agreeing)
    if not plausible_results:
        raise InconsistentSharesError("no subset of shares decodes plausibly", parties)
    common = frozenset.intersection(*(agreeing for agreeing, _, _ in plausible_results))
    raise InconsistentSharesError(
        "plausible subsets of shares disagree", [p for p in parties if p not in common]
    )
