"""Zero-knowledge proofs of inference with EZKL: the pixels and the logits are public, the weights are not.

The weights are private witnesses committed with KZG (`param_visibility="polycommit"`): a proof shows that
SOME weights, whose commitment opens the proof's first 64 bytes, map the public image to the public logits.
Binding a proof to the agreed model is therefore a comparison of those 64 bytes with the model's commitment
(`weight_commitment`), natively in `verify` and on chain in contracts/InferenceVerifier.sol.

One proving/verifying key serves every model of one architecture and one circuit configuration, so setup
runs once per (architecture, configuration, EZKL version) and is cached on disk. The SRS is generated
LOCALLY at exactly the circuit's logrows: its toxic waste is known to this machine, so it is INSECURE and
only fit for tests and demos; for production put a ceremony SRS (e.g. `ezkl get-srs --logrows K`, a
perpetual-powers-of-tau file) at `srs_path` before setup.
"""

import asyncio
import functools
import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import ezkl
import numpy as np
import torch
from torch import nn

from packages.valory.skills.smpc_mnist_classifier.learning import (
    IMAGE_SIDE,
    SERVICE_DOWNSAMPLING,
    Downsampling,
    MnistCnn,
    MnistDataError,
    standardise_pixels,
)

COMMITMENT_BYTES = 64
ONNX_OPSET = 17
SETTINGS_FILE = "settings.json"
SRS_FILE = "kzg.srs"
PK_FILE = "pk.key"
VK_FILE = "vk.key"
VERIFIER_FILE = "Verifier.sol"
VERIFIER_ABI_FILE = "Verifier.abi"
COMPILED_FILE = "network.compiled"
ONNX_FILE = "network.onnx"
MNIST_INPUT_SHAPE = (1, 1, IMAGE_SIDE, IMAGE_SIDE)
# BN254 base field (G1 coordinates) and curve y^2 = x^3 + 3; p = 3 mod 4 so sqrt(a) = a^((p+1)/4).
BN254_P = 0x30644E72E131A029B85045B68181585D97816A916871CA8D3C208C16D87CFD47
BN254_B = 3
COMPRESSED_SIGN_BIT = 0x80
COMPRESSED_FLAG_MASK = 0xC0


class ZkInferenceError(ValueError):
    """Raised for input the prover cannot use: wrong image shape or values, a malformed proof, no setup yet."""


@dataclass(frozen=True)
class CircuitConfig:
    """The knobs that fix a circuit (and so its keys): fixed-point scales and the column layout.

    Scale 8 (2^8 fixed point) gives 99.9% argmax agreement with the float model on 1,000 real digits
    (scale 7: 99.4%) at the same rows; more inner columns trade rows (logrows) for width.
    """

    input_scale: int = 8
    param_scale: int = 8
    num_inner_cols: int = 2
    max_logrows: int = 20
    input_visibility: str = "public"

    def run_args(self) -> "ezkl.PyRunArgs":
        """EZKL run arguments: public (or Poseidon-hashed) image, public logits, KZG-committed weights."""
        run_args = ezkl.PyRunArgs()
        run_args.input_visibility = self.input_visibility
        run_args.output_visibility = "public"
        run_args.param_visibility = "polycommit"
        run_args.input_scale = self.input_scale
        run_args.param_scale = self.param_scale
        run_args.num_inner_cols = self.num_inner_cols
        return run_args


@dataclass(frozen=True)
class InferenceProof:
    """An EZKL proof (its JSON document) with the public logits and the weights' commitment it carries."""

    document: Dict[str, Any]

    @classmethod
    def from_json(cls, text: str) -> "InferenceProof":
        """Parse a proof file's text, rejecting anything that is not an EZKL proof."""
        try:
            document = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ZkInferenceError(f"proof is not JSON: {error}") from error
        proof = cls(document)
        proof.proof_bytes()  # validates the fields used below
        proof.logits()
        return proof

    def to_json(self) -> str:
        """The proof file's text (what `ezkl verify` and `from_json` read)."""
        return json.dumps(self.document)

    def proof_bytes(self) -> bytes:
        """The raw proof transcript; its first 64 bytes are the weights' KZG commitment."""
        if not isinstance(self.document, dict):
            raise ZkInferenceError("proof must be a JSON object")
        raw = self.document.get("proof")
        try:
            data = (
                bytes.fromhex(raw.removeprefix("0x"))
                if isinstance(raw, str)
                else bytes(raw)
            )
        except (TypeError, ValueError) as error:
            raise ZkInferenceError(f"proof bytes are malformed: {error}") from error
        if len(data) < COMMITMENT_BYTES:
            raise ZkInferenceError(f"proof is shorter than {COMMITMENT_BYTES} bytes")
        return data

    def weight_commitment(self) -> bytes:
        """The KZG commitment of the weights the proof was made with (x || y, big-endian)."""
        return self.proof_bytes()[:COMMITMENT_BYTES]

    def logits(self) -> List[float]:
        """The public logits, rescaled from fixed point."""
        try:
            outputs = self.document["pretty_public_inputs"]["rescaled_outputs"][0]
            return [float(value) for value in outputs]
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ZkInferenceError(f"proof has no readable outputs: {error}") from error

    def digit(self) -> int:
        """The predicted class: argmax of the proven logits."""
        return int(np.argmax(self.logits()))


def decompress_g1(compressed: bytes) -> bytes:
    """A halo2curves compressed BN254 G1 point (x little-endian, sign flag in the top bit) as x || y big-endian."""
    if len(compressed) != COMMITMENT_BYTES // 2:
        raise ZkInferenceError(
            f"compressed point must be {COMMITMENT_BYTES // 2} bytes"
        )
    y_is_odd = bool(compressed[-1] & COMPRESSED_SIGN_BIT)
    x = int.from_bytes(
        compressed[:-1] + bytes([compressed[-1] & ~COMPRESSED_FLAG_MASK & 0xFF]),
        "little",
    )
    y = pow((x**3 + BN254_B) % BN254_P, (BN254_P + 1) // 4, BN254_P)
    if (y * y - x**3 - BN254_B) % BN254_P != 0:
        raise ZkInferenceError("commitment is not a point on BN254")
    if bool(y & 1) != y_is_odd:
        y = BN254_P - y
    return x.to_bytes(32, "big") + y.to_bytes(32, "big")


def _digest(*parts: str) -> str:
    """sha256 over the parts, separated so that concatenations cannot collide."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _weights_digest(model: nn.Module) -> str:
    """Digest of a model's parameters in state_dict order (names, shapes and values)."""
    hasher = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        array = tensor.detach().cpu().numpy().astype("<f4")
        hasher.update(name.encode() + str(array.shape).encode() + array.tobytes())
    return hasher.hexdigest()


class InferenceCircuit:
    """The EZKL circuit of one architecture under one CircuitConfig, with its keys cached in one folder."""

    def __init__(
        self,
        architecture: Callable[[], nn.Module],
        input_shape: Tuple[int, ...],
        cache_dir: Path,
        config: CircuitConfig = CircuitConfig(),
    ) -> None:
        """Keys live in cache_dir/<digest of EZKL version, architecture, input shape and config>."""
        self.architecture = architecture
        self.input_shape = tuple(input_shape)
        self.config = config
        key = _digest(
            ezkl.__version__, repr(architecture()), repr(self.input_shape), repr(config)
        )
        self.directory = Path(cache_dir) / f"circuit-{key[:16]}"

    # ----------------------------------------------------------------- setup (once per circuit)

    def path(self, name: str) -> Path:
        """A file of this circuit's cache folder."""
        return self.directory / name

    def is_set_up(self) -> bool:
        """True once settings, SRS, proving and verifying keys are on disk."""
        return all(
            self.path(name).is_file()
            for name in (SETTINGS_FILE, SRS_FILE, PK_FILE, VK_FILE)
        )

    def settings(self) -> Dict[str, Any]:
        """The calibrated EZKL settings (logrows, scales, ranges)."""
        self._require_setup()
        return json.loads(self.path(SETTINGS_FILE).read_text())

    def logrows(self) -> int:
        """log2 of the circuit's row count."""
        return int(self.settings()["run_args"]["logrows"])

    def setup(self, reference_model: nn.Module, calibration_images: np.ndarray) -> None:
        """Calibrate on real inputs, generate the (insecure, local) SRS and the keys; a no-op when cached.

        Writes into a scratch folder renamed into place at the end, so an interrupted setup leaves nothing.
        """
        if self.is_set_up():
            return
        images = self._checked_images(calibration_images)
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=self.directory.parent, prefix=".setup-"))
        try:
            self._setup_into(scratch, reference_model, images)
            shutil.rmtree(self.directory, ignore_errors=True)
            scratch.rename(self.directory)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def calibrated_settings(
        self, reference_model: nn.Module, calibration_images: np.ndarray
    ) -> Dict[str, Any]:
        """The settings setup would calibrate (rows, assigned cells, logrows), without its SRS and keys.

        Seconds instead of minutes, and no cache is written: for comparing architectures and layouts.
        """
        images = self._checked_images(calibration_images)
        with tempfile.TemporaryDirectory(prefix="zk-calibrate-") as scratch:
            folder = Path(scratch)
            self._calibrate_into(folder, reference_model, images)
            return json.loads((folder / SETTINGS_FILE).read_text())

    def _setup_into(
        self, folder: Path, reference_model: nn.Module, images: np.ndarray
    ) -> None:
        """The EZKL setup pipeline, every artefact in `folder`."""
        self._calibrate_into(folder, reference_model, images)
        onnx_path, settings_path = folder / ONNX_FILE, folder / SETTINGS_FILE
        compiled = folder / COMPILED_FILE
        _check(
            ezkl.compile_circuit(str(onnx_path), str(compiled), str(settings_path)),
            "compile_circuit",
        )
        logrows = json.loads(settings_path.read_text())["run_args"]["logrows"]
        ezkl.gen_srs(str(folder / SRS_FILE), logrows)  # local and INSECURE: tests only
        _check(
            ezkl.setup(
                str(compiled),
                str(folder / VK_FILE),
                str(folder / PK_FILE),
                srs_path=str(folder / SRS_FILE),
            ),
            "setup",
        )

    def _calibrate_into(
        self, folder: Path, reference_model: nn.Module, images: np.ndarray
    ) -> None:
        """Export the model and calibrate its settings on real images, into `folder`."""
        onnx_path, settings_path = folder / ONNX_FILE, folder / SETTINGS_FILE
        self.export_onnx(reference_model, onnx_path)
        data_path = folder / "calibration.json"
        _write_input(data_path, images)
        _check(
            ezkl.gen_settings(
                str(onnx_path), str(settings_path), py_run_args=self.config.run_args()
            ),
            "gen_settings",
        )
        _check(
            ezkl.calibrate_settings(
                str(data_path),
                str(onnx_path),
                str(settings_path),
                "resources",
                scales=[self.config.input_scale],
                max_logrows=self.config.max_logrows,
            ),
            "calibrate_settings",
        )

    # ----------------------------------------------------------------- per model

    def weight_commitment(self, model: nn.Module) -> bytes:
        """The 64-byte KZG commitment of a model's quantised weights: what every proof with them starts with."""
        witness = self._witness(model, np.zeros(self.input_shape, np.float32))
        compressed = witness["processed_params"]["polycommit"][0][0]
        return decompress_g1(bytes.fromhex(compressed))

    def weight_commitment_hex(self, model: nn.Module) -> str:
        """weight_commitment as hex (x || y): the form agreed in the vote and settled in the ModelRegistry."""
        return self.weight_commitment(model).hex()

    def prove(self, model: nn.Module, image: np.ndarray) -> InferenceProof:
        """Prove `model(image)`: a proof whose public values are the quantised image and logits."""
        self._require_setup()
        image = self.checked_image(image)
        with tempfile.TemporaryDirectory(dir=self.directory) as scratch:
            witness_path = Path(scratch) / "witness.json"
            compiled = self._compiled(model)
            self._witness(model, image, witness_path)
            proof_path = Path(scratch) / "proof.json"
            ezkl.prove(
                str(witness_path),
                str(compiled),
                str(self.path(PK_FILE)),
                str(proof_path),
                srs_path=str(self.path(SRS_FILE)),
            )
            return InferenceProof(json.loads(proof_path.read_text()))

    def verify(
        self, proof: InferenceProof, expected_commitment: Optional[bytes] = None
    ) -> bool:
        """Check the proof natively and, when given, that it was made with the weights of that commitment."""
        self._require_setup()
        if (
            expected_commitment is not None
            and proof.weight_commitment() != expected_commitment
        ):
            return False
        with tempfile.TemporaryDirectory(dir=self.directory) as scratch:
            proof_path = Path(scratch) / "proof.json"
            proof_path.write_text(proof.to_json())
            try:
                return bool(
                    ezkl.verify(
                        str(proof_path),
                        str(self.path(SETTINGS_FILE)),
                        str(self.path(VK_FILE)),
                        srs_path=str(self.path(SRS_FILE)),
                    )
                )
            except RuntimeError:  # EZKL raises on a transcript that fails to verify
                return False

    # ----------------------------------------------------------------- EVM

    def evm_calldata(self, proof: InferenceProof) -> bytes:
        """ABI-encoded `verifyProof(bytes,uint256[])` calldata for the generated verifier."""
        with tempfile.TemporaryDirectory(dir=self.directory) as scratch:
            proof_path = Path(scratch) / "proof.json"
            proof_path.write_text(proof.to_json())
            return bytes(
                ezkl.encode_evm_calldata(str(proof_path), str(Path(scratch) / "calldata"))
            )

    def verifier_solidity(self) -> Path:
        """The EZKL-generated Solidity verifier for this circuit's vk (written once, cached)."""
        self._require_setup()
        sol_path = self.path(VERIFIER_FILE)
        if not sol_path.is_file():
            try:
                asyncio.run(_generate_verifier(sol_path, self))
            except Exception as error:  # pylint: disable=broad-except
                # EZKL 23 writes the complete verifier, then fails fetching a solc binary (svm) to
                # check it: we compile with solc-js instead, so only a missing file is an error.
                if not sol_path.is_file():
                    raise ZkInferenceError(
                        f"EZKL create_evm_verifier failed: {error}"
                    ) from error
        return sol_path

    # ----------------------------------------------------------------- helpers

    def _require_setup(self) -> None:
        """Proving needs the cached keys: say so instead of failing deep inside EZKL."""
        if not self.is_set_up():
            raise ZkInferenceError(
                f"circuit not set up in {self.directory}: call setup() first"
            )

    def checked_image(self, image: np.ndarray) -> np.ndarray:
        """One finite float32 image of the circuit's input shape (alone or as a batch of one), or ZkInferenceError."""
        batch = self._checked_images(image)
        if len(batch) != 1:
            raise ZkInferenceError(f"expected one image, got {len(batch)}")
        return batch[0]

    def check_architecture(self, model: nn.Module) -> None:
        """The model must have the circuit's architecture, layer options included (its repr), or ZkInferenceError.

        E.g. a stride MnistCnn cannot be compiled against the max-pool circuit's settings.
        """
        expected = self.architecture()
        if repr(model) != repr(expected):
            raise ZkInferenceError(
                f"model must have the circuit's {type(expected).__name__} architecture, got {model!r}"
            )

    def _checked_images(self, images: np.ndarray) -> np.ndarray:
        """Finite float32 images of the circuit's input shape (one or a batch)."""
        array = np.asarray(images, dtype=np.float32)
        item_shape = self.input_shape[1:]
        if array.shape == item_shape:
            array = array[None]
        if array.ndim != len(self.input_shape) or array.shape[1:] != item_shape:
            raise ZkInferenceError(
                f"expected images of shape {item_shape}, got {array.shape}"
            )
        if not np.isfinite(array).all():
            raise ZkInferenceError("image values must be finite")
        return array

    def export_onnx(self, model: nn.Module, onnx_path: Path) -> None:
        """ONNX export with the TorchScript exporter (the dynamo one needs onnxscript)."""
        self.check_architecture(model)
        model = model.eval()
        torch.onnx.export(
            model,
            (torch.zeros(self.input_shape),),
            str(onnx_path),
            input_names=["input"],
            output_names=["output"],
            opset_version=ONNX_OPSET,
            dynamo=False,
        )

    def _compiled(self, model: nn.Module) -> Path:
        """The model compiled against the cached settings (weights differ per model, the layout does not).

        Several agents may compile the same model into the shared cache at once: each works in its own
        scratch folder and renames the result into place (atomic; every copy is the same).
        """
        folder = self.directory / "models" / _weights_digest(model)[:16]
        compiled = folder / COMPILED_FILE
        if not compiled.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=folder) as scratch:
                onnx_path = Path(scratch) / ONNX_FILE
                self.export_onnx(model, onnx_path)
                output = Path(scratch) / COMPILED_FILE
                _check(
                    ezkl.compile_circuit(
                        str(onnx_path), str(output), str(self.path(SETTINGS_FILE))
                    ),
                    "compile_circuit",
                )
                output.rename(compiled)
        return compiled

    def quantised_logits(self, model: nn.Module, image: np.ndarray) -> np.ndarray:
        """The logits the circuit computes for model(image), rescaled: what a proof would show, without proving
        or committing (no SRS multi-scalar multiplication), so quantisation can be checked on many digits."""
        witness = self._witness(model, self.checked_image(image), commit=False)
        try:
            return np.array(
                [float(value) for value in witness["pretty_elements"]["rescaled_outputs"][0]]
            )
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ZkInferenceError(f"witness has no readable outputs: {error}") from error

    def _witness(
        self,
        model: nn.Module,
        image: np.ndarray,
        output: Optional[Path] = None,
        commit: bool = True,
    ) -> Dict[str, Any]:
        """EZKL witness of model(image); with commit (vk and SRS given) it carries the weights' commitment."""
        self._require_setup()
        compiled = self._compiled(model)
        with tempfile.TemporaryDirectory(dir=self.directory) as scratch:
            data_path = Path(scratch) / "input.json"
            _write_input(data_path, self._checked_images(image))
            witness_path = output or Path(scratch) / "witness.json"
            try:
                ezkl.gen_witness(
                    str(data_path),
                    str(compiled),
                    str(witness_path),
                    vk_path=str(self.path(VK_FILE)) if commit else None,
                    srs_path=str(self.path(SRS_FILE)) if commit else None,
                )
            except RuntimeError as error:  # EZKL's errors for inputs it cannot evaluate
                raise ZkInferenceError(f"EZKL gen_witness failed: {error}") from error
            return json.loads(Path(witness_path).read_text())  # the file has plain hex, not PyG1Affine


def _write_input(path: Path, images: np.ndarray) -> None:
    """EZKL's input file: one flat list of every value, batch after batch."""
    path.write_text(json.dumps({"input_data": [images.reshape(-1).tolist()]}))


def _check(succeeded: bool, step: str) -> None:
    """EZKL steps return False on some failures instead of raising."""
    if not succeeded:
        raise ZkInferenceError(f"EZKL {step} failed")


async def _generate_verifier(sol_path: Path, circuit: "InferenceCircuit") -> None:
    """EZKL's create_evm_verifier returns a future that needs a running event loop."""
    await ezkl.create_evm_verifier(
        str(circuit.path(VK_FILE)),
        str(circuit.path(SETTINGS_FILE)),
        str(sol_path),
        str(circuit.path(VERIFIER_ABI_FILE)),
        srs_path=str(circuit.path(SRS_FILE)),
    )


# --------------------------------------------------------------------------- the project's CNN


def mnist_circuit(
    cache_dir: Path,
    config: CircuitConfig = CircuitConfig(),
    downsampling: Downsampling = SERVICE_DOWNSAMPLING,
) -> InferenceCircuit:
    """The circuit of the service's MnistCnn (with the given downsampling) on one standardised 28x28 digit."""
    return InferenceCircuit(
        functools.partial(MnistCnn, downsampling), MNIST_INPUT_SHAPE, cache_dir, config
    )


def mnist_image(raw_pixels: Sequence[float]) -> np.ndarray:
    """784 pixel values 0..255 as the standardised (1, 28, 28) float32 image the model and circuit take."""
    try:
        return standardise_pixels(np.asarray(raw_pixels, dtype=np.float32)[None])[0]
    except (MnistDataError, ValueError, TypeError) as error:
        raise ZkInferenceError(f"bad image: {error}") from error
