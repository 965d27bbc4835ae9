"""End to end: 4 real Tendermint nodes and 4 real agents cycle the rounds, then stop cleanly."""

import sys
import time
from pathlib import Path
from typing import List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from local_service import NUMBER_OF_AGENTS, LocalService  # noqa: E402

CYCLE = ["training_round", "submit_update_round"]
REQUIRED_CYCLES = 2
SERVICE_DEADLINE_SECONDS = 900
POLL_SECONDS = 5


def cycles_completed(rounds: List[str]) -> int:
    """How many Training -> UpdateGlobalModel -> Training passes follow registration and key generation."""
    if "key_exchange_round" not in rounds:
        return 0
    visits = [name for name in rounds[rounds.index("key_exchange_round") :] if name in CYCLE]
    return sum(
        1
        for before, update, after in zip(visits, visits[1:], visits[2:])
        if (before, update, after) == ("training_round", "submit_update_round", "training_round")
    )


def tail(path: Path, lines: int = 40) -> str:
    """The end of a log, to show why a process died."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def test_cycles_completed_counts_whole_cycles() -> None:
    """Training, update, training is one cycle; two need a third training."""
    one = [
        "registration_startup_round",
        "key_exchange_round",
        "training_round",
        "submit_update_round",
        "aggregation_round",
        "reset_and_pause_round",
        "training_round",
    ]
    assert cycles_completed(one) == 1
    assert cycles_completed(one + ["submit_update_round", "training_round"]) == 2
    assert cycles_completed(["training_round", "submit_update_round", "training_round"]) == 0


@pytest.mark.e2e
def test_four_agents_cycle_the_rounds(tmp_path: Path) -> None:
    """Every agent passes Registration -> Training -> UpdateGlobalModel -> Training at least twice."""
    service = LocalService(tmp_path / "run", skill_overrides={})
    service.prepare()
    started = time.monotonic()
    try:
        service.start()
        while time.monotonic() - started < SERVICE_DEADLINE_SECONDS:
            counts = [cycles_completed(list(service.rounds_entered(i))) for i in range(NUMBER_OF_AGENTS)]
            if min(counts) >= REQUIRED_CYCLES:
                break
            dead = [name for name, process in service.processes.items() if process.poll() is not None]
            assert not dead, f"{dead} died:\n" + "\n".join(tail(service.console_path(name)) for name in dead)
            time.sleep(POLL_SECONDS)
        else:
            pytest.fail(f"agents completed {counts} cycles in {SERVICE_DEADLINE_SECONDS}s; logs: {service.run_dir}")
        assert (service.run_dir / "agents").is_dir()
    finally:
        service.stop()
    assert service.processes == {}
