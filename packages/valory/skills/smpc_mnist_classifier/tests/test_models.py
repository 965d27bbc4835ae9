"""The service parameters: the initial model every agent starts from, the training period, registration."""

from pathlib import Path
from typing import Any, Dict
from unittest.mock import MagicMock

import pytest
import torch
import yaml
from aea.exceptions import AEAEnforceError

from packages.valory.skills.smpc_mnist_classifier import learning
from packages.valory.skills.smpc_mnist_classifier.models import (
    INITIAL_MODEL_DIGEST,
    REGISTRATION_DEADLINE_SECONDS,
    REGISTRATION_MIN_AGENTS,
    Params,
)

SKILL_YAML = Path(__file__).resolve().parents[1] / "skill.yaml"
SETUP = {"all_participants": ["0xa", "0xb"], "safe_contract_address": "0x0", "consensus_threshold": None}
FOUR_AGENTS = {**SETUP, "all_participants": ["0xa", "0xb", "0xc", "0xd"]}


def params(**overrides: Any) -> Params:
    """Params as the skill loads them from skill.yaml, with a registration setup and `overrides`."""
    args: Dict[str, Any] = yaml.safe_load(SKILL_YAML.read_text())["models"]["params"]["args"]
    args.update({"setup": SETUP, **overrides})
    context = MagicMock(is_abstract_component=False)
    return Params(name="params", skill_context=context, **args)


def test_no_initial_model_by_default() -> None:
    """null: every agent builds the same seeded model; registration setup data stay as configured."""
    loaded = params()
    assert loaded.initial_model is None
    assert INITIAL_MODEL_DIGEST not in loaded.setup_params


def test_the_initial_models_digest_joins_the_registration_setup(tmp_path: Path) -> None:
    """Registration needs every agent's setup data equal: the digest there makes agents agree on the start model."""
    model = learning.build_model(3)
    path = tmp_path / "pretrained.pt"
    learning.save_model(model, path)
    loaded = params(initial_model=str(path))
    assert loaded.initial_model == path
    assert loaded.setup_params[INITIAL_MODEL_DIGEST] == learning.model_digest(model)


@pytest.mark.parametrize("content", ["missing", "not a state_dict", "wrong shapes"])
def test_an_initial_model_that_does_not_load_is_refused(tmp_path: Path, content: str) -> None:
    """A missing file, a non-PyTorch file or another network's weights stop the agent with a clear error."""
    path = tmp_path / "model.pt"
    if content == "not a state_dict":
        path.write_bytes(b"garbage")
    elif content == "wrong shapes":
        torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(AEAEnforceError, match="initial_model refused: "):
        params(initial_model=str(path))


def test_a_training_period_in_wall_time_limits_local_training() -> None:
    """training_period_seconds: the agents train until it or the epochs run out (null: the epochs alone)."""
    assert params().training.max_seconds is None
    assert params(training_period_seconds=60.0).training.max_seconds == 60.0


def test_a_training_period_longer_than_the_training_round_is_refused() -> None:
    """Agents report after training: a period that outlasts training_timeout could never be reported."""
    with pytest.raises(AEAEnforceError, match="training_period_seconds 400.0 must be below training_timeout"):
        params(training_period_seconds=400.0, training_timeout=300.0)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"retain_blocks": -1}, "retain_blocks -1 must be 0 \\(keep every block\\) or at least"),
        ({"retain_blocks": 5}, "retain_blocks 5 must be 0"),
        ({"retain_blocks": 1000, "reset_tendermint_after": 10}, "needs hard resets off"),
    ],
)
def test_a_block_retention_a_restart_could_not_recover_from_is_refused(overrides: Dict[str, Any], reason: str) -> None:
    """retain_blocks 0 (the default) keeps every block; a negative or tiny window, or pruning with hard resets (a
    new chain each), stops the agent at startup with the fix named."""
    assert params().retain_blocks == 0
    assert params(retain_blocks=1000).retain_blocks == 1000
    with pytest.raises(AEAEnforceError, match=reason):
        params(**overrides)


def test_registration_waits_for_every_participant_by_default() -> None:
    """registration_min_agents null: valory's rule (every participant); both params join the setup data, so only
    agents configured alike register together."""
    loaded = params(setup=FOUR_AGENTS)
    assert loaded.registration_min_agents is None
    assert loaded.setup_params[REGISTRATION_MIN_AGENTS] is None
    assert loaded.setup_params[REGISTRATION_DEADLINE_SECONDS] == loaded.registration_deadline_seconds == 120.0


@pytest.mark.parametrize("min_agents", [3, 4])
def test_a_registration_minimum_the_service_runs_with_is_accepted(min_agents: int) -> None:
    """Three of four (Tendermint's quorum, the decryption threshold, min_updates) or all four."""
    loaded = params(setup=FOUR_AGENTS, registration_min_agents=min_agents)
    assert loaded.registration_min_agents == loaded.setup_params[REGISTRATION_MIN_AGENTS] == min_agents


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"registration_min_agents": 5}, "registration_min_agents 5 is above the 4 participants"),
        ({"registration_min_agents": 2}, "registration_min_agents 2 is below the consensus threshold 3"),
        (
            {"registration_min_agents": 3, "setup": {**FOUR_AGENTS, "consensus_threshold": 4}},
            "registration_min_agents 3 is below the consensus threshold 4",
        ),
        (
            {"registration_min_agents": 3, "decryption_threshold": 4},
            "registration_min_agents 3 is below decryption_threshold 4",
        ),
        ({"registration_min_agents": 3, "min_updates": 4}, "registration_min_agents 3 is below min_updates 4"),
        (
            {"registration_min_agents": 3, "share_tm_config_on_startup": True},
            "registration_min_agents below the participants needs share_tm_config_on_startup off",
        ),
        ({"registration_deadline_seconds": 0.0}, "registration_deadline_seconds must be above 0"),
    ],
    ids=[
        "above the participants",
        "below Tendermint's quorum",
        "below the setup's consensus threshold",
        "below the decryption threshold",
        "below min_updates",
        "with Tendermint configs shared on startup",
        "no deadline",
    ],
)
def test_a_registration_minimum_the_service_could_not_run_with_is_refused(
    overrides: Dict[str, Any], error: str
) -> None:
    """The agent does not start, saying which bound the minimum breaks."""
    with pytest.raises(AEAEnforceError, match=error):
        params(**{"setup": FOUR_AGENTS, **overrides})
