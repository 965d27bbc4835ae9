"""Tests for the HttpHandler: routing, healthcheck, model records, and predictions answered off the main loop."""

import asyncio
import json
import threading
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np
from _pytest.monkeypatch import MonkeyPatch

from packages.valory.connections.http_server.connection import HttpDialogues
from packages.valory.connections.http_server.connection import (
    PUBLIC_ID as HTTP_SERVER_PUBLIC_ID,
)
from packages.valory.protocols.http.message import HttpMessage
from packages.valory.skills.abstract_round_abci.test_tools.base import (
    FSMBehaviourBaseCase,
)
from packages.valory.skills.smpc_mnist_classifier import handlers, learning
from packages.valory.skills.smpc_mnist_classifier.models import AgentPrivateState
from packages.valory.skills.smpc_mnist_classifier.tests.test_behaviours import (
    ME,
    SETUP_OVERRIDES,
    SKILL_DIR,
)

ANSWER_SECONDS = 10.0


class TestHttpHandler(FSMBehaviourBaseCase):
    """Requests as the http_server connection sends them, answers read from the outbox."""

    path_to_skill = SKILL_DIR

    @classmethod
    def setup_class(cls, **kwargs: Any) -> None:
        """Load the skill with a registration setup (skill.yaml leaves it to the service)."""
        super().setup_class(config_overrides=SETUP_OVERRIDES, **kwargs)

    def setup_method(self, **kwargs: Any) -> None:
        """A fresh private state and a started handler (its worker thread and page files)."""
        super().setup_method(**kwargs)
        self.skill.skill_context.private_state.agent = AgentPrivateState()
        self.http_handler.setup()
        self.connection_dialogues = HttpDialogues(str(HTTP_SERVER_PUBLIC_ID))

    def teardown_method(self, **kwargs: Any) -> None:
        """Stop the worker thread."""
        self.http_handler.teardown()
        super().teardown_method(**kwargs)

    def request(
        self, method: str, path: str, body: bytes = b"", headers: str = ""
    ) -> HttpMessage:
        """A REQUEST from the http_server connection to this skill."""
        message, _dialogue = self.connection_dialogues.create(
            counterparty=str(self.skill.skill_context.skill_id),
            performative=HttpMessage.Performative.REQUEST,
            method=method,
            url=f"http://127.0.0.1:8000{path}",
            headers=headers,
            version="",
            body=body,
        )
        return message

    def answer(self) -> Tuple[int, str, bytes]:
        """The one RESPONSE in the outbox: status, headers, body."""
        self.assert_quantity_in_outbox(1)
        response = self.get_message_from_outbox()
        assert response.performative == HttpMessage.Performative.RESPONSE
        assert response.to == str(HTTP_SERVER_PUBLIC_ID)
        return response.status_code, response.headers, response.body

    def json_answer(
        self, method: str, path: str, body: bytes = b""
    ) -> Tuple[int, Dict]:
        """Handle one request synchronously; its status and JSON body."""
        self.http_handler.handle(self.request(method, path, body))
        status, headers, raw = self.answer()
        assert "Content-Type: application/json" in headers
        return status, json.loads(raw)

    def test_unknown_paths_and_methods(self) -> None:
        """404 for an unknown path, 405 with Allow for a known path and a wrong method."""
        assert self.json_answer("GET", "/nothing") == (
            404,
            {"error": "no such path: /nothing"},
        )
        self.http_handler.handle(self.request("DELETE", "/model"))
        status, headers, body = self.answer()
        assert status == 405 and "Allow: GET" in headers
        assert json.loads(body) == {"error": "DELETE is not allowed on /model; use GET"}

    def test_proof_requests_are_checked(self) -> None:
        """An unknown proof job is a 404, a proof job only answers GET, and ?proof= takes true/false only."""
        assert self.json_answer("GET", "/proofs/no-such-job") == (
            404,
            {"error": "no proof job 'no-such-job' (unknown, or forgotten among older jobs)"},
        )
        self.http_handler.handle(self.request("POST", "/proofs/no-such-job"))
        status, headers, _body = self.answer()
        assert status == 405 and "Allow: GET" in headers
        status, answer = self.json_answer("POST", "/predict?proof=maybe", b"[0]")
        assert status == 400 and answer["error"].startswith("proof must be one of")

    def test_page_and_its_files_are_served(self) -> None:
        """/, /app.js and /style.css come from the skill's web folder with their types."""
        for path, content_type in [
            ("/", "text/html"),
            ("/app.js", "text/javascript"),
            ("/style.css", "text/css"),
        ]:
            self.http_handler.handle(self.request("GET", path))
            status, headers, body = self.answer()
            assert status == 200 and f"Content-Type: {content_type}" in headers
            name = handlers.STATIC_FILES[path][0]
            assert body == (handlers.WEB_FOLDER / name).read_bytes()

    def test_healthcheck_before_the_first_transition(self) -> None:
        """The FSM has started but never moved: not healthy yet, no seconds to report."""
        status, health = self.json_answer("GET", "/healthcheck")
        assert status == 200
        assert health == {
            "current_round": "registration_startup_round",
            "period": 0,
            "seconds_since_last_transition": None,
            "is_tm_healthy": True,
            "is_healthy": False,
        }

    def test_model_reads_this_agents_round_records(
        self, tmp_path: Path, monkeypatch: MonkeyPatch
    ) -> None:
        """Latest round, digest, contributors and decryptors, and the accuracy of each recorded round."""
        monkeypatch.setitem(
            self.skill.skill_context.params.__dict__, "run_dir", tmp_path
        )
        assert self.json_answer("GET", "/model")[1]["accuracy_history"] == []
        records = tmp_path / ME / "rounds"
        records.mkdir(parents=True)
        for global_round, accuracy in [(1, 0.4), (2, 0.7)]:
            record = {
                "global_round": global_round,
                "period": global_round - 1,
                "global_model_digest": f"digest{global_round}",
                "included_updates": {
                    "a": {"sample_count": 10},
                    "b": {"sample_count": 12},
                },
                "decryption_shares": {"b": {}, "a": {}},
                "validation_accuracy": accuracy,
            }
            (records / f"round_{global_round:04d}.json").write_text(json.dumps(record))
        status, model = self.json_answer("GET", "/model")
        assert status == 200
        assert model == {
            "round": 2,
            "period": 1,
            "model_digest": "digest2",
            "contributors": {"a": 10, "b": 12},
            "decryptors": ["a", "b"],
            "accuracy_history": [
                {"round": 1, "period": 0, "validation_accuracy": 0.4},
                {"round": 2, "period": 1, "validation_accuracy": 0.7},
            ],
        }

    def test_bad_image_is_refused_before_any_model_is_needed(self) -> None:
        """Input checks come first: a wrong-size body is a 400 even without a model."""
        status, answer = self.json_answer(
            "POST", "/predict", json.dumps([0] * 5).encode()
        )
        assert status == 400 and "got 5 pixel values" in answer["error"]

    def test_no_prediction_before_a_global_model_is_adopted(self) -> None:
        """503 until a global round is adopted."""
        status, answer = self.json_answer(
            "POST", "/predict", json.dumps([0] * 784).encode()
        )
        assert status == 503 and "no global model" in answer["error"]

    def test_prediction_is_answered_from_the_worker_without_blocking_the_handler(
        self, monkeypatch: MonkeyPatch
    ) -> None:
        """handle() returns while the prediction still runs; the answer follows when the worker finishes."""
        agent = self.skill.skill_context.private_state.agent
        agent.global_model, agent.adopted_round = learning.build_model(seed=1), 4
        release = threading.Event()
        original = handlers.predict_digit

        def held_prediction(model: learning.MnistCnn, pixels: np.ndarray) -> Dict:
            """The real prediction, once the test releases it."""
            assert release.wait(ANSWER_SECONDS)
            return original(model, pixels)

        monkeypatch.setattr(handlers, "predict_digit", held_prediction)
        pixels = np.zeros((28, 28), np.float32)
        pixels[4:24, 13:15] = 255.0

        async def scenario() -> None:
            self.http_handler.handle(
                self.request("POST", "/predict", json.dumps(pixels.tolist()).encode())
            )
            self.assert_quantity_in_outbox(0)
            release.set()
            for _ in range(int(ANSWER_SECONDS / 0.01)):
                if not self._outbox.empty():
                    return
                await asyncio.sleep(0.01)

        asyncio.run(scenario())
        status, _headers, body = self.answer()
        answer = json.loads(body)
        expected = learning.predict_probabilities(
            agent.global_model, pixels[np.newaxis]
        )[0]
        assert status == 200
        assert answer["round"] == 4
        assert answer["model_digest"] == learning.model_digest(agent.global_model)
        assert answer["digit"] == int(expected.argmax())
        np.testing.assert_allclose(answer["probabilities"], expected, rtol=1e-6)

    def test_other_http_messages_go_to_the_base_handler(
        self, monkeypatch: MonkeyPatch
    ) -> None:
        """A RESPONSE to this skill's own http_client request is not routed as an API request."""
        seen = []
        monkeypatch.setattr(
            handlers.base.HttpHandler,
            "handle",
            lambda _self, message: seen.append(message),
        )
        message = HttpMessage(
            performative=HttpMessage.Performative.RESPONSE,
            version="",
            status_code=200,
            status_text="OK",
            headers="",
            body=b"",
        )
        self.http_handler.handle(message)
        assert seen == [message]
        self.assert_quantity_in_outbox(0)
