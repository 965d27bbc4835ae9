"""The skill's fsm_specification.yaml matches its app, checked with autonomy's own FSM analyser.

`autonomy analyse fsm-specs` applies the same comparison but refuses any skill whose name does not
end in `_abci`; this service's skill is named valory/smpc_mnist_classifier, so CI runs the check here.
"""

from pathlib import Path

from autonomy.analyse.abci.app_spec import DFA, check_unreferenced_events

from packages.valory.skills.smpc_mnist_classifier.rounds import (
    SmpcMnistClassifierAbciApp,
    SmpcMnistClassifierApp,
)

SPEC_FILE = Path(__file__).resolve().parent.parent / "fsm_specification.yaml"


def test_specification_matches_the_app() -> None:
    """The specification file and the app's transition function describe the same FSM."""
    from_file = DFA.load(SPEC_FILE, "yaml")
    from_app = DFA.abci_to_dfa(SmpcMnistClassifierAbciApp, "SmpcMnistClassifierAbciApp")
    assert from_file == from_app


def test_every_event_is_referenced() -> None:
    """No event is declared without being used by a round."""
    assert check_unreferenced_events(SmpcMnistClassifierAbciApp) == []


def test_documented_name_is_the_app() -> None:
    """SmpcMnistClassifierApp, the name the root specification uses, is this app."""
    assert SmpcMnistClassifierApp is SmpcMnistClassifierAbciApp
