"""Fast checks of zk_inference's input validation and proof parsing (proving itself: tests/test_zk_inference.py)."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from packages.valory.skills.smpc_mnist_classifier.learning import (
    IMAGE_SIDE,
    Downsampling,
    build_model,
)
from packages.valory.skills.smpc_mnist_classifier.zk_inference import (
    BN254_P,
    InferenceProof,
    ZkInferenceError,
    decompress_g1,
    mnist_circuit,
    mnist_image,
)

# The BN254 G1 generator (1, 2) compressed the halo2curves way: x little-endian, y's parity in the top bit.
GENERATOR = (1).to_bytes(32, "big") + (2).to_bytes(32, "big")
GENERATOR_COMPRESSED = (1).to_bytes(32, "little")
NEGATED_GENERATOR = (1).to_bytes(32, "big") + (BN254_P - 2).to_bytes(32, "big")


def test_decompress_g1_recovers_both_signs() -> None:
    """The parity flag picks y or -y; points off the curve and wrong lengths are refused."""
    assert decompress_g1(GENERATOR_COMPRESSED) == GENERATOR
    flagged = bytearray(GENERATOR_COMPRESSED)
    flagged[-1] |= 0x80
    assert decompress_g1(bytes(flagged)) == NEGATED_GENERATOR
    with pytest.raises(ZkInferenceError, match="BN254"):
        decompress_g1((4).to_bytes(32, "little"))  # 4^3 + 3 = 67 is not a square mod p
    with pytest.raises(ZkInferenceError, match="32 bytes"):
        decompress_g1(b"\x01")


def test_mnist_image_validates_pixels() -> None:
    """784 pixels 0..255 become one standardised image; anything else is a clear error."""
    image = mnist_image(np.zeros(IMAGE_SIDE * IMAGE_SIDE))
    assert image.shape == (1, IMAGE_SIDE, IMAGE_SIDE) and image.dtype == np.float32
    for bad in (np.zeros(10), np.full(784, 256.0), np.full(784, np.nan), ["x"] * 784):
        with pytest.raises(ZkInferenceError, match="bad image"):
            mnist_image(bad)


def test_malformed_proofs_are_refused() -> None:
    """Non-JSON, non-objects, short transcripts and missing outputs raise ZkInferenceError."""
    good = {
        "proof": [0] * 64,
        "pretty_public_inputs": {"rescaled_outputs": [["0.5", "1.5"]]},
    }
    proof = InferenceProof.from_json(json.dumps(good))
    assert proof.digit() == 1 and proof.weight_commitment() == bytes(64)
    for text in ("not json", "[1, 2]", json.dumps({**good, "proof": [0] * 10})):
        with pytest.raises(ZkInferenceError):
            InferenceProof.from_json(text)
    with pytest.raises(ZkInferenceError, match="outputs"):
        InferenceProof.from_json(json.dumps({"proof": "0x" + "00" * 64}))


def test_proving_before_setup_is_a_clear_error(tmp_path: Path) -> None:
    """No cached keys: the caller is told to run setup, EZKL is not reached."""
    circuit = mnist_circuit(tmp_path)
    assert not circuit.is_set_up()
    with pytest.raises(ZkInferenceError, match="setup"):
        circuit.settings()


@pytest.mark.parametrize(
    "downsampling, has_max_pool, conv_strides",
    [(Downsampling.MAX_POOL, True, [1, 1]), (Downsampling.STRIDE, False, [2, 2])],
)
def test_onnx_export_follows_the_downsampling(
    tmp_path: Path, downsampling: Downsampling, has_max_pool: bool, conv_strides: list
) -> None:
    """The stride circuit's ONNX graph has strided convolutions and no MaxPool node; each has its own keys."""
    circuit = mnist_circuit(tmp_path, downsampling=downsampling)
    circuit.export_onnx(build_model(0, downsampling), tmp_path / "network.onnx")
    graph = onnx.load(str(tmp_path / "network.onnx")).graph
    assert ("MaxPool" in {node.op_type for node in graph.node}) is has_max_pool
    strides = [
        onnx.helper.get_attribute_value(attribute)[0]
        for node in graph.node
        if node.op_type == "Conv"
        for attribute in node.attribute
        if attribute.name == "strides"
    ]
    assert strides == conv_strides
    other = mnist_circuit(tmp_path, downsampling=Downsampling.STRIDE if has_max_pool else Downsampling.MAX_POOL)
    assert other.directory != circuit.directory


def test_a_model_of_another_downsampling_is_refused(tmp_path: Path) -> None:
    """A stride model cannot be compiled or proven against the max-pool circuit (nor the reverse)."""
    pooled_circuit = mnist_circuit(tmp_path, downsampling=Downsampling.MAX_POOL)
    with pytest.raises(ZkInferenceError, match="architecture"):
        pooled_circuit.check_architecture(build_model(0, Downsampling.STRIDE))
    with pytest.raises(ZkInferenceError, match="architecture"):
        mnist_circuit(tmp_path, downsampling=Downsampling.STRIDE).export_onnx(
            build_model(0, Downsampling.MAX_POOL), tmp_path / "network.onnx"
        )
