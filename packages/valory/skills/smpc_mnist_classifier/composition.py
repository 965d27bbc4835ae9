"""The service's full FSM: valory registration, the SMPC MNIST rounds, valory's transaction settlement of
each accepted model through the Safe, and reset/pause closing each period (the next one starts with the
key epoch check: keep the key and train, or generate a new one)."""

from packages.valory.skills.abstract_round_abci.abci_app_chain import (
    AbciAppTransitionMapping,
    chain,
)
from packages.valory.skills.registration_abci.rounds import (
    AgentRegistrationAbciApp,
    FinishedRegistrationRound,
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
    SettlementFailedRound,
    SmpcMnistClassifierAbciApp,
)
from packages.valory.skills.transaction_settlement_abci.rounds import (
    FailedRound,
    FinishedTransactionSubmissionRound,
    RandomnessTransactionSubmissionRound,
    TransactionSubmissionAbciApp,
)

abci_app_transition_mapping: AbciAppTransitionMapping = {
    FinishedRegistrationRound: KeyExchangeRound,
    FinishedSettlementPreparationRound: RandomnessTransactionSubmissionRound,
    FinishedTransactionSubmissionRound: FinalizeModelRound,
    FailedRound: SettlementFailedRound,
    FinishedUpdateGlobalModelRound: ResetAndPauseRound,
    FinishedResetAndPauseRound: KeyEpochCheckRound,
    FinishedResetAndPauseErrorRound: KeyEpochCheckRound,
}

SmpcMnistServiceAbciApp = chain(
    (
        AgentRegistrationAbciApp,
        SmpcMnistClassifierAbciApp,
        TransactionSubmissionAbciApp,
        ResetPauseAbciApp,
    ),
    abci_app_transition_mapping,
)
