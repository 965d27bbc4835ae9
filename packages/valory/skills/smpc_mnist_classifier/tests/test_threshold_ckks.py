"""Tests for threshold CKKS parameters and ring arithmetic (the protocol steps have their own test modules)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from packages.valory.skills.smpc_mnist_classifier import threshold_ckks as tc

PARAMETERS = tc.DEFAULT_PARAMETERS


# ------------------------------------------------------------------ parameters and arithmetic


def test_parameters_digest_identifies_the_parameter_set() -> None:
    """Equal parameters share a digest, any change alters it, and unusable sets are refused."""
    assert tc.CkksParameters().digest == PARAMETERS.digest
    assert tc.CkksParameters(flooding_margin_bits=41).digest != PARAMETERS.digest
    with pytest.raises(tc.InvalidInputError):
        tc.CkksParameters(scale_bits=110)
    with pytest.raises(tc.InvalidInputError):
        tc.CkksParameters(coeff_modulus_bits=(61, 61, 61))


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_modular_multiplication_matches_python_integers(data: st.DataObject) -> None:
    """Shoup multiplication in uint64 equals exact integer arithmetic, edge residues included."""
    moduli = tc._runtime(PARAMETERS).key_moduli
    column = moduli.reshape(-1, 1)
    residue = st.integers(0, int(moduli.min()) - 1) | st.sampled_from(
        [0, 1, int(moduli.min()) - 1]
    )
    rows = data.draw(
        st.lists(st.lists(residue, min_size=8, max_size=8), min_size=3, max_size=3)
    )
    factors = data.draw(
        st.lists(st.lists(residue, min_size=8, max_size=8), min_size=3, max_size=3)
    )
    values, factor = np.array(rows, dtype=np.uint64), np.array(factors, dtype=np.uint64)
    expected = (values.astype(object) * factor.astype(object)) % column.astype(object)
    assert (tc._mul_mod_once(values, factor, column).astype(object) == expected).all()
