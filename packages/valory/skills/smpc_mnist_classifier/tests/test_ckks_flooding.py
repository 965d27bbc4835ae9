"""The flooding bound per decryption and per key epoch, and the key_epoch_periods it sets."""

from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from packages.valory.skills.smpc_mnist_classifier import learning
from packages.valory.skills.smpc_mnist_classifier import threshold_ckks as ckks
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.flooding import (
    EPOCH_DISTANCE_BUDGET_BITS,
    smallest_lagrange_weight,
)

SKILL_YAML = Path(__file__).resolve().parents[1] / "skill.yaml"
PARAMETERS = ckks.DEFAULT_PARAMETERS


@pytest.mark.parametrize("n_parties, threshold, weight", [(4, 3, Fraction(1, 3)), (7, 5, Fraction(1, 15)), (10, 7, Fraction(1, 84))])
def test_the_weakest_flood_weight_is_the_smallest_lagrange_coefficient(
    n_parties: int, threshold: int, weight: Fraction
) -> None:
    """min |lambda| over every t-subset, as docs/security.md states it for n = 4, 7, 10."""
    assert smallest_lagrange_weight(n_parties, threshold) == weight


def test_one_decryption_of_the_model_is_bounded_by_n_chunks_over_the_margin() -> None:
    """N * chunks * 2^-kappa / min|lambda|: 8192 * 11 * 3 * 2^-40 for the model's 44,426 values, n = 4."""
    chunks = -(-learning.PARAMETER_COUNT // PARAMETERS.slot_count)
    expected = 8192 * chunks * 3 / 2.0**40
    assert chunks == 11
    assert ckks.decryption_distance(PARAMETERS, learning.PARAMETER_COUNT, 4, 3) == pytest.approx(expected)


def test_the_packaged_key_epoch_keeps_the_epoch_within_the_budget() -> None:
    """key_epoch_periods in skill.yaml is the most decryptions whose summed distance stays within 2^-16 for
    n = 4, t = 3; one more would exceed it."""
    periods = yaml.safe_load(SKILL_YAML.read_text())["models"]["params"]["args"]["key_epoch_periods"]
    per_decryption = ckks.decryption_distance(PARAMETERS, learning.PARAMETER_COUNT, 4, 3)
    assert periods == ckks.max_decryptions_per_epoch(PARAMETERS, learning.PARAMETER_COUNT, 4, 3) == 62
    assert periods * per_decryption <= 2.0**-EPOCH_DISTANCE_BUDGET_BITS < (periods + 1) * per_decryption


def test_a_bad_roster_or_an_empty_vector_is_refused() -> None:
    """The project's own error, never a silent bound."""
    with pytest.raises(ckks.InvalidInputError):
        smallest_lagrange_weight(3, 4)
    with pytest.raises(ckks.InvalidInputError):
        ckks.decryption_distance(PARAMETERS, 0, 4, 3)
