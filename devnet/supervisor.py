"""A small process supervisor for the local service: restart what crashes, with backoff, and give up loudly.

Each supervised process runs in its own session (so stopping it stops its children) with its output
appended to its own console log. A background thread polls the processes: one that exits without
being asked to is started again after a backoff that doubles with each recent crash (BACKOFF_SECONDS,
2x, 4x, ... up to MAX_BACKOFF_SECONDS), once its precondition holds (a Tendermint node waits for its
agent's ABCI port). After MAX_CRASHES crashes within CRASH_WINDOW_SECONDS the supervisor gives up on
it and logs that as an error. Every start, crash, restart and give-up is an Event, logged and kept in
`events` (the live view shows them).
"""

import logging
import os
import signal
import subprocess  # nosec
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Callable, Deque, Dict, List, Optional

POLL_SECONDS = 0.5
BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
MAX_CRASHES = 5
CRASH_WINDOW_SECONDS = 600.0
STOP_GRACE_SECONDS = 15.0

_logger = logging.getLogger(__name__)


def _always_ready() -> bool:
    """The default precondition of a (re)start: none."""
    return True


@dataclass(frozen=True)
class ProcessSpec:
    """How to start one process; `ready` must hold before it is (re)started."""

    name: str
    args: List[str]
    cwd: Path
    env: Dict[str, str]
    console: Path
    ready: Callable[[], bool] = _always_ready


class EventKind(Enum):
    """What happened to a supervised process."""

    STARTED = "started"
    CRASHED = "crashed"
    RESTARTED = "restarted"
    GAVE_UP = "gave up"


@dataclass(frozen=True)
class Event:
    """One thing that happened to a supervised process (time.time() seconds)."""

    at: float
    name: str
    kind: EventKind
    detail: str = ""

    def __str__(self) -> str:
        """One readable line."""
        return f"{self.name} {self.kind.value}{': ' + self.detail if self.detail else ''}"


@dataclass
class _Supervised:
    """A supervised process and its crash history."""

    spec: ProcessSpec
    process: Optional[subprocess.Popen] = None
    crashes: Deque[float] = field(default_factory=deque)
    restart_at: Optional[float] = None
    gave_up: bool = False


class Supervisor:
    """Starts processes, restarts the ones that crash, stops them on request (see the module docstring)."""

    def __init__(self) -> None:
        """No process yet; call start() for each, run() starts the polling thread.

        Processes are stopped with SIGINT (agents stop cleanly on it), but a shell's background job starts
        with SIGINT ignored and its children inherit that: restore Python's handler, which exec resets to
        the default in every child. Call from the main thread.
        """
        if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        self._supervised: Dict[str, _Supervised] = {}
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.events: List[Event] = []

    def start(self, spec: ProcessSpec) -> None:
        """Start a process now and supervise it."""
        with self._lock:
            entry = _Supervised(spec)
            self._supervised[spec.name] = entry
            self._spawn(entry)
            self._emit(spec.name, EventKind.STARTED, f"pid {entry.process.pid}")  # type: ignore[union-attr]

    def run(self) -> None:
        """Poll in a daemon thread until close()."""
        self._thread = threading.Thread(
            target=self._poll_forever, name="supervisor", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop polling (the processes keep running; stop() them first)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def names(self) -> List[str]:
        """The supervised processes, in start order."""
        with self._lock:
            return list(self._supervised)

    def pid(self, name: str) -> Optional[int]:
        """The current pid of a supervised process (None while it waits for a restart)."""
        with self._lock:
            process = self._supervised[name].process
            return None if process is None or process.poll() is not None else process.pid

    def running(self, name: str) -> bool:
        """Whether the process is supervised and alive."""
        with self._lock:
            return name in self._supervised and self.pid(name) is not None

    def gave_up(self) -> List[str]:
        """The processes the supervisor gave up on."""
        with self._lock:
            return [name for name, entry in self._supervised.items() if entry.gave_up]

    def freeze(self, names: List[str]) -> None:
        """SIGSTOP these processes' groups: a frozen process logs nothing about what happens around it."""
        with self._lock:
            processes = [self._supervised[name].process for name in names]
        for process in processes:
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGSTOP)

    def stop(
        self,
        names: List[str],
        grace: float = STOP_GRACE_SECONDS,
        signal_number: int = signal.SIGINT,
    ) -> None:
        """Stop these processes (no more restarts): signal each group, then SIGKILL what outlives the grace."""
        with self._lock:
            entries = [self._supervised.pop(name) for name in names]
        processes = [entry.process for entry in entries if entry.process is not None]
        live = [process for process in processes if process.poll() is None]
        for process in live:
            os.killpg(process.pid, signal_number)
        deadline = time.monotonic() + grace
        for process in processes:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def poll(self) -> None:
        """Notice crashes, and restart what is due."""
        with self._lock:
            for name, entry in self._supervised.items():
                if entry.gave_up:
                    continue
                if entry.process is not None and entry.process.poll() is not None:
                    self._crashed(name, entry)
                if entry.restart_at is not None and time.monotonic() >= entry.restart_at:
                    if entry.spec.ready():
                        self._spawn(entry)
                        entry.restart_at = None
                        self._emit(
                            name,
                            EventKind.RESTARTED,
                            f"pid {entry.process.pid}, crash {len(entry.crashes)}",  # type: ignore[union-attr]
                        )

    def _crashed(self, name: str, entry: _Supervised) -> None:
        """Record a crash; schedule a restart with backoff, or give up after too many recent ones."""
        code = None if entry.process is None else entry.process.returncode
        entry.process = None
        now = time.monotonic()
        entry.crashes.append(now)
        while entry.crashes and now - entry.crashes[0] > CRASH_WINDOW_SECONDS:
            entry.crashes.popleft()
        if len(entry.crashes) >= MAX_CRASHES:
            entry.gave_up = True
            self._emit(
                name,
                EventKind.GAVE_UP,
                f"{len(entry.crashes)} crashes within {CRASH_WINDOW_SECONDS:.0f} s; "
                f"see {entry.spec.console}",
            )
            return
        backoff = min(
            BACKOFF_SECONDS * 2 ** (len(entry.crashes) - 1), MAX_BACKOFF_SECONDS
        )
        entry.restart_at = now + backoff
        self._emit(
            name, EventKind.CRASHED, f"exit code {code}, restart in {backoff:g} s"
        )

    def _spawn(self, entry: _Supervised) -> None:
        """Start the process in its own session, its output appended to its console log."""
        spec = entry.spec
        with open(spec.console, "ab") as console:
            entry.process = subprocess.Popen(  # nosec # pylint: disable=consider-using-with
                spec.args,
                cwd=spec.cwd,
                env=spec.env,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _emit(self, name: str, kind: EventKind, detail: str) -> None:
        """Keep, log and pass on an event (a give-up is an error)."""
        event = Event(time.time(), name, kind, detail)
        self.events.append(event)
        level = logging.ERROR if kind == EventKind.GAVE_UP else logging.INFO
        _logger.log(level, str(event))

    def _poll_forever(self) -> None:
        """The polling thread's loop."""
        while not self._stopping.wait(POLL_SECONDS):
            self.poll()

