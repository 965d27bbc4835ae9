"""Test-only agents: instrumented or Byzantine key holders, kept out of the production skill.

Each class here is a round behaviour that swaps some of the skill's behaviours for a subclass. The e2e
harness (`devnet.service.LocalService(offenders=...)`) copies this module into one agent's copy of the
skill and makes the named class that agent's main behaviour, as valory keeps offences in `offend_abci`.
Nothing in ./packages imports this module.
"""

import dataclasses
import os
from pathlib import Path
from typing import Dict, List, Set, Type

import numpy as np

from packages.valory.skills.abstract_round_abci.behaviours import BaseBehaviour
from packages.valory.skills.smpc_mnist_classifier import threshold_ckks as ckks
from packages.valory.skills.smpc_mnist_classifier.behaviours import (
    DealingCommitBehaviour,
    DecryptionShareBehaviour,
    JustificationBehaviour,
    SmpcMnistRoundBehaviour,
    TrainingBehaviour,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.decryption import (
    open_decryption_share,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encryption import (
    Contribution,
    sender_weight_limit,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.sealing import (
    seal_to_key_holders,
)

AUDIT_FOLDER = "audit"


def swapped(*replacements: Type[BaseBehaviour]) -> Set[Type[BaseBehaviour]]:
    """The production behaviours with each replacement's production base class swapped for it (same round)."""
    originals = {replacement.__mro__[1] for replacement in replacements}
    return (SmpcMnistRoundBehaviour.behaviours - originals) | set(replacements)


class AuditedTraining(TrainingBehaviour):
    """Keeps each plaintext update in this agent's own folder, so a test can recompute FedAvg."""

    def _encrypt(
        self,
        update: np.ndarray,
        weight: int,
        key_share: ckks.KeyShare,
        context: ckks.PeriodContext,
    ) -> bytes:
        """Save the update, then encrypt it as an honest agent does."""
        path = Path(
            self.agent_folder,
            AUDIT_FOLDER,
            f"period_{self.synchronized_data.period_count:04d}.npy",
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, update)
        return super()._encrypt(update, weight, key_share, context)


class CraftedUpdateTraining(TrainingBehaviour):
    """Commits to and reveals a well-formed contribution that claims more weight than one sender may (to
    dominate the average)."""

    def _encrypt(
        self,
        update: np.ndarray,
        weight: int,
        key_share: ckks.KeyShare,
        context: ckks.PeriodContext,
    ) -> bytes:
        """The honest contribution with its weight raised above the per-sender limit."""
        honest = Contribution.from_bytes(
            super()._encrypt(update, weight, key_share, context), context.parameters
        )
        limit = sender_weight_limit(
            context.parameters, key_share.n_parties, key_share.threshold
        )
        return dataclasses.replace(honest, weight=limit + 1).to_bytes()


class BadShareDecryption(DecryptionShareBehaviour):
    """Publishes a well-formed, correctly sealed decryption share whose residues are wrong."""

    def _share(self, aggregate: ckks.Aggregate, key_share: ckks.KeyShare) -> bytes:
        """Its honest share with halved residues: still below every modulus, so only decryption reveals it."""
        sealed = super()._share(aggregate, key_share)
        parameters = aggregate.context.parameters
        share = open_decryption_share(
            sealed, key_share.index, self.private.box_key, parameters
        )
        halved = dataclasses.replace(share, residues=share.residues // 2)
        return seal_to_key_holders(
            halved.to_bytes(), key_share.index, self.box_public_keys(), parameters
        )


class RogueDealing(DealingCommitBehaviour):
    """Deals consistent public images but seals garbage to the next key holder (its victim)."""

    def _deal(self) -> ckks.Dealer:
        """The honest dealing with the victim's box replaced by random bytes of the same size."""
        dealer = super()._deal()
        victim = dealer.index % dealer.n_parties  # 0-based position of the next party's box
        boxes = list(dealer.dealing.boxes)
        boxes[victim] = os.urandom(len(boxes[victim]))
        dealer.dealing = dataclasses.replace(dealer.dealing, boxes=tuple(boxes))
        return dealer


class WithheldJustification(JustificationBehaviour):
    """Answers no complaint."""

    @staticmethod
    def _answers(dealer: ckks.Dealer, complainers: List[int]) -> Dict[int, bytes]:
        """Nothing."""
        return {}


class AuditedAgent(SmpcMnistRoundBehaviour):
    """An honest agent that keeps its plaintext updates for the test's FedAvg check."""

    behaviours = swapped(AuditedTraining)


class CraftedUpdateAgent(SmpcMnistRoundBehaviour):
    """A key holder whose update claims an oversized weight."""

    behaviours = swapped(CraftedUpdateTraining)


class BadShareAgent(SmpcMnistRoundBehaviour):
    """A key holder whose decryption shares do not decrypt."""

    behaviours = swapped(BadShareDecryption)


class RogueDealerAgent(SmpcMnistRoundBehaviour):
    """A dealer that seals a bad sub-share to one recipient and does not justify it when accused."""

    behaviours = swapped(RogueDealing, WithheldJustification)
