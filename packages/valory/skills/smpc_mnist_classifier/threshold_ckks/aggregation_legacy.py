"""Weighted aggregation of encrypted vectors.

Averaging multiplies updates by integer weights (sample counts, default 1) and sums them exactly;
the header keeps the weight total W and decoding divides by W: no weight quantisation error, and
every agent gets byte-identical aggregates.
"""

from typing import Optional, Sequence

import numpy as np

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encryption_legacy import (
    EncryptedVector,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    ForeignDataError,
    InvalidInputError,
    ParameterMismatchError,
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
