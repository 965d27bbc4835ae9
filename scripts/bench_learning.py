#!/usr/bin/env python3
"""Benchmark the service's FedAvg against one model trained centrally on the union of the agents' data.

Every setting uses the service's own settings (skill.yaml's params, or --set NAME=VALUE overrides): the
agents' training splits, local SGD settings and per-period seeds, and the initial model. Per round,
centralized training does `local_epochs` epochs over the union of the agents' training splits; FedAvg has
each agent do `local_epochs` epochs over its own split from the global model, then averages by sample
count, as the service does under encryption; the non-IID setting re-splits the same union by Dirichlet
labels. `--downsampling max-pool` runs the same comparison for MnistCnn with max-pools instead of the service's
stride-2 convolutions (same parameters; a far larger zk circuit). Test set: the union of the agents' validation splits
(what `make evaluate` uses by default; no agent trains on it) or the IDX files in --test-dir. Prints one JSON line, then a table, and writes a PNG.
Goal: after --rounds rounds the service's FedAvg reaches GOAL_ACCURACY and is within GOAL_GAP_POINTS of
centralized training.
"""

import argparse
import json
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from devnet import service_data
from devnet.plots import Line, plot_lines
from devnet.service import NUMBER_OF_AGENTS, REPO_ROOT
from packages.valory.skills.smpc_mnist_classifier.learning import (
    NUM_CLASSES,
    SERVICE_DOWNSAMPLING,
    AgentData,
    Downsampling,
    MnistCnn,
    MnistDataset,
    TrainingParams,
    build_model,
    evaluate,
    fedavg_models,
    load_mnist,
    split_among_agents,
    train_local,
)

DEFAULT_ROUNDS = 10
DEFAULT_ALPHA = 0.5
DEFAULT_PLOT = REPO_ROOT / ".benchmarks" / "learning.png"
GOAL_ACCURACY = 0.97
GOAL_GAP_POINTS = 0.5
WARM_UP_SAMPLES = 256
CENTRALIZED = "centralized"
FEDAVG_SERVICE = "fedavg_service"


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="rounds (default %(default)s)")
    parser.add_argument("--test-dir", type=Path, help="IDX folder to test on (default: the agents' validation splits)")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="non-IID Dirichlet alpha (default %(default)s)")
    parser.add_argument("--skip-non-iid", action="store_true", help="only centralized and the service's FedAvg")
    parser.add_argument(
        "--downsampling",
        choices=[choice.value for choice in Downsampling],
        default=SERVICE_DOWNSAMPLING.value,
        help="MnistCnn's downsampling (default %(default)s, the service's)",
    )
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help="PNG path (default %(default)s)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="skill param override, e.g. LEARNING_RATE=0.05"
    )
    return parser.parse_args()


def run_rounds(step: Callable[[MnistCnn, int], MnistCnn], start: MnistCnn, test: MnistDataset, rounds: int) -> Dict:
    """Apply one training step per round from the initial model, scoring the test set after each."""
    started = time.perf_counter()
    model = start
    accuracies: List[float] = []
    for round_index in range(rounds):
        model = step(model, round_index)
        accuracies.append(round(evaluate(model, test).accuracy, 4))
    return {"accuracy_per_round": accuracies, "wall_time_s": round(time.perf_counter() - started, 2)}


def period_seed(data_seed: int, round_index: int) -> int:
    """The batch-order seed every agent uses in a period (behaviours.TrainingBehaviour: data_seed + period)."""
    return data_seed + round_index


def centralized_step(train: MnistDataset, params: TrainingParams, data_seed: int) -> Callable[[MnistCnn, int], MnistCnn]:
    """`local_epochs` epochs over all the agents' training data."""
    return lambda model, round_index: train_local(model, train, params, period_seed(data_seed, round_index))


def fedavg_step(agents: List[AgentData], params: TrainingParams, data_seed: int) -> Callable[[MnistCnn, int], MnistCnn]:
    """Each agent trains from the global model, then the sample-count-weighted average becomes the new global."""
    counts = [len(agent.train) for agent in agents]

    def step(global_model: MnistCnn, round_index: int) -> MnistCnn:
        """One period of the service, in plaintext."""
        seed = period_seed(data_seed, round_index)
        return fedavg_models([train_local(global_model, agent.train, params, seed) for agent in agents], counts)

    return step


def print_table(runs: Dict[str, Dict], rounds: int) -> None:
    """Accuracy (%) per round, one row per setting."""
    width = max(map(len, runs)) + 2
    header = "setting".ljust(width) + "".join(f"r{r + 1:<6}" for r in range(rounds)) + "wall_s"
    print(header)
    print("-" * len(header))
    for name, run in runs.items():
        cells = "".join(f"{100 * accuracy:<7.2f}" for accuracy in run["accuracy_per_round"])
        print(name.ljust(width) + cells + f"{run['wall_time_s']:.1f}")


def goal(runs: Dict[str, Dict]) -> Dict:
    """The service's final accuracy against GOAL_ACCURACY and against centralized training."""
    service = runs[FEDAVG_SERVICE]["accuracy_per_round"][-1]
    central = runs[CENTRALIZED]["accuracy_per_round"][-1]
    gap = round(100 * (central - service), 2)
    return {
        "fedavg_service_final": service,
        "centralized_final": central,
        "gap_points": gap,
        "goal_accuracy": GOAL_ACCURACY,
        "goal_gap_points": GOAL_GAP_POINTS,
        "met": service >= GOAL_ACCURACY and gap <= GOAL_GAP_POINTS,
    }


def main() -> None:
    """Run the settings side by side and report them."""
    args = parse_args()
    overrides = dict(pair.split("=", 1) for pair in args.set)
    params = service_data.skill_params(overrides)
    training = service_data.training_params(params)
    data_seed = int(params["data_seed"])
    agents = service_data.agent_splits(params, NUMBER_OF_AGENTS)
    train = service_data.union([agent.train for agent in agents])
    test = load_mnist(args.test_dir) if args.test_dir else service_data.validation_union(agents)
    non_iid = split_among_agents(train, NUMBER_OF_AGENTS, data_seed, validation_fraction=0.0, dirichlet_alpha=args.alpha)
    start = build_model(int(params["model_seed"]), Downsampling(args.downsampling))
    train_local(start, train.subset(np.arange(WARM_UP_SAMPLES)), training, data_seed)  # torch kernel set-up, untimed
    non_iid_name = f"fedavg_non_iid_alpha{args.alpha:g}"
    runs = {
        CENTRALIZED: run_rounds(centralized_step(train, training, data_seed), start, test, args.rounds),
        FEDAVG_SERVICE: run_rounds(fedavg_step(agents, training, data_seed), start, test, args.rounds),
    }
    runs[FEDAVG_SERVICE]["agent_samples"] = [len(agent.train) for agent in agents]
    if not args.skip_non_iid:
        runs[non_iid_name] = run_rounds(fedavg_step(non_iid, training, data_seed), start, test, args.rounds)
        runs[non_iid_name]["agent_label_counts"] = [
            np.bincount(agent.train.labels, minlength=NUM_CLASSES).tolist() for agent in non_iid
        ]
    report = {
        "data": {
            "source": params["data_source"],
            "train": len(train),
            "test": str(args.test_dir) if args.test_dir else "union of the agents' validation splits",
            "test_samples": len(test),
        },
        "config": {
            "rounds": args.rounds,
            "alpha": args.alpha,
            "downsampling": args.downsampling,
            "overrides": overrides,
            **training.__dict__,
        },
        "runs": runs,
        "goal": goal(runs),
        "plot": str(args.plot),
    }
    print(json.dumps(report))
    print_table(runs, args.rounds)
    print(json.dumps(report["goal"]))
    plot_lines(
        [
            Line(name, list(range(1, args.rounds + 1)), [100 * a for a in run["accuracy_per_round"]])
            for name, run in runs.items()
        ],
        args.plot,
        xlabel="round (period)",
        ylabel="test accuracy (%)",
        title=f"MNIST, {args.downsampling} ({params['data_source']}, {len(train)} train / {len(test)} test)",
    )


if __name__ == "__main__":
    main()
