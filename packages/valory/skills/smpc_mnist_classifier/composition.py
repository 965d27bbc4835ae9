"""The service's full FSM: registration (valory's, whose startup round may close at a deadline with fewer agents),
the SMPC MNIST rounds, valory's transaction settlement of each accepted model through the Safe, and reset/pause
closing each period (the next one starts with the key epoch check: keep the key and train, or generate a new one)."""

from typing import Dict, Set

from packages.valory.skills.abstract_round_abci.abci_app_chain import (
    AbciAppTransitionMapping,
    chain,
)
from packages.valory.skills.abstract_round_abci.base import (
    AbciAppTransitionFunction,
    AppState,
)
from packages.valory.skills.registration_abci.rounds import (
    AgentRegistrationAbciApp,
    Event as RegistrationEvent,
    FinishedRegistrationRound,
    RegistrationRound,
)
from packages.valory.skills.reset_pause_abci.rounds import (
    FinishedResetAndPauseErrorRound,
    FinishedResetAndPauseRound,
    ResetAndPauseRound,
    ResetPauseAbciApp,
)
from packages.valory.skills.smpc_mnist_classifier.rounds import (
    FinalizeModelRound,
    FinishedSettlementPreparationRound,
    FinishedUpdateGlobalModelRound,
    KeyEpochCheckRound,
    KeyExchangeRound,
    RegistrationStartupRound,
    SettlementFailedRound,
    SmpcMnistClassifierAbciApp,
)
from packages.valory.skills.transaction_settlement_abci.rounds import (
    FailedRound,
    FinishedTransactionSubmissionRound,
    RandomnessTransactionSubmissionRound,
    TransactionSubmissionAbciApp,
)


class RegistrationAbciApp(AgentRegistrationAbciApp):
    """RegistrationAbciApp: valory's registration app with this service's RegistrationStartupRound (rounds.py), which
    may close with fewer agents at a deadline.

    Initial round: RegistrationStartupRound

    Initial states: {RegistrationRound, RegistrationStartupRound}

    Transition states:
        0. RegistrationStartupRound
            - done: 2.
        1. RegistrationRound
            - done: 2.
            - no majority: 1.
        2. FinishedRegistrationRound

    Final states: {FinishedRegistrationRound}

    Timeouts:

    """

    initial_round_cls: AppState = RegistrationStartupRound
    initial_states: Set[AppState] = {RegistrationStartupRound, RegistrationRound}
    transition_function: AbciAppTransitionFunction = {
        RegistrationStartupRound: {
            RegistrationEvent.DONE: FinishedRegistrationRound,
        },
        RegistrationRound: {
            RegistrationEvent.DONE: FinishedRegistrationRound,
            RegistrationEvent.NO_MAJORITY: RegistrationRound,
        },
        FinishedRegistrationRound: {},
    }
    db_pre_conditions: Dict[AppState, Set[str]] = {
        RegistrationStartupRound: set(),
        RegistrationRound: set(),
    }


abci_app_transition_mapping: AbciAppTransitionMapping = {
    FinishedRegistrationRound: KeyExchangeRound,
    FinishedSettlementPreparationRound: RandomnessTransactionSubmissionRound,
    FinishedTransactionSubmissionRound: FinalizeModelRound,
    FailedRound: SettlementFailedRound,
    FinishedUpdateGlobalModelRound: ResetAndPauseRound,
    FinishedResetAndPauseRound: KeyEpochCheckRound,
    FinishedResetAndPauseErrorRound: KeyEpochCheckRound,
}

# Every period starts here, after reset and pause: the db is trimmed to the last cleanup_history_depth periods then.
PERIOD_START_ROUND = abci_app_transition_mapping[FinishedResetAndPauseRound]

SmpcMnistServiceAbciApp = chain(
    (
        RegistrationAbciApp,
        SmpcMnistClassifierAbciApp,
        TransactionSubmissionAbciApp,
        ResetPauseAbciApp,
    ),
    abci_app_transition_mapping,
)
