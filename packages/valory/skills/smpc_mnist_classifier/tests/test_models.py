"""The service parameters: the initial model every agent starts from, the training period."""

from pathlib import Path
from typing import Any, Dict
from unittest.mock import MagicMock

import pytest
import torch
import yaml
from aea.exceptions import AEAEnforceError

from packages.valory.skills.smpc_mnist_classifier import learning
from packages.valory.skills.smpc_mnist_classifier.models import INITIAL_MODEL_DIGEST, Params

SKILL_YAML = Path(__file__).resolve().parents[1] / "skill.yaml"
SETUP = {"all_participants": ["0xa", "0xb"], "safe_contract_address": "0x0", "consensus_threshold": None}


def params(**overrides: Any) -> Params:
    """Params as the skill loads them from skill.yaml, with a registration setup and `overrides`."""
    args: Dict[str, Any] = yaml.safe_load(SKILL_YAML.read_text())["models"]["params"]["args"]
    args.update(setup=SETUP, **overrides)
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


def test_a_negative_block_retention_is_refused() -> None:
    """retain_blocks 0 keeps every block; a negative window would make Tendermint prune blocks it still needs."""
    assert params().retain_blocks == 0
    with pytest.raises(AEAEnforceError, match="retain_blocks must be 0"):
        params(retain_blocks=-1)
