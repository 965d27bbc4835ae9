#!/usr/bin/env python3
"""`make evaluate [RUN=runs/<ts>] [DATA_DIR=idx-folder]`: how good is each accepted global model of a run?

Evaluates every accepted round's model on a test set no agent trained on: the IDX files in --data-dir
(e.g. the official MNIST test set) or, by default, the union of the agents' validation splits (each
agent only checks candidates on its own split; none trains on it). Checks that every agent that saved a
round holds the same model (and names the agents that saved none, e.g. while offline), then writes evaluation.md (a table), evaluation.png (accuracy per round,
with each agent's own validation score) and evaluation.json into the run folder. Exits 1 if the agents
disagree on a round's model or the run has no accepted round.
"""

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from devnet import service_data
from devnet.plots import Line, plot_lines
from devnet.service import AGENTS_FILE, REPO_ROOT
from packages.valory.skills.smpc_mnist_classifier import learning

MODELS_FOLDER = "models"
RECORDS_FOLDER = "rounds"


@dataclass
class RoundResult:
    """One accepted global round: whether all agents hold its model, its test accuracy, their own scores."""

    global_round: int
    period: Optional[int]
    model_digest: Optional[str]
    agents_agree: bool
    missing: List[str]
    test_accuracy: Optional[float]
    validation_accuracy: Dict[str, Optional[float]]


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, help="run folder (default: the latest under runs/)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="folder of MNIST IDX files to test on (default: the union of the agents' validation splits)",
    )
    return parser.parse_args()


def latest_run() -> Path:
    """The newest run folder under runs/ that has an agents.json."""
    runs = sorted(path.parent for path in (REPO_ROOT / "runs").glob(f"*/{AGENTS_FILE}"))
    if not runs:
        sys.exit("no run with an agents.json under runs/: start one with `make run`")
    return runs[-1]


def load_agents(run_dir: Path) -> Dict[str, Dict[str, Any]]:
    """agents.json of a run: name -> address, folders, skill overrides."""
    path = run_dir / AGENTS_FILE
    if not path.is_file():
        sys.exit(f"{path} not found: is {run_dir} a run folder written by devnet/service.py?")
    return json.loads(path.read_text())


def validation_union(agents: Dict[str, Dict[str, Any]]) -> learning.MnistDataset:
    """The union of the agents' validation splits, rebuilt exactly as the agents split the data."""
    params = service_data.skill_params(next(iter(agents.values()))["skill_overrides"])
    return service_data.validation_union(service_data.agent_splits(params, len(agents)))


def accepted_rounds(run_dir: Path, agents: Dict[str, Dict[str, Any]]) -> List[int]:
    """Every global round any agent saved a model or a record of."""
    rounds = set()
    for agent in agents.values():
        output = run_dir / agent["output_folder"]
        for folder, suffix in ((MODELS_FOLDER, ".pt"), (RECORDS_FOLDER, ".json")):
            rounds.update(
                int(path.stem.split("_")[1]) for path in (output / folder).glob(f"round_*{suffix}")
            )
    return sorted(rounds)


def evaluate_round(
    run_dir: Path, agents: Dict[str, Dict[str, Any]], global_round: int, test_set: learning.MnistDataset
) -> RoundResult:
    """Compare the agents' models of one round and test the agreed one."""
    stem = f"round_{global_round:04d}"
    models: Dict[str, learning.MnistCnn] = {}
    records: Dict[str, Dict[str, Any]] = {}
    for name, agent in agents.items():
        output = run_dir / agent["output_folder"]
        if (output / MODELS_FOLDER / f"{stem}.pt").is_file():
            models[name] = learning.load_model(output / MODELS_FOLDER / f"{stem}.pt")
        if (output / RECORDS_FOLDER / f"{stem}.json").is_file():
            records[name] = json.loads((output / RECORDS_FOLDER / f"{stem}.json").read_text())
    digests = {learning.model_digest(model) for model in models.values()}
    digests |= {record["global_model_digest"] for record in records.values()}
    agree = len(digests) == 1 and bool(models)
    model = next(iter(models.values()), None)
    return RoundResult(
        global_round=global_round,
        period=next((record["period"] for record in records.values()), None),
        model_digest=digests.pop() if len(digests) == 1 else None,
        agents_agree=agree,
        missing=sorted(set(agents) - set(models)),
        test_accuracy=None if model is None or not agree else learning.evaluate(model, test_set).accuracy,
        validation_accuracy={
            name: records[name].get("validation_accuracy") if name in records else None for name in agents
        },
    )


def percent(value: Optional[float]) -> str:
    """An accuracy as a percentage, '-' if unknown."""
    return "-" if value is None else f"{100 * value:.2f}"


def markdown(results: List[RoundResult], test_description: str, agents: List[str]) -> str:
    """The evaluation table."""
    header = ["global round", "period", "same model everywhere", "test accuracy %"] + [
        f"{name} validation %" for name in agents
    ]
    lines = [
        "# Evaluation of the accepted global models",
        "",
        f"Test set: {test_description}.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    for result in results:
        held = "yes" if result.agents_agree else "NO: the digests differ"
        if result.missing:
            held += f" (no model: {', '.join(result.missing)})"
        cells = [str(result.global_round), str(result.period), held, percent(result.test_accuracy)]
        cells += [percent(result.validation_accuracy[name]) for name in agents]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(results: List[RoundResult], agents: List[str], path: Path) -> None:
    """Test accuracy per round, with each agent's own validation accuracy."""
    rounds = [result.global_round for result in results]

    def percents(values: List[Optional[float]]) -> List[Optional[float]]:
        """Accuracies in percent, None kept."""
        return [None if value is None else 100 * value for value in values]

    lines = [
        Line(f"{name} validation", rounds, percents([r.validation_accuracy[name] for r in results]), ".:", {"alpha": 0.6})
        for name in agents
    ]
    lines.append(
        Line("test", rounds, percents([r.test_accuracy for r in results]), "o-", {"linewidth": 2, "color": "black"})
    )
    plot_lines(lines, path, xlabel="global round", ylabel="accuracy (%)")


def main() -> None:
    """Evaluate the run and write the report; exit 1 if agents disagree or nothing was accepted."""
    args = parse_args()
    run_dir = (args.run or latest_run()).resolve()
    agents = load_agents(run_dir)
    if args.data_dir:
        test_set = learning.load_mnist(args.data_dir)
        description = f"the IDX files in {args.data_dir} ({len(test_set)} digits)"
    else:
        test_set = validation_union(agents)
        description = f"the union of the {len(agents)} agents' validation splits ({len(test_set)} digits, used by no agent for training)"
    results = [evaluate_round(run_dir, agents, r, test_set) for r in accepted_rounds(run_dir, agents)]
    names = list(agents)
    (run_dir / "evaluation.md").write_text(markdown(results, description, names))
    (run_dir / "evaluation.json").write_text(
        json.dumps({"test_set": description, "rounds": [asdict(r) for r in results]}, indent=2) + "\n"
    )
    if results:
        plot(results, names, run_dir / "evaluation.png")
    print(markdown(results, description, names))
    print(f"Written: {run_dir / 'evaluation.md'}, evaluation.png, evaluation.json")
    if not results:
        sys.exit(f"no accepted global round in {run_dir}")
    disagreements = [r.global_round for r in results if not r.agents_agree]
    if disagreements:
        sys.exit(f"agents do not all hold the same model in rounds {disagreements}")


if __name__ == "__main__":
    main()
