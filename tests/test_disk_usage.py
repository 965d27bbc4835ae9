"""devnet/disk_usage.py: sizes as du counts them, and growth per period once pruning has started."""

from pathlib import Path
from typing import List

from devnet.disk_usage import DiskSample, folder_bytes, plot, summary, table

KEEP_PERIODS = 2
MIB = 1024 * 1024


def samples(kubo_mib: List[float]) -> List[DiskSample]:
    """One sample per period with the given kubo sizes; each agent's blobs follow kubo, its folder grows."""
    return [
        DiskSample(
            period=period,
            elapsed_s=10.0 * period,
            accepted_rounds=period,
            ipfs_bytes=int(size * MIB),
            tendermint_bytes=period * MIB,
            agent_bytes={"agent_0": int(size * MIB / 4) + period * 1000},
            blob_bytes={"agent_0": int(size * MIB / 4)},
        )
        for period, size in enumerate(kubo_mib)
    ]


def test_folder_bytes_counts_allocated_blocks_and_missing_folders_as_empty(tmp_path: Path) -> None:
    """Files in nested folders count with their allocated blocks (at least their size); no folder is 0."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "blob").write_bytes(b"x" * 10_000)
    (tmp_path / "small").write_bytes(b"y")
    assert folder_bytes(tmp_path) >= 10_001
    assert folder_bytes(tmp_path / "missing") == 0


def test_a_store_that_levels_off_after_keep_periods_shows_no_growth() -> None:
    """Growth is measured from period keep_periods + 1 on: a store pruned from there is flat, a folder that keeps
    every round is not."""
    report = summary(samples([0, 40, 80, 120, 120, 120, 120, 120]), KEEP_PERIODS)
    assert report["ipfs_growth_bytes_per_period"] == 0
    assert report["blobs_growth_bytes_per_period_per_agent"] == 0
    assert report["agent_folder_growth_bytes_per_period_per_agent"] == 1000
    assert report["tendermint_growth_bytes_per_period"] == MIB
    assert report["ipfs_max_bytes_after_steady"] == 120 * MIB


def test_a_store_that_keeps_growing_shows_it() -> None:
    """Without pruning the kubo slope stays at the per-period blob volume."""
    report = summary(samples([40.0 * period for period in range(8)]), KEEP_PERIODS)
    assert report["ipfs_growth_bytes_per_period"] == 40 * MIB


def test_too_few_periods_give_no_growth_figure() -> None:
    """Before two periods past keep_periods there is nothing to fit."""
    assert summary(samples([0, 40, 80]), KEEP_PERIODS)["ipfs_growth_bytes_per_period"] is None


def test_table_and_plot(tmp_path: Path) -> None:
    """One table row per period in MiB; a PNG is written."""
    measured = samples([0, 40, 80, 120])
    lines = table(measured).splitlines()
    assert len(lines) == 2 + len(measured)
    assert lines[-1].startswith("| 3 | 30 | 3 | 120.0 | 3.0 | 30.0 (30.0) |")
    plot(measured, KEEP_PERIODS, tmp_path / "disk.png")
    assert (tmp_path / "disk.png").stat().st_size > 0
