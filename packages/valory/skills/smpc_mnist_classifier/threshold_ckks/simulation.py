"""The honest key generation of n parties run in memory: the one simulation tests and benchmarks share."""

from dataclasses import dataclass
from typing import Dict, Optional

from nacl.public import PrivateKey

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.dealing import (
    EpochPublicKey,
    check_dealing,
    dealing_commitment,
    open_sub_share,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.keygen import (
    Dealer,
    KeyShare,
    joint_public_key,
    qualified_dealers,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    DEFAULT_PARAMETERS,
    CkksParameters,
)


@dataclass(frozen=True)
class SimulatedKeys:
    """Everything an honest key generation leaves behind, per party index 1..n."""

    public_key: EpochPublicKey
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
    box_keys: Optional[Dict[int, PrivateKey]] = None,
) -> SimulatedKeys:
    """Every party's side of the key generation, honest, exchanging bytes as agents would.

    Commit, reveal, public check, every recipient opening and checking its points; with honest
    dealers there are no complaints, so QUAL is everyone.
    """
    box_keys = box_keys or {
        index: PrivateKey.generate() for index in range(1, n_parties + 1)
    }
    box_public_keys = {index: bytes(key.public_key) for index, key in box_keys.items()}
    dealers = {
        index: Dealer(index, n_parties, threshold, seed, box_public_keys, parameters)
        for index in box_keys
    }
    blobs = {index: dealer.dealing.to_bytes() for index, dealer in dealers.items()}
    commitments = {
        index: dealing_commitment(blob, seed, index) for index, blob in blobs.items()
    }
    dealings = {
        index: check_dealing(
            blob, commitments[index], index, n_parties, threshold, seed, parameters
        )
        for index, blob in blobs.items()
    }
    qualified = qualified_dealers(n_parties, threshold, dealings, {}, {})
    public_key = joint_public_key(dealings, qualified, seed)
    key_shares = {
        index: dealer.finalize(
            public_key,
            {
                dealer_index: open_sub_share(
                    dealings[dealer_index], index, box_keys[index], seed
                )
                for dealer_index in qualified
            },
        )
        for index, dealer in dealers.items()
    }
    return SimulatedKeys(public_key, key_shares, box_keys)
