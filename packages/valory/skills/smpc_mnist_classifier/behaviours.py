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
    AgentRegistrationRoundBehaviour,
    RegistrationStartupBehaviour,
)
from packages.valory.skills.reset_pause_abci.behaviours import (
    ResetPauseABCIConsensusBehaviour,
)
from packages.valory.skills.smpc_mnist_classifier import (
    learning,
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
from packages.valory.skills.smpc_mnist_classifier.commitments import update_commitment
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
    JointKeyPayload,
    KeyExchangePayload,
    KeySharingPayload,
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
    JointKeyRound,
    KeyExchangeRound,
    KeySharingRound,
    PrepareSettlementRound,
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
# Backoff between IPFS attempts: 1, 2, 4, 8, 8, ... seconds, within the params' ipfs_retry_budget.
IPFS_RETRY_FIRST_SECONDS = 1.0
IPFS_RETRY_FACTOR = 2.0
IPFS_RETRY_LONGEST_SECONDS = 8.0
OK_STATUS = 200
NOT_PINNED = b"not pinned"  # kubo's answer to unpinning what it no longer pins
CRS_DOMAIN = b"smpc-mnist/common-random-polynomial/v1"
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
        """What only this agent holds."""
        return cast(PrivateState, self.context.private_state).agent

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
        """Unpin the blobs of periods older than keep_periods from kubo, collect garbage, drop the local copies.

        A period whose blobs kubo did not unpin (kubo down) keeps its copies and is tried again next period.
        """
        store = self.blob_store
        unpinned = []
        for period, cids in store.expired(self.synchronized_data.period_count).items():
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

    def load_valid(
        self,
        published: Mapping[str, Tuple[str, str]],
        what: str,
        parse: Callable[[str, bytes], Any],
    ) -> Generator[None, None, Dict[str, Any]]:
        """Fetch each agent's (cid, digest) blob and parse it; exclude, with a clear log line, what fails."""
        valid = {}
        for sender, (cid, digest) in sorted(published.items()):
            label = f"{what} of {sender}"
            blob = yield from self.load_blob(cid, digest, label)
            if blob is None:
                continue
            try:
                valid[sender] = parse(sender, blob)
            except INPUT_ERRORS as error:
                self.context.logger.error(f"Excluding {label}: {error}")
        return valid

    def box_public_keys(self) -> Dict[int, bytes]:
        """Every key holder's box public key, by party index."""
        exchange = self.synchronized_data.key_exchange
        return {
            index: bytes.fromhex(exchange[holder].box_public_key)
            for index, holder in enumerate(self.synchronized_data.key_holders, start=1)
        }

    def crs_seed(self) -> bytes:
        """Seed of the common random polynomial: bound to this epoch's roster and box keys."""
        roster = [
            [holder, self.synchronized_data.key_exchange[holder].box_public_key]
            for holder in self.synchronized_data.key_holders
        ]
        return hashlib.sha256(CRS_DOMAIN + json.dumps(roster).encode()).digest()

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
        validation = cast(learning.AgentData, self.private.data).validation
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
            self.context.logger.error(
                f"Global round {record['global_round']} was accepted, but this agent does not hold that model"
            )
            return
        self.private.global_model = saved
        self.private.adopted_round = record["global_round"]
        self.context.logger.info(
            f"Global round {record['global_round']} restored from this agent's saved copy"
        )

class KeyExchangeBehaviour(SmpcMnistBaseBehaviour):
    """Start a key epoch: forget the old key material, publish a fresh box public key."""

    matching_round: Type[AbstractRound] = KeyExchangeRound

    def async_act(self) -> Generator:
        """Publish this agent's new box public key."""
        with self.context.benchmark_tool.measure(self.behaviour_id).local():
            self.private.start_key_epoch()
            box_key = PrivateKey.generate()
            self.private.box_key = box_key
            payload = KeyExchangePayload(
                self.me, box_public_key=bytes(box_key.public_key).hex()
            )
        yield from self.submit(payload)


class KeySharingBehaviour(SmpcMnistBaseBehaviour):
    """Publish this key holder's public-key share and its Shamir sub-shares sealed to each recipient."""

    matching_round: Type[AbstractRound] = KeySharingRound

    def async_act(self) -> Generator:
        """Create the key-generation party, upload its public outputs, report where they are."""
        holders = self.synchronized_data.key_holders
        if self.me not in holders or self.private.box_key is None:
            yield from self.sit_out("this agent holds no key material in this epoch")
            return
        try:
            party = ckks.KeyGenerationParty(
                self.party_index(self.me),
                len(holders),
                self.params.decryption_threshold,
                self.crs_seed(),
                box_key=self.private.box_key,
            )
            public_blob = party.public_key_share().to_bytes()
            sealed_blob = pack_bundle(
                party.encrypted_sub_shares(self.box_public_keys())
            )
        except INPUT_ERRORS as error:
            yield from self.sit_out(f"no key shares for this roster: {error}")
            return
        self.private.key_party = party
        public_share = yield from self.store_blob("public_key_share", public_blob)
        sealed = yield from self.store_blob("sub_shares", sealed_blob)
        if public_share is None or sealed is None:
            yield from self.sit_out("IPFS did not store the key shares")
            return
        payload = KeySharingPayload(
            self.me,
            public_key_share_cid=public_share[0],
            public_key_share_digest=public_share[1],
            sub_shares_cid=sealed[0],
            sub_shares_digest=sealed[1],
        )
        yield from self.submit(payload)


class JointKeyBehaviour(SmpcMnistBaseBehaviour):
    """Combine the joint public key, open the sub-shares sealed to this agent, vote on the key."""

    matching_round: Type[AbstractRound] = JointKeyRound

    def async_act(self) -> Generator:
        """Vote for the joint key's digest, or None if it cannot be built from what was published."""
        if self.private.key_party is None:
            yield from self.sit_out("this agent holds no key material in this epoch")
            return
        joint_key = yield from self._combine()
        digest = None if joint_key is None else joint_key.digest.hex()
        yield from self.submit(JointKeyPayload(self.me, joint_public_key_digest=digest))

    def _combine(self) -> Generator[None, None, Optional[ckks.JointPublicKey]]:
        """Fetch every share, build the joint key and this agent's threshold key share."""
        party = cast(ckks.KeyGenerationParty, self.private.key_party)
        sharing = self.synchronized_data.key_sharing
        public_shares, sealed_for_me = [], {}
        for index, holder in enumerate(self.synchronized_data.key_holders, start=1):
            report = sharing[holder]
            public_blob = yield from self.load_blob(
                report.public_key_share_cid,
                report.public_key_share_digest,
                f"public-key share of {holder}",
            )
            sealed_blob = yield from self.load_blob(
                report.sub_shares_cid,
                report.sub_shares_digest,
                f"sub-shares of {holder}",
            )
            if public_blob is None or sealed_blob is None:
                return None
            try:
                share = ckks.PublicKeyShare.from_bytes(public_blob)
                if share.party_index != index:
                    raise ckks.ForeignShareError(
                        f"{holder} published the share of party {share.party_index}"
                    )
                public_shares.append(share)
                if index != party.index:
                    sealed_for_me[index] = unpack_bundle(sealed_blob)[party.index]
            except (KeyError, *INPUT_ERRORS) as error:
                self.context.logger.error(
                    f"Key generation fails on the shares of {holder}: {error!r}"
                )
                return None
        try:
            joint_key = ckks.combine_public_key_shares(
                public_shares, party.threshold, self.crs_seed()
            )
            self.private.key_share = party.finalize(
                sealed_for_me, self.box_public_keys(), joint_key
            )
        except ckks.ThresholdCkksError as error:
            self.context.logger.error(f"Key generation fails: {error}")
            return None
        self.private.joint_key = joint_key
        self.private.key_party = None
        return joint_key


class TrainingBehaviour(SmpcMnistBaseBehaviour):
    """Adopt the last accepted global model, then train the local model on this agent's partition."""

    matching_round: Type[AbstractRound] = TrainingRound

    def async_act(self) -> Generator:
        """Train off the main loop, encrypt the update, then report and commit to it."""
        self.private.update_blob = None
        self.adopt_accepted_model()  # in case this agent's vote behaviour did not see the vote end
        yield from self.prune_blobs()
        if self.synchronized_data.previous_update_incomplete:
            failure = self.synchronized_data.settlement_failure
            self.context.logger.warning(
                f"Period {self.synchronized_data.period_count - 1} ended without a final global model"
                + (f": {failure}" if failure else "")
            )
        joint_key = self.private.joint_key
        if (
            self.private.key_share is None
            or joint_key is None
            or self.me not in self.synchronized_data.key_holders
        ):
            yield from self.sit_out(
                "this agent holds no threshold key share in this epoch"
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
                data = self._agent_data()
                base = self._global_model()
                trained = yield from self._train_in_background(base, data.train)
                blob = self._ciphertext(learning.model_update(trained, base), joint_key)
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
                update_commitment=update_commitment(
                    self.synchronized_data.period_count, self.me, blob
                ),
            )
        yield from self.submit(payload)

    @staticmethod
    def _ciphertext(update: np.ndarray, joint_key: ckks.JointPublicKey) -> bytes:
        """The update encrypted under the joint key."""
        return ckks.encrypt_vector(update, joint_key).to_bytes()

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
            self.private.data = partitions[agents.index(self.me)]
        return self.private.data

    def _global_model(self) -> learning.MnistCnn:
        """The model training starts from: the last adopted global model, or the shared initial one."""
        if self.private.global_model is None:
            self.private.global_model = (
                learning.build_model(self.params.model_seed)
                if self.params.initial_model is None
                else learning.load_model(self.params.initial_model)
            )
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
    """Average the valid encrypted updates homomorphically; vote on the result."""

    matching_round: Type[AbstractRound] = AggregationRound

    def async_act(self) -> Generator:
        """Fetch and check every submitted ciphertext, aggregate the valid ones, vote."""
        self.private.aggregate = None
        joint_key = self.private.joint_key
        if joint_key is None:
            yield from self.sit_out("this agent holds no joint key")
            return
        valid = yield from self._valid_updates(joint_key)
        payload = AggregationPayload(
            self.me, aggregate_digest=None, included_updates=None
        )
        if len(valid) < self.params.min_updates:
            self.context.logger.warning(
                f"Only {len(valid)} valid updates, {self.params.min_updates} needed"
            )
        else:
            reports = self.synchronized_data.training_reports
            with self.context.benchmark_tool.measure(self.behaviour_id).local():
                aggregate = ckks.aggregate_encrypted(
                    list(valid.values()),
                    weights=[reports[sender].sample_count for sender in valid],
                )
            self.private.aggregate = aggregate
            payload = AggregationPayload(
                self.me,
                aggregate_digest=aggregate.digest.hex(),
                included_updates=",".join(valid),
            )
        yield from self.submit(payload)

    def _valid_updates(
        self, joint_key: ckks.JointPublicKey
    ) -> Generator[None, None, Dict[str, ckks.EncryptedVector]]:
        """The revealed updates that open their commitments and parse, under the joint key, with the
        model's length (in sender order)."""
        submitted = self.synchronized_data.submitted_updates
        reports = self.synchronized_data.training_reports
        period = self.synchronized_data.period_count
        published = {
            sender: (item.update_cid, item.update_digest)
            for sender, item in submitted.items()
        }

        def parse(sender: str, blob: bytes) -> ckks.EncryptedVector:
            """Refuse anything but the committed, fresh update of the model's size under the joint key."""
            if update_commitment(period, sender, blob) != reports[sender].update_commitment:
                raise ckks.ForeignDataError(
                    "it does not open the commitment of its training report"
                )
            update = ckks.EncryptedVector.from_bytes(blob)
            if update.public_key_digest != joint_key.digest:
                raise ckks.ForeignDataError("it is encrypted under another key")
            if update.length != learning.PARAMETER_COUNT:
                raise ckks.InvalidInputError(
                    f"it has {update.length} values, the model {learning.PARAMETER_COUNT}"
                )
            if update.total_weight != 1:
                raise ckks.InvalidInputError(
                    "it is already an aggregate, not one fresh update"
                )
            sample_count = reports[sender].sample_count
            if not 1 <= sample_count <= self._max_sample_count():
                raise ckks.InvalidInputError(
                    f"its sample count {sample_count} is outside 1..{self._max_sample_count()}"
                )
            return update

        valid = yield from self.load_valid(published, "the update", parse)
        return valid

    def _max_sample_count(self) -> int:
        """The largest weight one update may claim so that the sum of all weights stays decodable."""
        return ckks.DEFAULT_PARAMETERS.max_total_weight // len(
            self.synchronized_data.key_holders
        )


class DecryptionShareBehaviour(SmpcMnistBaseBehaviour):
    """Publish this decryptor's flooded decryption shares of the agreed average."""

    matching_round: Type[AbstractRound] = DecryptionShareRound

    def async_act(self) -> Generator:
        """Issue the shares once per ciphertext (a retry republishes the same bytes), upload, report."""
        data = self.synchronized_data
        aggregate, key_share = self.private.aggregate, self.private.key_share
        if self.me not in data.decryptors or aggregate is None or key_share is None:
            yield from self.sit_out("this agent is not in the agreed decryptor set")
            return
        if aggregate.digest.hex() != data.aggregate_digest:
            yield from self.sit_out("this agent's average differs from the agreed one")
            return
        stored = self.private.published_shares.get(data.aggregate_digest)
        if stored is None:
            decryptor_set = [
                self.party_index(decryptor) for decryptor in data.decryptors
            ]
            try:
                shares = key_share.decryption_shares(aggregate, decryptor_set)
            except INPUT_ERRORS as error:
                yield from self.sit_out(f"no decryption shares: {error}")
                return
            blob = pack_bundle(
                {number: self._wire(share) for number, share in enumerate(shares)}
            )
            stored = yield from self.store_blob("decryption_shares", blob)
            if stored is None:
                yield from self.sit_out("IPFS did not store the decryption shares")
                return
            self.private.published_shares[data.aggregate_digest] = stored
        yield from self.submit(
            DecryptionSharePayload(
                self.me, shares_cid=stored[0], shares_digest=stored[1]
            )
        )

    @staticmethod
    def _wire(share: ckks.DecryptionShare) -> bytes:
        """A share's bytes."""
        return share.to_bytes()


class GlobalModelVoteBehaviour(SmpcMnistBaseBehaviour):
    """Combine the decryption shares, check the new global model, vote on it."""

    matching_round: Type[AbstractRound] = GlobalModelVoteRound

    def async_act(self) -> Generator:
        """Vote for the candidate's digest and weight commitment, or (None, None, None) to reject it."""
        candidate = yield from self._candidate()
        commitment = None
        if candidate is not None:
            commitment = yield from self._weight_commitment(candidate)
        if commitment is None:  # no proof of inference could be checked against it: not a model to adopt
            candidate = None
        self.private.candidate_model = candidate
        if candidate is None:
            payload = GlobalModelVotePayload(
                self.me, global_model_digest=None, global_round=None, weight_commitment=None
            )
        else:
            payload = GlobalModelVotePayload(
                self.me,
                global_model_digest=learning.model_digest(candidate),
                global_round=self.synchronized_data.global_round + 1,
                weight_commitment=commitment,
            )
        yield from self.submit(payload)

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
        aggregate, joint_key = self.private.aggregate, self.private.joint_key
        global_model = self.private.global_model
        if aggregate is None or joint_key is None or global_model is None:
            self.context.logger.warning(
                "Rejecting: this agent holds no agreed average to decrypt"
            )
            return None
        decryptor_set = [
            self.party_index(decryptor)
            for decryptor in self.synchronized_data.decryptors
        ]
        shares = yield from self._shares(aggregate, joint_key, decryptor_set)
        try:
            result = ckks.combine_decryption_shares(
                aggregate, shares, decryptor_set, joint_key
            )
            average = learning.check_parameter_vector(result.values)
        except INPUT_ERRORS as error:
            self.context.logger.error(
                f"Rejecting: the average does not decrypt: {error}"
            )
            return None
        for party in result.bad_parties:
            holder = self.synchronized_data.key_holders[party - 1]
            self.context.logger.error(
                f"Excluding the decryption shares of {holder}: they do not decrypt consistently"
            )
        candidate = learning.apply_update(global_model, average)
        return candidate if self._passes_checks(candidate, global_model) else None

    def _shares(
        self,
        aggregate: ckks.EncryptedVector,
        joint_key: ckks.JointPublicKey,
        decryptor_set: List[int],
    ) -> Generator[None, None, List[ckks.DecryptionShare]]:
        """Every decryptor's shares that fetch, parse and fit this average: one decryptor cannot veto."""
        published = {
            sender: (item.shares_cid, item.shares_digest)
            for sender, item in self.synchronized_data.decryption_shares.items()
        }

        def parse(sender: str, blob: bytes) -> List[ckks.DecryptionShare]:
            """One decryptor's bundle of shares, checked against this average, key and decryptor set."""
            shares = [
                ckks.DecryptionShare.from_bytes(entry)
                for entry in unpack_bundle(blob).values()
            ]
            self._check_shares(
                shares, self.party_index(sender), aggregate, joint_key, decryptor_set
            )
            return shares

        valid = yield from self.load_valid(published, "the decryption shares", parse)
        return [share for sender in sorted(valid) for share in valid[sender]]

    @staticmethod
    def _check_shares(
        shares: List[ckks.DecryptionShare],
        party: int,
        aggregate: ckks.EncryptedVector,
        joint_key: ckks.JointPublicKey,
        decryptor_set: List[int],
    ) -> None:
        """One party's shares: its own index, this ciphertext and key, distinct subsets of the decryptor set."""
        subsets = [share.subset for share in shares]
        if len(set(subsets)) != len(subsets):
            raise ckks.DuplicateShareError("they repeat a subset")
        for share in shares:
            if share.party_index != party:
                raise ckks.ForeignShareError(
                    f"they carry the index of party {share.party_index}"
                )
            if (
                share.ciphertext_digest != aggregate.digest
                or share.public_key_digest != joint_key.digest
            ):
                raise ckks.ForeignShareError("they belong to another ciphertext or key")
            if not set(share.subset) <= set(decryptor_set):
                raise ckks.ForeignShareError(
                    f"subset {share.subset} is outside the decryptor set"
                )

    def _passes_checks(
        self, candidate: learning.MnistCnn, global_model: learning.MnistCnn
    ) -> bool:
        """Accuracy on this agent's own validation split may not drop by more than the margin."""
        validation = cast(learning.AgentData, self.private.data).validation
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


class SmpcMnistRoundBehaviour(AbstractRoundBehaviour):
    """Runs the service's chained FSM: registration, key generation, training, update, settlement, reset."""

    initial_behaviour_cls = RegistrationStartupBehaviour
    abci_app_cls = SmpcMnistServiceAbciApp
    behaviours: Set[Type[BaseBehaviour]] = {
        *AgentRegistrationRoundBehaviour.behaviours,
        KeyExchangeBehaviour,
        KeySharingBehaviour,
        JointKeyBehaviour,
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
