"""Behaviours: what each agent does in each round. The learning itself lives in learning.py."""

import hashlib
import json
from abc import ABC
from pathlib import Path
from typing import Any, Generator, Set, Type, cast

from nacl.public import PrivateKey

from packages.valory.skills.abstract_round_abci.base import AbstractRound
from packages.valory.skills.abstract_round_abci.behaviours import (
    AbstractRoundBehaviour,
    BaseBehaviour,
)
from packages.valory.skills.registration_abci.behaviours import (
    AgentRegistrationRoundBehaviour,
    RegistrationStartupBehaviour,
)
from packages.valory.skills.reset_pause_abci.behaviours import (
    ResetPauseABCIConsensusBehaviour,
)
from packages.valory.skills.smpc_mnist_classifier import learning
from packages.valory.skills.smpc_mnist_classifier.composition import (
    SmpcMnistServiceAbciApp,
)
from packages.valory.skills.smpc_mnist_classifier.models import (
    AgentPrivateState,
    Params,
    PrivateState,
)
from packages.valory.skills.smpc_mnist_classifier.payloads import (
    KeyGenerationPayload,
    TrainingPayload,
    UpdateGlobalModelPayload,
)
from packages.valory.skills.smpc_mnist_classifier.rounds import (
    KeyGenerationRound,
    SynchronizedData,
    TrainingRound,
    UpdateGlobalModelRound,
)

RECORDS_FOLDER = "rounds"


class SmpcMnistBaseBehaviour(BaseBehaviour, ABC):
    """Typed access to the agreed data, the params and this agent's private state."""

    @property
    def synchronized_data(self) -> SynchronizedData:
        """The data all agents agreed on, read through this app's typed view (also after the round ended)."""
        return SynchronizedData(db=super().synchronized_data.db)

    @property
    def params(self) -> Params:
        """The service parameters."""
        return cast(Params, super().params)

    @property
    def private(self) -> AgentPrivateState:
        """What only this agent holds."""
        return cast(PrivateState, self.context.private_state).agent

    @property
    def agent_folder(self) -> Path:
        """This agent's own output folder under the run folder."""
        return self.params.run_dir / self.context.agent_address

    def submit(self, payload: Any) -> Generator:
        """Send a payload to consensus, wait for the round to end, and finish this behaviour."""
        with self.context.benchmark_tool.measure(self.behaviour_id).consensus():
            yield from self.send_a2a_transaction(payload)
            yield from self.wait_until_round_end()
        self.set_done()


class KeyGenerationBehaviour(SmpcMnistBaseBehaviour):
    """Start a key epoch: a fresh box key pair whose public half is published."""

    matching_round: Type[AbstractRound] = KeyGenerationRound

    def async_act(self) -> Generator:
        """Publish this agent's new box public key."""
        with self.context.benchmark_tool.measure(self.behaviour_id).local():
            box_key = PrivateKey.generate()
            self.private.box_secret_key = bytes(box_key)
            payload = KeyGenerationPayload(
                self.context.agent_address, box_public_key=bytes(box_key.public_key).hex()
            )
        yield from self.submit(payload)


class TrainingBehaviour(SmpcMnistBaseBehaviour):
    """Train the local model on this agent's own partition, off the agent's main loop."""

    matching_round: Type[AbstractRound] = TrainingRound

    def async_act(self) -> Generator:
        """Train, then report the local model's digest and sample count; without data, sit the round out."""
        self._write_accepted_round_record()
        if self.synchronized_data.previous_update_incomplete:
            self.context.logger.warning(
                f"Period {self.synchronized_data.period_count - 1} ended without an accepted global model"
            )
        with self.context.benchmark_tool.measure(self.behaviour_id).local():
            try:
                data = self._agent_data()
                trained = yield from self._train_in_background(self._global_model(), data.train)
            except (learning.MnistDataError, learning.ModelParametersError, ValueError) as error:
                self.context.logger.error(f"No local model this round: {error}")
                yield from self.wait_until_round_end()
                self.set_done()
                return
            self.private.local_model = trained
            evaluation = learning.evaluate(trained, data.validation)
            self.context.logger.info(
                f"Local model trained on {len(data.train)} samples: validation accuracy {evaluation.accuracy:.4f}"
            )
            payload = TrainingPayload(
                self.context.agent_address,
                local_model_digest=learning.model_digest(trained),
                sample_count=len(data.train),
            )
        yield from self.submit(payload)

    def _write_accepted_round_record(self) -> None:
        """Write the last accepted round's record into this agent's own folder, once."""
        record = self.synchronized_data.accepted_round_record
        if not record:
            return
        path = self.agent_folder / RECORDS_FOLDER / f"round_{record['global_round']:04d}.json"
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2))
        self.context.logger.info(f"Global round {record['global_round']} accepted: {record['global_model_digest']}")

    def _agent_data(self) -> learning.AgentData:
        """This agent's partition, loaded once: its index among all registered agents picks it."""
        if self.private.data is None:
            agents = sorted(self.synchronized_data.all_participants)
            dataset = learning.load_mnist(self.params.data_folder)
            partitions = learning.split_among_agents(
                dataset,
                num_agents=len(agents),
                seed=self.params.data_seed,
                validation_fraction=self.params.validation_fraction,
                dirichlet_alpha=self.params.dirichlet_alpha,
            )
            self.private.data = partitions[agents.index(self.context.agent_address)]
        return self.private.data

    def _global_model(self) -> learning.MnistCnn:
        """The model training starts from: the last accepted global model, or the shared initial one."""
        if self.private.global_model is None:
            self.private.global_model = learning.build_model(self.params.model_seed)
        return self.private.global_model

    def _train_in_background(
        self, model: learning.MnistCnn, dataset: learning.MnistDataset
    ) -> Generator[None, None, learning.MnistCnn]:
        """Run training in the task manager so the agent keeps answering Tendermint meanwhile."""
        seed = self.params.data_seed + self.synchronized_data.period_count
        task_id = self.context.task_manager.enqueue_task(
            learning.train_local, args=(model, dataset, self.params.training, seed)
        )
        result = self.context.task_manager.get_task_result(task_id)
        while not result.ready():
            yield from self.sleep(self.params.sleep_time)
        return cast(learning.MnistCnn, result.get())


class UpdateGlobalModelBehaviour(SmpcMnistBaseBehaviour):
    """Vote on this round's outcome."""

    matching_round: Type[AbstractRound] = UpdateGlobalModelRound

    def async_act(self) -> Generator:
        """Vote for the commitment to the agreed contributions of this round."""
        with self.context.benchmark_tool.measure(self.behaviour_id).local():
            payload = UpdateGlobalModelPayload(
                self.context.agent_address,
                global_model_digest=self._contributions_digest(),
                global_round=self.synchronized_data.global_round + 1,
            )
        yield from self.submit(payload)

    def _contributions_digest(self) -> str:
        """A digest binding every agreed (agent, local model digest, sample count) of this round."""
        reports = self.synchronized_data.training_reports
        canonical = json.dumps(
            {sender: [report.local_model_digest, report.sample_count] for sender, report in sorted(reports.items())},
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


class SmpcMnistRoundBehaviour(AbstractRoundBehaviour):
    """Runs the service's chained FSM: registration, key generation, training, update, reset."""

    initial_behaviour_cls = RegistrationStartupBehaviour
    abci_app_cls = SmpcMnistServiceAbciApp
    behaviours: Set[Type[BaseBehaviour]] = {
        *AgentRegistrationRoundBehaviour.behaviours,
        KeyGenerationBehaviour,
        TrainingBehaviour,
        UpdateGlobalModelBehaviour,
        *ResetPauseABCIConsensusBehaviour.behaviours,
    }
