"""The honest key generation of n parties run in memory: the one simulation tests and benchmarks share."""

from dataclasses import dataclass
from typing import Dict

from nacl.public import PrivateKey

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.keygen import (
    JointPublicKey,
    KeyGenerationParty,
    KeyShare,
    PublicKeyShare,
    combine_public_key_shares,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    DEFAULT_PARAMETERS,
    CkksParameters,
)


@dataclass(frozen=True)
class SimulatedKeys:
    """Everything an honest key generation leaves behind, per party index 1..n."""

    public_key: JointPublicKey
    key_shares: Dict[int, KeyShare]
    box_keys: Dict[int, PrivateKey]

    @property
    def box_public_keys(self) -> Dict[int, bytes]:
        """The registered Curve25519 public keys."""
        return {index: bytes(key.public_key) for index, key in self.box_keys.items()}


def simulate_key_generation(
    n_parties: int,
    threshold: int,
    seed: bytes,
    parameters: CkksParameters = DEFAULT_PARAMETERS,
) -> SimulatedKeys:
    """Run every party's side of key generation honestly, exchanging bytes as agents would."""
    box_keys = {index: PrivateKey.generate() for index in range(1, n_parties + 1)}
    parties = [
        KeyGenerationParty(index, n_parties, threshold, seed, parameters, box_key)
        for index, box_key in box_keys.items()
    ]
    public_key_shares = [
        PublicKeyShare.from_bytes(party.public_key_share().to_bytes(), parameters)
        for party in parties
    ]
    public_key = combine_public_key_shares(
        public_key_shares, threshold, seed, parameters
    )
    box_public_keys = {index: bytes(key.public_key) for index, key in box_keys.items()}
    boxes = {party.index: party.encrypted_sub_shares(box_public_keys) for party in parties}
    key_shares = {
        party.index: party.key_share(
            {
                dealer: boxed[party.index]
                for dealer, boxed in boxes.items()
                if dealer != party.index
            },
            box_public_keys,
            public_key,
        )
        for party in parties
    }
    return SimulatedKeys(public_key, key_shares, box_keys)
