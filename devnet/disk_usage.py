"""Is the service's disk use bounded? Run it for N periods and measure, once per period, what it keeps.

Measured at the start of every period agent_0 enters: kubo's repository (which holds the blobs of the
last `keep_periods` periods once agents unpin and garbage-collect older ones), each agent's output folder
(its models and round records, kept for every accepted round, plus its blob copies) and, within it, the
blob copies alone (bounded like kubo), and the Tendermint nodes' homes (the chain, which grows by design).
Sizes are allocated bytes, as `du` counts them. scripts/bench_disk.py is the command line.
"""

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from devnet.plots import Line, plot_lines
from devnet.service import LocalService, agent_name
from devnet.status import AgentStatus, ServiceStatus

BLOCK_BYTES = 512  # st_blocks counts 512-byte units
MIB = 1024 * 1024
BLOBS_FOLDER = "blobs"
POLL_SECONDS = 2.0


def folder_bytes(path: Path) -> int:
    """Bytes a folder takes on disk (allocated blocks, like du); 0 if it does not exist."""
    total = 0
    for root, _folders, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * BLOCK_BYTES
            except FileNotFoundError:  # removed while walking (kubo GC, pruning)
                continue
    return total


@dataclass(frozen=True)
class DiskSample:
    """What the run kept on disk when agent_0 entered `period`."""

    period: int
    elapsed_s: float
    accepted_rounds: int
    ipfs_bytes: int
    tendermint_bytes: int
    agent_bytes: Dict[str, int]
    blob_bytes: Dict[str, int]


def take_sample(
    service: LocalService, period: int, elapsed: float, accepted_rounds: int
) -> DiskSample:
    """Measure kubo, the nodes and every agent's folder now."""
    outputs = {agent_name(i): service.agent_output(i) for i in range(len(service.agent_dirs))}
    return DiskSample(
        period=period,
        elapsed_s=round(elapsed, 1),
        accepted_rounds=accepted_rounds,
        ipfs_bytes=folder_bytes(service.ipfs_dir),
        tendermint_bytes=folder_bytes(service.run_dir / "nodes"),
        agent_bytes={name: folder_bytes(folder) for name, folder in outputs.items()},
        blob_bytes={name: folder_bytes(folder / BLOBS_FOLDER) for name, folder in outputs.items()},
    )


def growth_per_period(samples: Sequence[DiskSample], key: Callable[[DiskSample], int], skip: int) -> Optional[float]:
    """Least-squares growth in bytes per period of `key` over the samples after the first `skip` periods."""
    steady = [sample for sample in samples if sample.period >= skip]
    if len(steady) < 2:
        return None
    slope, _intercept = np.polyfit([s.period for s in steady], [key(s) for s in steady], 1)
    return float(slope)


def summary(samples: Sequence[DiskSample], keep_periods: int) -> Dict[str, Optional[float]]:
    """Growth per period once the first keep_periods + 1 periods have passed (pruning has started by then)."""
    skip = keep_periods + 1

    def growth(key: Callable[[DiskSample], int]) -> Optional[float]:
        """Rounded growth per period."""
        value = growth_per_period(samples, key, skip)
        return None if value is None else round(value)

    return {
        "periods_measured": len(samples),
        "steady_from_period": skip,
        "ipfs_growth_bytes_per_period": growth(lambda s: s.ipfs_bytes),
        "blobs_growth_bytes_per_period_per_agent": growth(lambda s: int(np.mean(list(s.blob_bytes.values())))),
        "agent_folder_growth_bytes_per_period_per_agent": growth(lambda s: int(np.mean(list(s.agent_bytes.values())))),
        "tendermint_growth_bytes_per_period": growth(lambda s: s.tendermint_bytes),
        "ipfs_max_bytes_after_steady": max((s.ipfs_bytes for s in samples if s.period >= skip), default=None),
    }


def table(samples: Sequence[DiskSample]) -> str:
    """One line per period: MiB of kubo, Tendermint, each agent's folder and blob copies."""
    names = list(samples[0].agent_bytes) if samples else []
    header = ["period", "elapsed s", "accepted", "kubo MiB", "tendermint MiB"]
    header += [f"{name} MiB (blobs)" for name in names]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for sample in samples:
        cells = [str(sample.period), f"{sample.elapsed_s:.0f}", str(sample.accepted_rounds)]
        cells += [f"{sample.ipfs_bytes / MIB:.1f}", f"{sample.tendermint_bytes / MIB:.1f}"]
        cells += [
            f"{sample.agent_bytes[name] / MIB:.1f} ({sample.blob_bytes[name] / MIB:.1f})" for name in names
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(samples: Sequence[DiskSample], keep_periods: int, path: Path) -> None:
    """Sizes per period: kubo and each agent's blob copies (bounded), agent folders and Tendermint (growing)."""
    periods = [sample.period for sample in samples]
    lines = [
        Line("kubo repository", periods, [s.ipfs_bytes / MIB for s in samples], "o-", {"color": "black"}),
        Line("Tendermint nodes (4)", periods, [s.tendermint_bytes / MIB for s in samples], "--"),
    ]
    for name in samples[0].agent_bytes:
        lines.append(Line(f"{name} folder", periods, [s.agent_bytes[name] / MIB for s in samples], ":"))
        lines.append(
            Line(f"{name} blob copies", periods, [s.blob_bytes[name] / MIB for s in samples], "-", {"alpha": 0.6})
        )
    plot_lines(
        lines,
        path,
        xlabel="period",
        ylabel="MiB on disk",
        title=f"Disk use per period (keep_periods = {keep_periods}: steady from period {keep_periods + 1})",
        vertical_at=keep_periods + 1,
    )


@dataclass
class DiskRun:
    """Runs `service` until agent_0 entered `periods` + 1 periods or `deadline_s` passed, sampling each period."""

    service: LocalService
    periods: int
    deadline_s: float
    keep_periods: int
    samples: List[DiskSample]

    @property
    def report_path(self) -> Path:
        """disk_usage.json in the run folder (rewritten after every sample, so a stopped run keeps its data)."""
        return self.service.run_dir / "disk_usage.json"

    def measure(self) -> None:
        """Start the service, sample at each new period of agent_0, stop the service (also on Ctrl-C)."""
        status = ServiceStatus(
            agents=[AgentStatus(agent_name(i), address) for i, address in enumerate(self.service.addresses())],
            log_paths=[self.service.log_path(agent_name(i)) for i in range(len(self.service.agent_dirs))],
        )
        started = time.monotonic()
        try:
            self.service.start()
            while len(self.samples) <= self.periods and time.monotonic() - started < self.deadline_s:
                status.update(self.service.supervisor.events)
                first = status.agents[0]
                sampled = self.samples[-1].period if self.samples else None
                if first.period is not None and first.period != sampled:
                    accepted = min(agent.global_round for agent in status.agents)
                    self.samples.append(take_sample(self.service, first.period, time.monotonic() - started, accepted))
                    self.write()
                time.sleep(POLL_SECONDS)
        finally:
            self.service.stop()

    def write(self) -> Dict:
        """Write disk_usage.json, .md and .png into the run folder; return the report."""
        report = {
            "keep_periods": self.keep_periods,
            "overrides": self.service.skill_overrides,
            "summary": summary(self.samples, self.keep_periods),
            "samples": [asdict(sample) for sample in self.samples],
        }
        self.report_path.write_text(json.dumps(report, indent=2) + "\n")
        self.report_path.with_suffix(".md").write_text(table(self.samples))
        if self.samples:
            plot(self.samples, self.keep_periods, self.report_path.with_suffix(".png"))
        return report
