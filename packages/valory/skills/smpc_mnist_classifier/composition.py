"""The service's full FSM: valory registration, then SMPC MNIST rounds, with reset/pause closing each period."""

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
    FinishedUpdateGlobalModelRound,
    KeyExchangeRound,
    SmpcMnistClassifierAbciApp,
    TrainingRound,
)

abci_app_transition_mapping: AbciAppTransitionMapping = {
    FinishedRegistrationRound: KeyExchangeRound,
    FinishedUpdateGlobalModelRound: ResetAndPauseRound,
    FinishedResetAndPauseRound: TrainingRound,
    FinishedResetAndPauseErrorRound: TrainingRound,
}

SmpcMnistServiceAbciApp = chain(
    (AgentRegistrationAbciApp, SmpcMnistClassifierAbciApp, ResetPauseAbciApp),
    abci_app_transition_mapping,
)
