"""Behaviours: what each agent does in each round. Learning and cryptography live in plain modules.

Secret material (box key, key-generation party, threshold key share, local model and update) stays
in this agent's PrivateState; only public-key shares, sealed sub-shares, ciphertexts and flooded
decryption shares leave it, through IPFS, and only their content ids and digests go to consensus.
"""

import hashlib
import json
import time
from abc import ABC
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Generator,
    List,
    Mapping,
    Optional,
    Set,
    Tuple,
    Type,
    TypeVar,
    cast,
)

import numpy as np
from nacl.public import PrivateKey
from packages.valory.contracts.gnosis_safe.contract import (
    GnosisSafeContract,
    SafeOperation,
)
from packages.valory.contracts.model_registry.contract import ModelRegistryContract
from packages.valory.contracts.multisend.contract import (
    MultiSendContract,
    MultiSendOperation,
)
from packages.valory.protocols.contract_api import ContractApiMessage
from packages.valory.skills.abstract_round_abci.base import AbstractRound
from packages.valory.skills.abstract_round_abci.behaviour_utils import (
    TimeoutException,
)
from packages.valory.skills.abstract_round_abci.behaviours import (
    AbstractRoundBehaviour,
    BaseBehaviour,
)
from packages.valory.skills.registration_abci.behaviours import (
    RegistrationBehaviour,
)
from packages.valory.skills.registration_abci.behaviours import (
    RegistrationStartupBehaviour as AllAgentsRegistrationStartupBehaviour,
)
from packages.valory.skills.reset_pause_abci.behaviours import (
    ResetPauseABCIConsensusBehaviour,
)
from packages.valory.skills.smpc_mnist_classifier import (
    learning,
    model_envelope,
    settlement,
    zk_inference,
)
from packages.valory.skills.smpc_mnist_classifier import threshold_ckks as ckks
from packages.valory.skills.smpc_mnist_classifier.blob_store import (
    BlobStore,
    RetryPlan,
)
from packages.valory.skills.smpc_mnist_classifier.bundles import (
    BundleError,
    from_text,
    pack_bundle,
    to_text,
    unpack_bundle,
)
from packages.valory.skills.smpc_mnist_classifier.composition import (
    SmpcMnistServiceAbciApp,
)
from packages.valory.skills.smpc_mnist_classifier.models import (
    AgentPrivateState,
    Params,
    PrivateState,
)
from packages.valory.skills.smpc_mnist_classifier.payloads import (
    AggregationPayload,
    DecryptionSharePayload,
    FinalizeModelPayload,
    GlobalModelVotePayload,
    ComplaintPayload,
    DealingCommitPayload,
    DealingRevealPayload,
    JointKeyPayload,
    JustificationPayload,
    KeyEpochCheckPayload,
    KeyExchangePayload,
    PrepareSettlementPayload,
    SettlementFailedPayload,
    SubmitUpdatePayload,
    TrainingPayload,
)
from packages.valory.skills.smpc_mnist_classifier.rounds import (
    AggregationRound,
    DecryptionShareRound,
    FinalizeModelRound,
    GlobalModelVoteRound,
    ComplaintRound,
    DealingCommitRound,
    DealingRevealRound,
    JointKeyRound,
    JustificationRound,
    KeyEpochCheckRound,
    KeyExchangeRound,
    PrepareSettlementRound,
    RegistrationStartupRound,
    SettlementFailedRound,
    SubmitUpdateRound,
    SynchronizedData,
    TrainingRound,
)
from packages.valory.skills.transaction_settlement_abci.behaviours import (
    TransactionSettlementRoundBehaviour,
)
from packages.valory.skills.transaction_settlement_abci.payload_tools import (
    hash_payload_to_hex,
)

RECORDS_FOLDER = "rounds"
MODELS_FOLDER = "models"
BLOBS_FOLDER = "blobs"
AGGREGATE_BLOB = "aggregate"
MODEL_ENVELOPE_BLOB = "model_envelope"
KEYSTORE_FILE = "keystore.bin"
# Backoff between IPFS attempts: 1, 2, 4, 8, 8, ... seconds, within the params' ipfs_retry_budget.
IPFS_RETRY_FIRST_SECONDS = 1.0
IPFS_RETRY_FACTOR = 2.0
IPFS_RETRY_LONGEST_SECONDS = 8.0
OK_STATUS = 200
NOT_PINNED = b"not pinned"  # kubo's answer to unpinning what it no longer pins
CRS_DOMAIN = b"smpc-mnist/common-random-polynomial/v1"
BASE_MODEL_DOMAIN = b"smpc-mnist/base-model/v1"
# What a behaviour may meet in data other agents produced: each is logged and that input excluded.
INPUT_ERRORS = (
    ckks.ThresholdCkksError,
    BundleError,
    learning.ModelParametersError,
    ValueError,
)


def sha256_hex(blob: bytes) -> str:
    """The digest that goes to consensus next to a content id."""
    return hashlib.sha256(blob).hexdigest()


Result = TypeVar("Result")


def serialize_blob(filename: str, obj: Any, **_kwargs: Any) -> Dict[str, str]:
    """IPFS storer: the IPFS connection moves files as UTF-8 text, so bytes go as base64."""
    return {filename: to_text(cast(bytes, obj))}


def as_text(text: str) -> str:
    """IPFS loader that keeps the text: decoding it here tells bad content apart from a failed fetch."""
    return text


class SmpcMnistBaseBehaviour(BaseBehaviour, ABC):
    """Typed access to the agreed data, the params and this agent's private state; IPFS blob helpers."""

    @property
    def synchronized_data(self) -> SynchronizedData:
        """The data all agents agreed on, read through this app's typed view."""
        return SynchronizedData(db=super().synchronized_data.db)

    @property
    def params(self) -> Params:
        """The service parameters."""
        return cast(Params, super().params)

    @property
    def private(self) -> AgentPrivateState:
        """What only this agent holds (after a restart, first taken back from its key store)."""
        agent = cast(PrivateState, self.context.private_state).agent
        if not agent.keys_restored:
            agent.keys_restored = True
            self._restore_keys(agent)
        return agent

    @property
    def keystore(self) -> ckks.Keystore:
        """This agent's password-encrypted key store file."""
        agent = cast(PrivateState, self.context.private_state).agent
        if agent.keystore is None:
            path = self.agent_folder / KEYSTORE_FILE
            agent.keystore = ckks.Keystore(str(path), self.params.keystore_password)
        return agent.keystore

    def save_keys(self) -> None:
        """Persist box key, dealer, key share and issuance record, before anything they made is published."""
        private = self.private
        if private.box_key is None:
            return
        self.agent_folder.mkdir(parents=True, exist_ok=True)
        self.keystore.save(
            ckks.KeystoreContents(
                private.box_key,
                private.key_share,
                (private.issuance.to_bytes(),),
                private.dealer,
            )
        )

    def _restore_keys(self, private: AgentPrivateState) -> None:
        """A restarted agent takes its key material back, so it resumes its role in the same key epoch."""
        if private.box_key is not None or not (self.agent_folder / KEYSTORE_FILE).exists():
            return
        try:
            contents = self.keystore.load()
            records = [ckks.IssuanceRecord.from_bytes(r) for r in contents.issuance_records]
        except ckks.ThresholdCkksError as error:
            self.context.logger.error(f"The key store cannot be used: {error}")
            return
        private.box_key, private.dealer = contents.box_key, contents.dealer
        private.key_share = contents.key_share
        private.issuance = records[0] if records else ckks.IssuanceRecord()
        epoch = "none" if contents.key_share is None else contents.key_share.epoch.hex()
        self.context.logger.info(f"Key material restored from the key store (key epoch {epoch})")

    @property
    def me(self) -> str:
        """This agent's address."""
        return self.context.agent_address

    @property
    def agent_folder(self) -> Path:
        """This agent's own output folder under the run folder."""
        return self.params.agent_folder(self.me)

    def party_index(self, address: str) -> int:
        """The threshold-CKKS party index (1..n) of a key holder."""
        return self.synchronized_data.key_holders.index(address) + 1

    def submit(self, payload: Any) -> Generator:
        """Send a payload to consensus, wait for the round to end, and finish this behaviour; an agent that is not
        active yet (registration closed without it) sits out instead: its payload would be refused."""
        if self.me not in self.synchronized_data.participants:
            yield from self.sit_out(
                "this agent is not active yet (registration closed without it): it joins at the next key epoch"
            )
            return
        yield from self.send_and_wait(payload)

    def send_and_wait(self, payload: Any) -> Generator:
        """Send a payload to consensus, wait for the round to end, and finish this behaviour."""
        with self.context.benchmark_tool.measure(self.behaviour_id).consensus():
            yield from self.send_a2a_transaction(payload)
            yield from self.wait_until_round_end()
        self.set_done()

    def sit_out(self, reason: str) -> Generator:
        """Take no part in this round (and say why), but follow the others to the next one."""
        self.context.logger.info(f"Not taking part in this round: {reason}")
        yield from self.wait_until_round_end()
        self.set_done()

    @property
    def blob_store(self) -> BlobStore:
        """This agent's copies of what it published and agreed, for the last keep_periods periods."""
        return BlobStore(self.agent_folder / BLOBS_FOLDER, self.params.keep_periods)

    def store_blob(
        self, name: str, blob: bytes
    ) -> Generator[None, None, Optional[Tuple[str, str]]]:
        """Keep a local copy, put the blob on IPFS (retrying); return its content id and sha256 digest."""
        period = self.synchronized_data.period_count
        digest = self.blob_store.keep(period, name, blob)
        cid = yield from self.with_ipfs_retries(
            f"storing {name}", lambda: self._store_once(name, blob)
        )
        if cid is None:
            return None
        self.blob_store.remember_cid(period, digest, cid)
        return cid, digest

    def load_blob(
        self, cid: str, digest: str, what: str
    ) -> Generator[None, None, Optional[bytes]]:
        """Fetch a blob from IPFS (retrying) and check it against the agreed digest; None (logged) otherwise."""
        found = yield from self.with_ipfs_retries(
            f"fetching {what}", lambda: self._fetch_once(cid, digest)
        )
        if found is None:
            self.context.logger.error(f"Excluding {what}: IPFS did not serve {cid}")
            return None
        blob = self._as_blob(found)
        if blob is None:
            self.context.logger.error(
                f"Excluding {what}: {cid} is not one base64 blob on IPFS"
            )
            return None
        if sha256_hex(blob) != digest:
            self.context.logger.error(
                f"Excluding {what}: content {cid} does not match its agreed digest"
            )
            return None
        return blob

    @staticmethod
    def _as_blob(found: object) -> Optional[bytes]:
        """A kept copy as is, one file's base64 text decoded; None for anything else (several files, bad text)."""
        if isinstance(found, bytes):
            return found
        if not isinstance(found, str):
            return None
        try:
            return from_text(found)
        except BundleError:
            return None

    def with_ipfs_retries(
        self, what: str, attempt: Callable[[], Generator[None, None, Optional[Result]]]
    ) -> Generator[None, None, Optional[Result]]:
        """Repeat `attempt` until it gives a result, with backoff, within this round's IPFS budget."""
        plan = RetryPlan(
            IPFS_RETRY_FIRST_SECONDS,
            IPFS_RETRY_FACTOR,
            IPFS_RETRY_LONGEST_SECONDS,
            self.params.ipfs_retry_budget,
        )
        started = self._ipfs_started
        attempts = 0
        while True:
            result = yield from attempt()
            attempts += 1
            if result is not None:
                return result
            pause = plan.next_pause(attempts, time.monotonic() - started)
            if pause is None:
                self.context.logger.error(
                    f"IPFS: giving up {what} after {attempts} attempts"
                )
                return None
            self.context.logger.warning(
                f"IPFS: {what} failed (attempt {attempts}); retrying in {pause:.0f} s"
            )
            yield from self.sleep(pause)

    @property
    def _ipfs_started(self) -> float:
        """When this behaviour (one per round) first used IPFS: its retry budget counts from there."""
        if getattr(self, "_ipfs_clock", None) is None:
            self._ipfs_clock = time.monotonic()  # pylint: disable=attribute-defined-outside-init
        return cast(float, self._ipfs_clock)

    def _store_once(self, name: str, blob: bytes) -> Generator[None, None, Optional[str]]:
        """One IPFS write, bounded by ipfs_request_timeout; None if it failed."""
        try:
            cid = yield from self.send_to_ipfs(
                name,
                blob,
                custom_storer=serialize_blob,
                timeout=self.params.ipfs_request_timeout,
            )
        except TimeoutException:
            return None
        return cid

    def _fetch_once(
        self, cid: str, digest: str
    ) -> Generator[None, None, Optional[object]]:
        """One IPFS read (the raw text); if it fails and this agent kept the blob, publish it again."""
        try:
            found = yield from self.get_from_ipfs(
                cid, custom_loader=as_text, timeout=self.params.ipfs_request_timeout
            )
        except TimeoutException:
            found = None
        if found is not None:
            return found
        kept = self.blob_store.find(digest)
        if kept is None:
            return None
        name, blob = kept
        republished = yield from self._store_once(name, blob)
        if republished is not None:
            self.context.logger.warning(
                f"IPFS had lost {cid}: published this agent's copy again as {republished}"
            )
        return blob

    def prune_blobs(self) -> Generator:
        """Unpin the blobs of periods older than keep_periods (but the last accepted model's) from kubo, collect
        garbage, drop the local copies.

        A period whose blobs kubo did not unpin (kubo down) keeps its copies and is tried again next period.
        """
        store = self.blob_store
        unpinned = []
        data = self.synchronized_data
        for period, cids in store.expired(data.period_count, data.last_accepted_period).items():
            done = True
            for cid in cids:
                done = (yield from self._unpin(cid)) and done
            if done:
                store.drop(period)
                unpinned.extend(cids)
        if not unpinned:
            return
        response = yield from self.get_http_response(
            "POST", f"{self.params.ipfs_api_url.rstrip('/')}/api/v0/repo/gc"
        )
        self.context.logger.info(
            f"Unpinned {len(unpinned)} blobs of periods before the last {self.params.keep_periods}; "
            f"kubo garbage collection answered {response.status_code}"
        )

    def _unpin(self, cid: str) -> Generator[None, None, bool]:
        """Ask kubo to unpin `cid`; True if it is no longer pinned."""
        response = yield from self.get_http_response(
            "POST", f"{self.params.ipfs_api_url.rstrip('/')}/api/v0/pin/rm?arg={cid}"
        )
        return response.status_code == OK_STATUS or NOT_PINNED in response.body

    def load_indexed(
        self, published: Mapping[str, Tuple[str, str]], what: str
    ) -> Generator[None, None, Dict[int, bytes]]:
        """Each agent's (cid, digest) blob that IPFS serves with that digest, by the agent's party index."""
        blobs = {}
        for sender, (cid, digest) in sorted(published.items()):
            blob = yield from self.load_blob(cid, digest, f"{what} of {sender}")
            if blob is not None:
                blobs[self.party_index(sender)] = blob
        return blobs

    def box_public_keys(self) -> Dict[int, bytes]:
        """Every key holder's box public key, by party index."""
        exchange = self.synchronized_data.key_exchange
        return {
            index: bytes.fromhex(exchange[holder].box_public_key)
            for index, holder in enumerate(self.synchronized_data.key_holders, start=1)
        }

    def crs_seed(self) -> bytes:
        """Seed of the common random polynomial: bound to the number of the key epoch being generated and
        to its roster and box keys (so dealings, commitments and the joint key are this epoch's only)."""
        roster = [
            [holder, self.synchronized_data.key_exchange[holder].box_public_key]
            for holder in self.synchronized_data.key_holders
        ]
        generated = {"key_epoch": self.synchronized_data.key_epoch + 1, "roster": roster}
        return hashlib.sha256(CRS_DOMAIN + json.dumps(generated).encode()).digest()

    def current_key_share(self) -> Optional[ckks.KeyShare]:
        """This agent's key share, if it belongs to the key epoch every agent agreed on."""
        key_share = self.private.key_share
        if (
            key_share is None
            or key_share.epoch.hex() != self.synchronized_data.joint_public_key_digest
        ):
            return None
        return key_share

    def period_context(self) -> ckks.PeriodContext:
        """The agreed data this period's a_r, contributions and shares are bound to."""
        data = self.synchronized_data
        return self.context_for(data.global_round, data.period_count, data.global_model_digest)

    def context_for(self, global_round: int, period: int, base_model_digest: str) -> ckks.PeriodContext:
        """The context of a period of the agreed key epoch that trained on `base_model_digest` ('' before round 1)."""
        return ckks.PeriodContext(
            ckks.DEFAULT_PARAMETERS,
            bytes.fromhex(self.synchronized_data.joint_public_key_digest),
            global_round,
            period,
            # 32 bytes naming the agreed base model
            hashlib.sha256(BASE_MODEL_DOMAIN + base_model_digest.encode()).digest(),
            learning.PARAMETER_COUNT,
        )

    def global_model(self) -> learning.MnistCnn:
        """The model training starts from: the last adopted global model, or the shared initial one."""
        if self.private.global_model is None:
            self.private.global_model = (
                learning.build_model(self.params.model_seed)
                if self.params.initial_model is None
                else learning.load_model(self.params.initial_model)
            )
        return self.private.global_model

    def agent_data(self) -> learning.AgentData:
        """This agent's partition, loaded once (also after a restart, before it trains): its index among all
        registered agents picks it."""
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
            self.private.data = partitions[agents.index(self.me)]
        return self.private.data

    def catch_up(self) -> Generator:
        """Take the last accepted model from its round's public record if this agent missed that round.

        An agent whose Tendermint node was down while a round was accepted passes through that round's
        blocks without acting. The record (agreed in consensus) names the included updates, their
        commitments and the sealed decryption shares, so an agent one round behind sums the same
        contributions, checks the sum's digest, opens the shares sealed to it and applies the average to the
        model it holds; the result must have the accepted digest. A restarted agent takes that base from its own
        saved copy. An agent further behind, without this epoch's keys, or whose rebuild fails (e.g. the round's
        blobs were pruned) opens a voter's envelope of the accepted model (sealed to the key holders) and checks
        its model against the agreed digest. The key epoch check runs this first, so a rotation never erases the
        key share or box key that the catch-up needs.
        """
        record = self.synchronized_data.accepted_round_record
        if not record or record["global_round"] <= self.private.adopted_round:
            return
        base = self._held_model(record["global_round"] - 1)
        box_key, key_share = self.private.box_key, self.current_key_share()
        if (
            base is not None
            and record["joint_public_key_digest"] == self.synchronized_data.joint_public_key_digest
            and box_key is not None
            and key_share is not None
        ):
            candidate = yield from self._rebuilt_model(record, base, box_key, key_share)
            if candidate is not None:
                self.private.candidate_model = candidate
                self.adopt_accepted_model()
                if self.private.adopted_round == record["global_round"]:
                    self.context.logger.info(f"Caught up: global round {record['global_round']} rebuilt from its record")
                    return
        yield from self._fetch_accepted_model(record)

    def _rebuilt_model(
        self, record: Dict[str, Any], base: learning.MnistCnn, box_key: PrivateKey, key_share: ckks.KeyShare
    ) -> Generator[None, None, Optional[learning.MnistCnn]]:
        """The model of a round one after `base`, decrypted again from its record; None (logged) if it fails."""
        aggregate = yield from self._recorded_aggregate(record, base, key_share)
        if aggregate is None:
            return None
        holders = self.synchronized_data.key_holders
        sealed = yield from self.load_indexed(
            {sender: (item["cid"], item["digest"]) for sender, item in record["decryption_shares"].items()},
            "the decryption share",
        )
        try:
            result = ckks.combine_decryption_shares(
                aggregate, sorted(sealed.items()), self.party_index(self.me), box_key, len(holders), key_share.threshold
            )
            return learning.apply_update(base, learning.check_parameter_vector(result.values))
        except INPUT_ERRORS as error:
            self.context.logger.error(f"Could not rebuild global round {record['global_round']}: {error}")
            return None

    def _fetch_accepted_model(self, record: Dict[str, Any]) -> Generator:
        """Open the voters' envelopes of the accepted model in a fixed order; adopt the first whose model has the
        agreed digest. A refused envelope is logged and the next voter's tried; none is grounds for blame (an
        envelope sealed under a key this agent lost is not the voter's fault)."""
        global_round, held = record["global_round"], self.private.adopted_round
        envelopes = record.get("global_model_envelopes") or {}
        box_key, data = self.private.box_key, self.synchronized_data
        if not envelopes:
            self.context.logger.warning(f"Cannot catch up to global round {global_round}: its record names no model")
            return
        if (
            record["joint_public_key_digest"] != data.joint_public_key_digest
            or box_key is None
            or self.me not in data.key_holders
        ):
            self.context.logger.warning(
                f"Cannot catch up to global round {global_round}: its model is sealed to the key holders of a key "
                "epoch this agent holds no box key of; sitting out until a round is accepted in its key epoch"
            )
            return
        for voter, envelope in sorted(envelopes.items()):
            candidate = yield from self._opened_envelope(record, voter, envelope["cid"], envelope["digest"], box_key)
            if candidate is not None:
                self.private.candidate_model = candidate
                self.adopt_accepted_model()
                if self.private.adopted_round == global_round:
                    self.context.logger.info(
                        f"Caught up: global round {global_round} (this agent held round {held}) opened from the "
                        f"envelope of {voter} on IPFS ({envelope['cid']}), its model checked against the agreed digest"
                    )
                return
        self.context.logger.error(
            f"Cannot catch up to global round {global_round}: no envelope holds its agreed model; sitting out"
        )

    def _opened_envelope(
        self, record: Dict[str, Any], voter: str, cid: str, digest: str, box_key: PrivateKey
    ) -> Generator[None, None, Optional[learning.MnistCnn]]:
        """The agreed model in `voter`'s envelope, or None (logged) if IPFS does not serve it or it is refused."""
        global_round = record["global_round"]
        if voter not in self.synchronized_data.key_holders:
            self.context.logger.warning(f"Refusing the model envelope of {voter}: it holds no key of this epoch")
            return None
        blob = yield from self.load_blob(cid, digest, f"the model envelope of {voter} for global round {global_round}")
        if blob is None:
            return None
        try:
            return model_envelope.open_model(
                blob,
                self.party_index(self.me),
                box_key,
                self.party_index(voter),
                global_round,
                record["global_model_digest"],
            )
        except model_envelope.ModelEnvelopeError as error:
            self.context.logger.warning(f"Refusing the model envelope of {voter} for global round {global_round}: {error}")
            return None

    def _held_model(self, global_round: int) -> Optional[learning.MnistCnn]:
        """The model of `global_round` this agent holds: in memory, else its own saved copy (lost from memory by
        a restart); a wrong copy fails the recorded aggregate's and model's digests."""
        if self.private.adopted_round == global_round:
            return self.global_model()
        try:
            return learning.load_model(self.agent_folder / MODELS_FOLDER / f"round_{global_round:04d}.pt")
        except learning.ModelParametersError:
            return None

    def _recorded_aggregate(
        self, record: Dict[str, Any], base: learning.MnistCnn, key_share: ckks.KeyShare
    ) -> Generator[None, None, Optional[ckks.Aggregate]]:
        """The sum of a record's included contributions, if it has the recorded digest."""
        previous_round = record["global_round"] - 1
        context = self.context_for(
            previous_round,
            record["period"],
            learning.model_digest(base) if previous_round else "",
        )
        included = record["included_updates"]
        commitments = {self.party_index(sender): bytes.fromhex(item["commitment"]) for sender, item in included.items()}
        reveals = yield from self.load_indexed(
            {sender: (item["cid"], item["digest"]) for sender, item in included.items()}, "the update"
        )
        outcome = ckks.aggregate_contributions(
            context, commitments, reveals, key_share.qualified, len(self.synchronized_data.key_holders), key_share.threshold
        )
        aggregate = outcome.aggregate
        if aggregate is None or aggregate.digest.hex() != record["aggregate_digest"]:
            self.context.logger.error(
                f"Could not rebuild global round {record['global_round']}: its updates do not sum to the recorded digest"
            )
            return None
        return aggregate

    def adopt_accepted_model(self) -> None:
        """If the network accepted the model this agent decrypted, make it the global model; save it and its record."""
        record = self.synchronized_data.accepted_round_record
        if not record or record["global_round"] <= self.private.adopted_round:
            return
        round_name = f"round_{record['global_round']:04d}"
        candidate = self.private.candidate_model
        if (
            candidate is None
            or learning.model_digest(candidate) != record["global_model_digest"]
        ):
            self._restore_saved_model(record, round_name)
            return
        self.private.global_model = candidate
        self.private.adopted_round = record["global_round"]
        aggregate = self.private.aggregate
        if aggregate is not None and aggregate.digest.hex() == record.get(
            "aggregate_digest"
        ):
            self.blob_store.keep(record["period"], AGGREGATE_BLOB, aggregate.to_bytes())
        learning.save_model(
            candidate, self.agent_folder / MODELS_FOLDER / f"{round_name}.pt"
        )
        validation = self.agent_data().validation
        accuracy = learning.evaluate(candidate, validation).accuracy
        own_record = {**record, "validation_accuracy": accuracy}
        path = self.agent_folder / RECORDS_FOLDER / f"{round_name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(own_record, indent=2))
        self.context.logger.info(
            f"Global round {record['global_round']} accepted: {record['global_model_digest']} "
            f"(validation accuracy {accuracy:.4f})"
        )

    def _restore_saved_model(self, record: Dict[str, Any], round_name: str) -> None:
        """A restarted agent lost its models in memory: take the accepted one back from its own saved copy."""
        path = self.agent_folder / MODELS_FOLDER / f"{round_name}.pt"
        try:
            saved = learning.load_model(path)
        except learning.ModelParametersError:
            saved = None
        if saved is None or learning.model_digest(saved) != record["global_model_digest"]:
            self.context.logger.warning(  # the catch-up that follows says whether it recovers it
                f"Global round {record['global_round']} was accepted, but this agent does not hold that model"
            )
            return
        self.private.global_model = saved
        self.private.adopted_round = record["global_round"]
        self.context.logger.info(
            f"Global round {record['global_round']} restored from this agent's saved copy"
        )


class KeyEpochCheckBehaviour(SmpcMnistBaseBehaviour):
    """At a period's start: report whether the key epoch's periods are used up or the last decryption failed."""

    matching_round: Type[AbstractRound] = KeyEpochCheckRound

    def async_act(self) -> Generator:
        """Catch up with the last accepted round while this epoch's key share exists; then report both facts (the
        round rotates the key if enough agents report one of them)."""
        self.adopt_accepted_model()
        yield from self.catch_up()
        data = self.synchronized_data
        used = data.period_count - data.key_epoch_start_period
        payload = KeyEpochCheckPayload(
            self.me,
            key_epoch_over=used >= self.params.key_epoch_periods,
            decryption_failed=self.private.failed_decryption_period
            == data.period_count - 1,
        )
        yield from self.submit(payload)


class KeyExchangeBehaviour(SmpcMnistBaseBehaviour):
    """Start a key epoch: erase the old key material (also from the key store), publish a fresh box public key.

    The FSM never returns to an older key epoch once a key generation starts, so its secrets go at once.
    """

    matching_round: Type[AbstractRound] = KeyExchangeRound

    def async_act(self) -> Generator:
        """Publish this agent's new box public key."""
        data = self.synchronized_data
        if data.key_rotation_reason:
            self.context.logger.info(
                f"Rotating the key: {data.key_rotation_reason}; generating key epoch {data.key_epoch + 1}"
            )
        with self.context.benchmark_tool.measure(self.behaviour_id).local():
            self.private.start_key_epoch()
            box_key = PrivateKey.generate()
            self.private.box_key = box_key
            self.save_keys()
            payload = KeyExchangePayload(
                self.me, box_public_key=bytes(box_key.public_key).hex()
            )
        # Every participant may join a key epoch, also one that is not active yet (KeyExchangeRound).
        yield from self.send_and_wait(payload)


class DealingCommitBehaviour(SmpcMnistBaseBehaviour):
    """Deal this key holder's secret (public images, sub-shares sealed to each key holder); commit to it."""

    matching_round: Type[AbstractRound] = DealingCommitRound

    def async_act(self) -> Generator:
        """Make the dealing, keep it private, send only its commitment."""
        holders = self.synchronized_data.key_holders
        if self.me not in holders or self.private.box_key is None:
            yield from self.sit_out("this agent holds no box key in this epoch")
            return
        with self.context.benchmark_tool.measure(self.behaviour_id).local():
            try:
                dealer = self._deal()
            except INPUT_ERRORS as error:
                yield from self.sit_out(f"no dealing for this roster: {error}")
                return
            self.private.dealer = dealer
            self.save_keys()
            commitment = ckks.dealing_commitment(
                dealer.dealing.to_bytes(), self.crs_seed(), dealer.index
            )
        yield from self.submit(
            DealingCommitPayload(self.me, dealing_commitment=commitment.hex())
        )

    def _deal(self) -> ckks.Dealer:
        """A fresh dealing of this agent's additive secret for the epoch's roster."""
        return ckks.Dealer(
            self.party_index(self.me),
            len(self.synchronized_data.key_holders),
            self.params.decryption_threshold,
            self.crs_seed(),
            self.box_public_keys(),
        )


class DealingRevealBehaviour(SmpcMnistBaseBehaviour):
    """Reveal the committed dealing on IPFS."""

    matching_round: Type[AbstractRound] = DealingRevealRound

    def async_act(self) -> Generator:
        """Upload the dealing; report its content id and digest."""
        dealer = self.private.dealer
        if self.me not in self.synchronized_data.dealing_commitments or dealer is None:
            yield from self.sit_out("this agent committed to no dealing in this epoch")
            return
        stored = yield from self.store_blob("dealing", dealer.dealing.to_bytes())
        if stored is None:
            yield from self.sit_out("IPFS did not store the dealing")
            return
        yield from self.submit(
            DealingRevealPayload(self.me, dealing_cid=stored[0], dealing_digest=stored[1])
        )


class KeyGenerationBehaviour(SmpcMnistBaseBehaviour, ABC):
    """What the complaint and joint key steps share: the revealed dealings that pass the public check."""

    def checked_dealings(self) -> Generator[None, None, Dict[int, ckks.Dealing]]:
        """Every revealed dealing that opens its agreed commitment and passes the public check, by dealer index."""
        data = self.synchronized_data
        commitments = data.dealing_commitments
        n_parties, seed = len(data.key_holders), self.crs_seed()
        dealings = {}
        for dealer, reveal in sorted(data.dealing_reveals.items()):
            label = f"the dealing of {dealer}"
            blob = yield from self.load_blob(reveal.dealing_cid, reveal.dealing_digest, label)
            if blob is None:
                continue
            index = self.party_index(dealer)
            try:
                dealings[index] = ckks.check_dealing(
                    blob,
                    bytes.fromhex(commitments[dealer].dealing_commitment),
                    index,
                    n_parties,
                    self.params.decryption_threshold,
                    seed,
                )
            except INPUT_ERRORS as error:
                self.context.logger.error(f"Excluding {label}: {error}")
        return dealings


class ComplaintBehaviour(KeyGenerationBehaviour):
    """Open and check the sub-share every dealer sealed to this agent; complain about those that fail."""

    matching_round: Type[AbstractRound] = ComplaintRound

    def async_act(self) -> Generator:
        """Report the dealers whose box does not open or whose point does not match its images."""
        box_key = self.private.box_key
        if self.me not in self.synchronized_data.key_holders or box_key is None:
            yield from self.sit_out("this agent holds no box key in this epoch")
            return
        dealings = yield from self.checked_dealings()
        me, holders = self.party_index(self.me), self.synchronized_data.key_holders
        accused = []
        with self.context.benchmark_tool.measure(self.behaviour_id).local():
            for index, dealing in sorted(dealings.items()):
                if index == me:
                    continue
                try:
                    ckks.open_sub_share(dealing, me, box_key, self.crs_seed())
                except ckks.BadDealingError as error:
                    self.context.logger.warning(
                        f"Complaining about the dealing of {holders[index - 1]}: {error}"
                    )
                    accused.append(holders[index - 1])
        yield from self.submit(ComplaintPayload(self.me, complaints=",".join(accused)))


class JustificationBehaviour(SmpcMnistBaseBehaviour):
    """Answer every complaint against this agent's dealing with the disputed point, in the clear."""

    matching_round: Type[AbstractRound] = JustificationRound

    def async_act(self) -> Generator:
        """Publish the plain points the complainers were entitled to (nothing if no one complained)."""
        data = self.synchronized_data
        complainers = sorted(
            self.party_index(sender)
            for sender, payload in data.complaints.items()
            if self.me in payload.complaints.split(",")
        )
        dealer = self.private.dealer
        if self.me not in data.key_holders or (complainers and dealer is None):
            yield from self.sit_out("this agent holds no dealing in this epoch")
            return
        answers = self._answers(cast(ckks.Dealer, dealer), complainers)
        stored = None
        if answers:
            stored = yield from self.store_blob("justifications", pack_bundle(answers))
            if stored is None:
                yield from self.sit_out("IPFS did not store the justifications")
                return
        yield from self.submit(
            JustificationPayload(
                self.me,
                justifications_cid=None if stored is None else stored[0],
                justifications_digest=None if stored is None else stored[1],
            )
        )

    @staticmethod
    def _answers(dealer: ckks.Dealer, complainers: List[int]) -> Dict[int, bytes]:
        """The plain point f_i(j) for every complainer j."""
        return {complainer: dealer.justification(complainer) for complainer in complainers}


class JointKeyBehaviour(KeyGenerationBehaviour):
    """Derive QUAL and the joint public key from the agreed data; finalize this agent's key share; vote."""

    matching_round: Type[AbstractRound] = JointKeyRound

    def async_act(self) -> Generator:
        """Vote for (joint key digest, QUAL), or None if no key can be built from what was published."""
        if self.me not in self.synchronized_data.key_holders:
            yield from self.sit_out("this agent is no key holder in this epoch")
            return
        dealings = yield from self.checked_dealings()
        justified, opened = yield from self._justifications(dealings)
        holders = self.synchronized_data.key_holders
        try:
            qualified = ckks.qualified_dealers(
                len(holders),
                self.params.decryption_threshold,
                dealings,
                self._complaints(),
                justified,
            )
            public_key = ckks.joint_public_key(dealings, qualified, self.crs_seed())
        except INPUT_ERRORS as error:
            self.context.logger.error(f"Key generation fails: {error}")
            yield from self.submit(
                JointKeyPayload(self.me, joint_public_key_digest=None, qualified_dealers=None)
            )
            return
        for index in sorted(set(range(1, len(holders) + 1)) - set(qualified)):
            self.context.logger.warning(
                f"Dealer {holders[index - 1]} is excluded from QUAL: its dealing was not "
                "committed, revealed, publicly consistent or justified"
            )
        self._finalize(public_key, dealings, opened)
        yield from self.submit(
            JointKeyPayload(
                self.me,
                joint_public_key_digest=public_key.digest.hex(),
                qualified_dealers=",".join(holders[index - 1] for index in qualified),
            )
        )

    def _complaints(self) -> Dict[int, List[int]]:
        """Agreed complaints as complainer index -> accused dealer indices."""
        return {
            self.party_index(sender): [
                self.party_index(dealer) for dealer in payload.complaints.split(",")
            ]
            for sender, payload in self.synchronized_data.complaints.items()
            if payload.complaints
        }

    def _justifications(
        self, dealings: Mapping[int, ckks.Dealing]
    ) -> Generator[None, None, Tuple[Dict[int, List[int]], Dict[int, Any]]]:
        """Dealer -> complainers it answered correctly, and the answered points meant for this agent."""
        data, me = self.synchronized_data, self.party_index(self.me)
        justified: Dict[int, List[int]] = {}
        opened: Dict[int, Any] = {}
        accusers: Dict[int, List[int]] = {}
        for complainer, dealers in self._complaints().items():
            for dealer in dealers:
                accusers.setdefault(dealer, []).append(complainer)
        for dealer, complainers in sorted(accusers.items()):
            holder = data.key_holders[dealer - 1]
            answer = data.justifications.get(holder)
            if dealer not in dealings or answer is None or answer.justifications_cid is None:
                continue
            label = f"the justifications of {holder}"
            blob = yield from self.load_blob(
                answer.justifications_cid, cast(str, answer.justifications_digest), label
            )
            if blob is None:
                continue
            try:
                points = unpack_bundle(blob)
            except BundleError as error:
                self.context.logger.error(f"Excluding {label}: {error}")
                continue
            for complainer in complainers:
                try:
                    point = ckks.check_justification(
                        points[complainer], dealings[dealer], complainer, self.crs_seed()
                    )
                except (KeyError, *INPUT_ERRORS) as error:
                    self.context.logger.error(f"Excluding {label}: {error!r}")
                    continue
                justified.setdefault(dealer, []).append(complainer)
                if complainer == me:
                    opened[dealer] = point
        return justified, opened

    def _finalize(
        self,
        public_key: ckks.EpochPublicKey,
        dealings: Mapping[int, ckks.Dealing],
        opened: Mapping[int, Any],
    ) -> None:
        """This agent's key share from the points of QUAL's dealers (opened boxes or answered complaints)."""
        dealer, box_key = self.private.dealer, self.private.box_key
        if dealer is None or box_key is None:
            self.context.logger.warning("This agent holds no dealing: it gets no key share")
            return
        me = self.party_index(self.me)
        try:
            received = {
                index: opened[index]
                if index in opened
                else ckks.open_sub_share(dealings[index], me, box_key, self.crs_seed())
                for index in public_key.qualified
            }
            self.private.key_share = dealer.finalize(public_key, received)
        except INPUT_ERRORS as error:
            self.context.logger.error(f"This agent gets no key share: {error}")
            return
        self.private.dealer = None
        self.private.issuance.keep_epoch(public_key.digest)
        self.save_keys()


class TrainingBehaviour(SmpcMnistBaseBehaviour):
    """Adopt the last accepted global model, then train the local model on this agent's partition."""

    matching_round: Type[AbstractRound] = TrainingRound

    def async_act(self) -> Generator:
        """Train off the main loop, encrypt the update, then report and commit to it."""
        self.private.update_blob = None
        self.adopt_accepted_model()  # in case this agent's vote behaviour did not see the vote end
        yield from self.catch_up()
        yield from self.prune_blobs()
        if self.synchronized_data.previous_update_incomplete:
            failure = self.synchronized_data.settlement_failure
            self.context.logger.warning(
                f"Period {self.synchronized_data.period_count - 1} ended without a final global model"
                + (f": {failure}" if failure else "")
            )
        key_share = self.current_key_share()
        if key_share is None:
            yield from self.sit_out(
                "this agent holds no key share of the agreed key epoch"
            )
            return
        if key_share.index not in key_share.qualified:
            yield from self.sit_out(
                "this agent's dealing is not in QUAL: its updates would not decrypt"
            )
            return
        if self.private.adopted_round != self.synchronized_data.global_round:
            yield from self.sit_out(
                f"this agent holds the model of global round {self.private.adopted_round}, "
                f"the agreed one is round {self.synchronized_data.global_round}: "
                "an update against a stale model would be refused"
            )
            return
        with self.context.benchmark_tool.measure(self.behaviour_id).local():
            try:
                data = self.agent_data()
                base = self.global_model()
                trained = yield from self._train_in_background(base, data.train)
                context = self.period_context()
                blob = self._encrypt(
                    learning.model_update(trained, base),
                    len(data.train),
                    key_share,
                    context,
                )
                self.save_keys()
            except INPUT_ERRORS as error:  # e.g. a diverged model's NaN update
                yield from self.sit_out(f"no local update this period: {error}")
                return
            self.private.local_model = trained
            self.private.update_blob = blob
            accuracy = learning.evaluate(trained, data.validation).accuracy
            self.context.logger.info(
                f"Local model trained on {len(data.train)} samples: accuracy {accuracy:.4f}"
            )
            payload = TrainingPayload(
                self.me,
                local_model_digest=learning.model_digest(trained),
                sample_count=len(data.train),
                base_model_digest=self.synchronized_data.global_model_digest,
                update_commitment=ckks.contribution_commitment(
                    context, key_share.index, blob
                ).hex(),
            )
        yield from self.submit(payload)

    def _encrypt(
        self,
        update: np.ndarray,
        weight: int,
        key_share: ckks.KeyShare,
        context: ckks.PeriodContext,
    ) -> bytes:
        """The weighted update under this agent's additive key share and the period's a_r (once per period)."""
        return ckks.encrypt_update(
            update, weight, key_share, context, self.private.issuance
        )


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


class SubmitUpdateBehaviour(SmpcMnistBaseBehaviour):
    """Reveal the encrypted update this agent committed to in its training report."""

    matching_round: Type[AbstractRound] = SubmitUpdateRound

    def async_act(self) -> Generator:
        """Upload the committed ciphertext; report its content id and digest."""
        blob = self.private.update_blob
        if self.me not in self.synchronized_data.training_reports or blob is None:
            yield from self.sit_out("this agent committed to no update in this period")
            return
        stored = yield from self.store_blob("encrypted_update", blob)
        if stored is None:
            yield from self.sit_out("IPFS did not store the encrypted update")
            return
        yield from self.submit(
            SubmitUpdatePayload(self.me, update_cid=stored[0], update_digest=stored[1])
        )


class AggregationBehaviour(SmpcMnistBaseBehaviour):
    """Sum the admitted contributions of the agreed commitments; vote on the sum and on who is in it."""

    matching_round: Type[AbstractRound] = AggregationRound

    def async_act(self) -> Generator:
        """Fetch every revealed update, aggregate those that open their commitments and fit the period, vote."""
        self.private.aggregate = None
        key_share = self.current_key_share()
        if key_share is None:
            yield from self.sit_out("this agent holds no key share of the agreed key epoch")
            return
        reveals = yield from self._reveals()
        holders = self.synchronized_data.key_holders
        context = self.period_context()
        commitments = {
            self.party_index(sender): bytes.fromhex(report.update_commitment)
            for sender, report in self.synchronized_data.training_reports.items()
        }
        with self.context.benchmark_tool.measure(self.behaviour_id).local():
            outcome = ckks.aggregate_contributions(
                context,
                commitments,
                reveals,
                key_share.qualified,
                len(holders),
                key_share.threshold,
            )
        excluded = {
            holders[index - 1]: reason.value
            for index, reason in sorted(outcome.excluded.items())
        }
        for sender, reason in excluded.items():
            self.context.logger.error(f"Excluding the update of {sender}: {reason}")
        aggregate = outcome.aggregate
        needed = max(
            self.params.min_updates, ckks.minimum_contributors(len(holders))
        )
        payload = AggregationPayload(
            self.me, aggregate_digest=None, included_updates=None, excluded_updates=None
        )
        if aggregate is None or len(aggregate.contributors) < needed:
            found = 0 if aggregate is None else len(aggregate.contributors)
            self.context.logger.warning(
                f"Only {found} key holders' updates are valid, {needed} needed"
            )
        else:
            self.private.aggregate = aggregate
            payload = AggregationPayload(
                self.me,
                aggregate_digest=aggregate.digest.hex(),
                included_updates=",".join(
                    holders[index - 1] for index in aggregate.contributors
                ),
                excluded_updates=json.dumps(excluded, sort_keys=True),
            )
        yield from self.submit(payload)

    def _reveals(self) -> Generator[None, None, Dict[int, bytes]]:
        """Each revealed update that IPFS serves with its agreed digest, by party index."""
        submitted = self.synchronized_data.submitted_updates
        return (yield from self.load_indexed(
            {sender: (item.update_cid, item.update_digest) for sender, item in submitted.items()}, "the update"
        ))


class DecryptionShareBehaviour(SmpcMnistBaseBehaviour):
    """Publish this key holder's flooded decryption share of the agreed sum, sealed to every key holder."""

    matching_round: Type[AbstractRound] = DecryptionShareRound

    def async_act(self) -> Generator:
        """Issue the share once per period (a retry republishes the same bytes), upload, report."""
        data = self.synchronized_data
        aggregate, key_share = self.private.aggregate, self.current_key_share()
        if aggregate is None or key_share is None:
            yield from self.sit_out("this agent holds no agreed sum or no key share")
            return
        if aggregate.digest.hex() != data.aggregate_digest:
            yield from self.sit_out("this agent's sum differs from the agreed one")
            return
        stored = self.private.published_shares.get(data.aggregate_digest)
        if stored is None:
            try:
                blob = self._share(aggregate, key_share)
                self.save_keys()
            except INPUT_ERRORS as error:
                yield from self.sit_out(f"no decryption share: {error}")
                return
            stored = yield from self.store_blob("decryption_share", blob)
            if stored is None:
                yield from self.sit_out("IPFS did not store the decryption share")
                return
            self.private.published_shares[data.aggregate_digest] = stored
        yield from self.submit(
            DecryptionSharePayload(
                self.me, shares_cid=stored[0], shares_digest=stored[1]
            )
        )

    def _share(self, aggregate: ckks.Aggregate, key_share: ckks.KeyShare) -> bytes:
        """This key holder's share for the agreed contributors, sealed to the key holders (once per period)."""
        return ckks.issue_decryption_share(
            key_share,
            aggregate.context,
            aggregate.contributors,
            self.private.issuance,
            self.box_public_keys(),
        )


class GlobalModelVoteBehaviour(SmpcMnistBaseBehaviour):
    """Open the shares sealed to this agent, combine them robustly, check the new global model, vote on it."""

    matching_round: Type[AbstractRound] = GlobalModelVoteRound

    def async_act(self) -> Generator:
        """Vote for the candidate's digest and weight commitment with this agent's envelope of it, or all None to
        reject it."""
        candidate = yield from self._candidate()
        vote = None
        if candidate is not None:
            vote = yield from self._vote_for(candidate)
        self.private.candidate_model = None if vote is None else candidate
        rejection = GlobalModelVotePayload(
            self.me,
            global_model_digest=None,
            global_round=None,
            weight_commitment=None,
            model_envelope_cid=None,
            model_envelope_digest=None,
        )
        yield from self.submit(rejection if vote is None else vote)

    def _vote_for(self, candidate: learning.MnistCnn) -> Generator[None, None, Optional[GlobalModelVotePayload]]:
        """The vote for a candidate that has a weight commitment (else no proof of inference could be checked
        against it) and whose envelope, sealed to the key holders, is on IPFS (where an agent that missed rounds
        takes it from); None otherwise."""
        commitment = yield from self._weight_commitment(candidate)
        if commitment is None:
            return None
        global_round = self.synchronized_data.global_round + 1
        try:
            envelope = model_envelope.seal_model(
                candidate, global_round, self.party_index(self.me), self.box_public_keys()
            )
        except model_envelope.ModelEnvelopeError as error:
            self.context.logger.error(f"Rejecting: cannot seal the candidate model: {error}")
            return None
        stored = yield from self.store_blob(MODEL_ENVELOPE_BLOB, envelope)
        if stored is None:
            self.context.logger.error("Rejecting: IPFS did not store the candidate's model envelope")
            return None
        return GlobalModelVotePayload(
            self.me,
            global_model_digest=learning.model_digest(candidate),
            global_round=global_round,
            weight_commitment=commitment,
            model_envelope_cid=stored[0],
            model_envelope_digest=stored[1],
        )

    def _weight_commitment(
        self, candidate: learning.MnistCnn
    ) -> Generator[None, None, Optional[str]]:
        """The KZG commitment of the candidate's quantised weights (EZKL, seconds: in the task manager), or None."""
        task_id = self.context.task_manager.enqueue_task(
            self.params.proof_circuit.weight_commitment_hex, args=(candidate,)
        )
        result = self.context.task_manager.get_task_result(task_id)
        while not result.ready():
            yield from self.sleep(self.params.sleep_time)
        try:
            return cast(str, result.get())
        except zk_inference.ZkInferenceError as error:
            self.context.logger.error(
                f"Rejecting: no weight commitment for the candidate: {error}"
            )
            return None

    def _candidate(self) -> Generator[None, None, Optional[learning.MnistCnn]]:
        """The decrypted average applied to the global model, if it decrypts and passes the checks."""
        aggregate, box_key = self.private.aggregate, self.private.box_key
        global_model = self.private.global_model
        if aggregate is None or box_key is None or global_model is None:
            self.context.logger.warning(
                "Rejecting: this agent holds no agreed sum to decrypt"
            )
            return None
        sealed = yield from self._sealed_shares()
        holders = self.synchronized_data.key_holders
        try:
            result = ckks.combine_decryption_shares(
                aggregate,
                sealed,
                self.party_index(self.me),
                box_key,
                len(holders),
                self.params.decryption_threshold,
            )
            average = learning.check_parameter_vector(result.values)
        except INPUT_ERRORS as error:
            self.context.logger.error(
                f"Rejecting: the average does not decrypt: {error}"
            )
            self.private.failed_decryption_period = self.synchronized_data.period_count
            return None
        self._log_shares(result, holders)
        candidate = learning.apply_update(global_model, average)
        return candidate if self._passes_checks(candidate, global_model) else None

    def _sealed_shares(self) -> Generator[None, None, List[Tuple[int, bytes]]]:
        """(party index, sealed share) of every key holder whose share IPFS serves with its agreed digest."""
        shares = self.synchronized_data.decryption_shares
        sealed = yield from self.load_indexed(
            {sender: (item.shares_cid, item.shares_digest) for sender, item in shares.items()},
            "the decryption share",
        )
        return sorted(sealed.items())

    def _log_shares(self, result: ckks.DecryptionResult, holders: List[str]) -> None:
        """Name every key holder whose share was unusable or inconsistent; say when there was no redundancy."""
        for index, reason in sorted(result.excluded.items()):
            self.context.logger.error(
                f"Excluding the decryption share of {holders[index - 1]}: {reason.value}"
            )
        for index in result.inconsistent:
            self.context.logger.error(
                f"Excluding the decryption shares of {holders[index - 1]}: they do not decrypt consistently"
            )
        if not result.redundant:
            self.context.logger.warning(
                "Only the threshold of decryption shares was usable: a wrong one could not have been detected"
            )


    def _passes_checks(
        self, candidate: learning.MnistCnn, global_model: learning.MnistCnn
    ) -> bool:
        """Accuracy on this agent's own validation split may not drop by more than the margin."""
        validation = self.agent_data().validation
        before = learning.evaluate(global_model, validation).accuracy
        after = learning.evaluate(candidate, validation).accuracy
        self.context.logger.info(
            f"Candidate global model: accuracy {before:.4f} -> {after:.4f}"
        )
        if after < before - self.params.accuracy_margin:
            self.context.logger.warning(
                f"Rejecting: accuracy drops by more than {self.params.accuracy_margin}"
            )
            return False
        return True


class PrepareSettlementBehaviour(SmpcMnistBaseBehaviour):
    """Build the Safe transaction that records the accepted round and pays its contributors (one multisend)."""

    matching_round: Type[AbstractRound] = PrepareSettlementRound

    def async_act(self) -> Generator:
        """Vote for the tx settlement hash payload of the Safe transaction, or None if it cannot be built."""
        with self.context.benchmark_tool.measure(self.behaviour_id).local():
            tx_hash = yield from self._settlement_tx_hash()
        yield from self.submit(PrepareSettlementPayload(self.me, tx_hash=tx_hash))

    def _settlement_tx_hash(self) -> Generator[None, None, Optional[str]]:
        """registry call (+ rewards) -> multisend data -> Safe tx hash -> tx settlement payload."""
        data = self.synchronized_data
        try:
            arguments = settlement.registry_arguments(
                data.accepted_round_record,
                data.all_participants,
                data.key_holders,
                list(data.submitted_updates),
            )
            rewards = settlement.reward_transfers(
                arguments["contributors"], self.params.settlement_reward_wei
            )
        except settlement.SettlementError as error:
            self.context.logger.error(f"Cannot settle the accepted round: {error}")
            return None
        record_call = yield from self._contract_call(
            ContractApiMessage.Performative.GET_STATE,
            self.params.model_registry_address,
            str(ModelRegistryContract.contract_id),
            "get_record_round_data",
            **arguments,
        )
        if record_call is None:
            return None
        calls = [
            {
                "operation": MultiSendOperation.CALL,
                "to": self.params.model_registry_address,
                "value": 0,
                "data": bytes.fromhex(record_call["data"][2:]),
            },
            *(
                {"operation": MultiSendOperation.CALL, "data": b"", **reward}
                for reward in rewards
            ),
        ]
        multisend = yield from self._contract_call(
            ContractApiMessage.Performative.GET_RAW_TRANSACTION,
            self.params.multisend_address,
            str(MultiSendContract.contract_id),
            "get_tx_data",
            multi_send_txs=calls,
        )
        if multisend is None:
            return None
        multisend_data = bytes.fromhex(multisend["data"][2:])
        safe_tx = yield from self._contract_call(
            ContractApiMessage.Performative.GET_STATE,
            data.safe_contract_address,
            str(GnosisSafeContract.contract_id),
            "get_raw_safe_transaction_hash",
            to_address=self.params.multisend_address,
            value=0,
            data=multisend_data,
            operation=SafeOperation.DELEGATE_CALL.value,
            safe_tx_gas=0,
        )
        if safe_tx is None:
            return None
        self.context.logger.info(
            f"Settling global round {arguments['round_number']} through the Safe: "
            f"{len(arguments['contributors'])} contributors, "
            f"{len(arguments['exclusions'])} excluded, {len(rewards)} rewards"
        )
        return hash_payload_to_hex(
            safe_tx_hash=safe_tx["tx_hash"][2:],
            ether_value=0,
            safe_tx_gas=0,
            to_address=self.params.multisend_address,
            data=multisend_data,
            operation=SafeOperation.DELEGATE_CALL.value,
        )

    def _contract_call(
        self,
        performative: ContractApiMessage.Performative,
        contract_address: str,
        contract_id: str,
        contract_callable: str,
        **kwargs: Any,
    ) -> Generator[None, None, Optional[Dict[str, Any]]]:
        """One contract_api request; its body, or None (logged) if the ledger connection answers an error."""
        response = yield from self.get_contract_api_response(
            performative=performative,
            contract_address=contract_address,
            contract_id=contract_id,
            contract_callable=contract_callable,
            chain_id=self.params.default_chain_id,
            **kwargs,
        )
        if response.performative == ContractApiMessage.Performative.STATE:
            return cast(Dict[str, Any], response.state.body)
        if response.performative == ContractApiMessage.Performative.RAW_TRANSACTION:
            return cast(Dict[str, Any], response.raw_transaction.body)
        self.context.logger.error(
            f"Cannot settle the accepted round: {contract_callable} failed: {response}"
        )
        return None


class FinalizeModelBehaviour(SmpcMnistBaseBehaviour):
    """The settlement was validated on chain: vote to make the accepted model final."""

    matching_round: Type[AbstractRound] = FinalizeModelRound

    def async_act(self) -> Generator:
        """Report the validated settlement transaction."""
        tx_hash = self.synchronized_data.final_tx_hash
        self.context.logger.info(
            f"Global round {self.synchronized_data.global_round} settled on chain in {tx_hash}"
        )
        yield from self.submit(FinalizeModelPayload(self.me, settlement_tx_hash=tx_hash))

    def clean_up(self) -> None:
        """The framework calls this as the finalization round ends, with its outcome agreed: the accepted model
        is final (its settlement validated on chain), so adopt it and write its model and record at once."""
        super().clean_up()
        self.adopt_accepted_model()


class SettlementFailedBehaviour(SmpcMnistBaseBehaviour):
    """The settlement failed: agree on why; the accepted model is rolled back to the last final one."""

    matching_round: Type[AbstractRound] = SettlementFailedRound

    def async_act(self) -> Generator:
        """Vote for the failure reason every agent derives from the agreed data."""
        reason = settlement_failure_reason(self.synchronized_data)
        self.context.logger.warning(
            f"Global round {self.synchronized_data.global_round} is not final: {reason}"
        )
        yield from self.submit(SettlementFailedPayload(self.me, reason=reason))


def settlement_failure_reason(data: SynchronizedData) -> str:
    """Why settlement failed, from agreed data only (so that every agent votes the same)."""
    if data.db.get("most_voted_tx_hash", None) is None:
        return "the agents agreed on no Safe transaction (registry call or chain unavailable)"
    return (
        "the Safe transaction was not validated on chain "
        f"(transaction settlement status {data.final_verification_status.name})"
    )


class RegistrationStartupBehaviour(AllAgentsRegistrationStartupBehaviour):
    """valory's startup registration, for this service's startup round (which may close at a deadline)."""

    matching_round: Type[AbstractRound] = RegistrationStartupRound


class SmpcMnistRoundBehaviour(AbstractRoundBehaviour):
    """Runs the service's chained FSM: registration, key generation, training, update, settlement, reset."""

    initial_behaviour_cls = RegistrationStartupBehaviour
    abci_app_cls = SmpcMnistServiceAbciApp
    behaviours: Set[Type[BaseBehaviour]] = {
        RegistrationStartupBehaviour,
        RegistrationBehaviour,
        KeyExchangeBehaviour,
        DealingCommitBehaviour,
        DealingRevealBehaviour,
        ComplaintBehaviour,
        JustificationBehaviour,
        JointKeyBehaviour,
        KeyEpochCheckBehaviour,
        TrainingBehaviour,
        SubmitUpdateBehaviour,
        AggregationBehaviour,
        DecryptionShareBehaviour,
        GlobalModelVoteBehaviour,
        PrepareSettlementBehaviour,
        *TransactionSettlementRoundBehaviour.behaviours,
        FinalizeModelBehaviour,
        SettlementFailedBehaviour,
        *ResetPauseABCIConsensusBehaviour.behaviours,
    }
