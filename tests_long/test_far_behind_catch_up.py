"""End to end, opt-in (`make test-long`, not in `make test`: two periods longer than tests/test_supervision_e2e.py,
past CI's budget): an agent hung through two accepted rounds, then killed, comes back without its saved models;
holding no base to rebuild a missed round from its record, it catches up from a voter's sealed envelope of the
accepted model and contributes again."""

from pathlib import Path

import pytest

from tests.test_supervision_e2e import restart_after_missed_rounds

ROUNDS_MISSED = 2


@pytest.mark.e2e
def test_an_agent_without_a_base_catches_up_from_a_sealed_envelope(tmp_path: Path) -> None:
    """The supervision scenario with agent_2 hung through two accepted rounds and its saved models lost."""
    restart_after_missed_rounds(tmp_path, rounds_missed=ROUNDS_MISSED, saved_models_lost=True)
