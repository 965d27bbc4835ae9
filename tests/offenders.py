"""Test-only agents: instrumented or Byzantine key holders, kept out of the production skill.

Each class here is a round behaviour that swaps some of the skill's behaviours for a subclass. The e2e
harness (`devnet.service.LocalService(offenders=...)`) copies this module into one agent's copy of the
skill and makes the named class that agent's main behaviour, as valory keeps offences in `offend_abci`.
Nothing in ./packages imports this module.
"""

from pathlib import Path
from typing import Set, Type

import numpy as np

from packages.valory.skills.abstract_round_abci.behaviours import BaseBehaviour
from packages.valory.skills.smpc_mnist_classifier import threshold_ckks as ckks
from packages.valory.skills.smpc_mnist_classifier.behaviours import (
    DecryptionShareBehaviour,
    SmpcMnistRoundBehaviour,
    TrainingBehaviour,
)

AUDIT_FOLDER = "audit"


def swapped(
    original: Type[BaseBehaviour], replacement: Type[BaseBehaviour]
) -> Set[Type[BaseBehaviour]]:
    """The production behaviours with `original` replaced by `replacement` (same round)."""
    return (SmpcMnistRoundBehaviour.behaviours - {original}) | {replacement}


class AuditedTraining(TrainingBehaviour):
    """Keeps each plaintext update in this agent's own folder, so a test can recompute FedAvg."""

    def _ciphertext(self, update: np.ndarray, joint_key: ckks.JointPublicKey) -> bytes:
        """Save the update, then encrypt it as an honest agent does."""
        path = Path(
            self.agent_folder,
            AUDIT_FOLDER,
            f"period_{self.synchronized_data.period_count:04d}.npy",
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, update)
        return super()._ciphertext(update, joint_key)


class MalformedUpdateTraining(TrainingBehaviour):
    """Commits to and reveals bytes that are no ciphertext."""

    def _ciphertext(self, update: np.ndarray, joint_key: ckks.JointPublicKey) -> bytes:
        """Not a ciphertext."""
        return b"not a ciphertext"


class WrongSizeUpdateTraining(TrainingBehaviour):
    """Encrypts half of its update: a well-formed ciphertext of the wrong length."""

    def _ciphertext(self, update: np.ndarray, joint_key: ckks.JointPublicKey) -> bytes:
        """The first half of the update, encrypted."""
        return super()._ciphertext(update[: len(update) // 2], joint_key)


class BadShareDecryption(DecryptionShareBehaviour):
    """Publishes well-formed decryption shares whose residues are wrong."""

    def _wire(self, share: ckks.DecryptionShare) -> bytes:
        """The share with halved residues: still below every modulus, so only decryption reveals it."""
        return ckks.DecryptionShare(
            share.parameters,
            share.public_key_digest,
            share.ciphertext_digest,
            share.party_index,
            share.subset,
            share.residues // 2,
        ).to_bytes()


class AuditedAgent(SmpcMnistRoundBehaviour):
    """An honest agent that keeps its plaintext updates for the test's FedAvg check."""

    behaviours = swapped(TrainingBehaviour, AuditedTraining)


class MalformedUpdateAgent(SmpcMnistRoundBehaviour):
    """A key holder whose update is malformed."""

    behaviours = swapped(TrainingBehaviour, MalformedUpdateTraining)


class WrongSizeUpdateAgent(SmpcMnistRoundBehaviour):
    """A key holder whose update has the wrong length."""

    behaviours = swapped(TrainingBehaviour, WrongSizeUpdateTraining)


class BadShareAgent(SmpcMnistRoundBehaviour):
    """A decryptor whose shares do not decrypt."""

    behaviours = swapped(DecryptionShareBehaviour, BadShareDecryption)
