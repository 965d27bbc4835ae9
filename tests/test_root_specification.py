"""The service's FSM (registration + SMPC rounds + reset/pause) stays true of the root abstract spec."""

from collections import deque
from pathlib import Path
from typing import Dict, Set, Tuple

import yaml
from packages.valory.skills.registration_abci.rounds import (
    FinishedRegistrationRound,
    RegistrationRound,
)
from packages.valory.skills.reset_pause_abci.rounds import (
    FinishedResetAndPauseErrorRound,
    FinishedResetAndPauseRound,
    ResetAndPauseRound,
)
from packages.valory.skills.smpc_mnist_classifier.composition import (
    SmpcMnistServiceAbciApp,
)
from packages.valory.skills.smpc_mnist_classifier.rounds import (
    AggregationRound,
    DecryptionShareRound,
    Event,
    FinalizeModelRound,
    FinishedSettlementPreparationRound,
    FinishedUpdateGlobalModelRound,
    GlobalModelVoteRound,
    JointKeyRound,
    KeyEpochCheckRound,
    KeyExchangeRound,
    DealingCommitRound,
    DealingRevealRound,
    ComplaintRound,
    JustificationRound,
    PrepareSettlementRound,
    RegistrationStartupRound,
    SettlementFailedRound,
    SubmitUpdateRound,
    TrainingRound,
)
from packages.valory.skills.transaction_settlement_abci.rounds import (
    TransactionSubmissionAbciApp,
)

ROOT_SPEC = Path(__file__).resolve().parent.parent / "fsm_specification.yaml"

# Which concrete rounds make up each abstract state of the root specification.
ABSTRACT_STATE_OF = {
    RegistrationStartupRound: "RegistrationState",
    RegistrationRound: "RegistrationState",
    FinishedRegistrationRound: "RegistrationState",
    KeyExchangeRound: "RegistrationState",
    DealingCommitRound: "RegistrationState",
    DealingRevealRound: "RegistrationState",
    ComplaintRound: "RegistrationState",
    JustificationRound: "RegistrationState",
    JointKeyRound: "RegistrationState",
    TrainingRound: "TrainingState",
    SubmitUpdateRound: "UpdateGlobalModelState",
    AggregationRound: "UpdateGlobalModelState",
    DecryptionShareRound: "UpdateGlobalModelState",
    GlobalModelVoteRound: "UpdateGlobalModelState",
    PrepareSettlementRound: "UpdateGlobalModelState",
    FinishedSettlementPreparationRound: "UpdateGlobalModelState",
    # valory's transaction settlement of the accepted model through the Safe
    **{
        round_cls: "UpdateGlobalModelState"
        for round_cls in TransactionSubmissionAbciApp.get_all_rounds()
    },
    FinalizeModelRound: "UpdateGlobalModelState",
    SettlementFailedRound: "UpdateGlobalModelState",
    FinishedUpdateGlobalModelRound: "UpdateGlobalModelState",
    ResetAndPauseRound: "UpdateGlobalModelState",
    FinishedResetAndPauseRound: "UpdateGlobalModelState",
    FinishedResetAndPauseErrorRound: "UpdateGlobalModelState",
    # the next period's start: keep the key epoch (training) or rotate it (ROTATE_KEY: key generation)
    KeyEpochCheckRound: "UpdateGlobalModelState",
}


def root_transitions() -> Dict[Tuple[str, str], str]:
    """The root spec's transition function as {(state, event): state}."""
    spec = yaml.safe_load(ROOT_SPEC.read_text())
    transitions = {}
    for key, target in spec["transition_func"].items():
        state, event = (part.strip() for part in key.strip("()").split(","))
        transitions[(state, event)] = target
    return transitions


def root_alphabet() -> Set[Event]:
    """The root spec's events, as this app's events (other apps' events are internal even if named alike)."""
    return {
        Event[name] for name in yaml.safe_load(ROOT_SPEC.read_text())["alphabet_in"]
    }


def exits_after(round_cls: type, abstract_state: str, alphabet: Set[Event]) -> Set[str]:
    """Abstract states first reached from `round_cls` through internal (non-root) events only."""
    function = SmpcMnistServiceAbciApp.transition_function
    exits, seen, queue = set(), {round_cls}, deque([round_cls])
    while queue:
        current = queue.popleft()
        if ABSTRACT_STATE_OF[current] != abstract_state:
            exits.add(ABSTRACT_STATE_OF[current])
            continue
        for event, target in function[current].items():
            if event not in alphabet and target not in seen:
                seen.add(target)
                queue.append(target)
    return exits


def test_every_round_belongs_to_an_abstract_state() -> None:
    """No concrete round is left out of the mapping."""
    assert set(SmpcMnistServiceAbciApp.get_all_rounds()) <= set(ABSTRACT_STATE_OF)


def test_root_events_lead_where_the_root_spec_says() -> None:
    """Each root event emitted by a concrete round ends up in the root spec's target state."""
    transitions, alphabet = root_transitions(), root_alphabet()
    realised = set()
    for round_cls, events in SmpcMnistServiceAbciApp.transition_function.items():
        state = ABSTRACT_STATE_OF[round_cls]
        for event, target in events.items():
            if event not in alphabet:
                continue
            expected = transitions.get((state, event.name))
            assert (
                expected is not None
            ), f"{round_cls.__name__} emits {event.name}, not allowed in {state}"
            assert exits_after(target, state, alphabet) | (
                {ABSTRACT_STATE_OF[target]} - {state}
            ) == {
                expected
            }, f"{round_cls.__name__} --{event.name}--> must reach {expected}"
            realised.add((state, event.name))
    assert realised == set(
        transitions
    ), f"root transitions never realised: {set(transitions) - realised}"


def test_internal_events_only_complete_a_root_transition() -> None:
    """An internal event may cross into another abstract state only where a root transition goes."""
    transitions, alphabet = root_transitions(), root_alphabet()
    for round_cls, events in SmpcMnistServiceAbciApp.transition_function.items():
        state = ABSTRACT_STATE_OF[round_cls]
        allowed = {
            target
            for (source, _event), target in transitions.items()
            if source == state
        }
        for event, target in events.items():
            if event in alphabet or ABSTRACT_STATE_OF[target] == state:
                continue
            assert (
                ABSTRACT_STATE_OF[target] in allowed
            ), f"{round_cls.__name__} --{event.name}--> {target.__name__} has no root transition"
