"""The previous key generation, kept only while behaviours.py still runs it: delete at integration.

It has no commit-before-reveal and no verifiable sub-shares (issue 10, attacks 1 and 4); keygen.py
replaces it.

Each agent samples s_i with SEAL and publishes p0_i = -a*s_i + e_i for a common polynomial a
expanded from an agreed seed; the joint public key is (sum p0_i, a). Each agent Shamir-shares s_i
(degree t-1, per RNS prime and coefficient) and boxes sub-share j to agent j, so agent j holds
s'_j = sum_i f_i(j) and nobody ever holds sum_i s_i.
"""

import hashlib
import math
import os
import struct
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import tenseal.sealapi as seal
from nacl.exceptions import CryptoError
from nacl.public import Box, PrivateKey
from nacl.public import PublicKey as BoxPublicKey

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.decryption_legacy import (
    ThresholdKeyShare,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.errors import (
    DuplicateShareError,
    ForeignDataError,
    ForeignShareError,
    InvalidInputError,
    ParameterMismatchError,
    SubShareDecryptionError,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    DEFAULT_PARAMETERS,
    CkksParameters,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.ring import (
    _add_mod,
    _column,
    _mul_mod_once,
    _neg_mod,
    _ShakeStream,
    _uniform_residues,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.seal_bridge import (
    _coefficients,
    _runtime,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.sharing import (
    _check_roster,
    shamir_evaluations,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.wire import (
    _preamble,
    _Reader,
    _residue_bytes,
)


@lru_cache(maxsize=8)
def _common_random_polynomial(
    parameters: CkksParameters, crs_seed: bytes
) -> np.ndarray:
    """The agreed polynomial a (key level, NTT form), uniform mod each prime, from SHAKE-256(seed)."""
    runtime = _runtime(parameters)
    stream = _ShakeStream(b"threshold-ckks/crs/v1" + parameters.digest + crs_seed)
    residues = _uniform_residues(
        runtime.key_moduli, parameters.poly_modulus_degree, stream.read
    )
    residues.flags.writeable = False
    return residues


def _crs_digest(crs_seed: bytes) -> bytes:
    """Identifies a key generation run without repeating its seed."""
    return hashlib.sha256(b"threshold-ckks/crs-id/v1" + crs_seed).digest()


_PUBLIC_KEY_SHARE_MAGIC = b"TCPS"
_PUBLIC_KEY_SHARE_FIELDS = struct.Struct("<32sH")  # crs digest, party index
_JOINT_KEY_MAGIC = b"TCPK"
_JOINT_KEY_FIELDS = struct.Struct("<HHH")  # n_parties, threshold, seed length
_SUB_SHARE_MAGIC = b"TCSS"
# crs digest, sender, recipient, n_parties, threshold
_SUB_SHARE_FIELDS = struct.Struct("<32sHHHH")


@dataclass(frozen=True, eq=False)
class PublicKeyShare:
    """One agent's p0_i = -a*s_i + e_i (key level, NTT form), published at key generation."""

    parameters: CkksParameters
    party_index: int
    crs_digest: bytes
    residues: np.ndarray

    def to_bytes(self) -> bytes:
        """Compact bytes: preamble, crs digest, index, raw residues."""
        fields = _PUBLIC_KEY_SHARE_FIELDS.pack(self.crs_digest, self.party_index)
        return (
            _preamble(_PUBLIC_KEY_SHARE_MAGIC, self.parameters)
            + fields
            + _residue_bytes(self.residues)
        )

    @classmethod
    def from_bytes(
        cls, data: bytes, parameters: CkksParameters = DEFAULT_PARAMETERS
    ) -> "PublicKeyShare":
        """Strictly parse bytes made by to_bytes under `parameters`."""
        reader = _Reader(data, "public key share")
        reader.preamble(_PUBLIC_KEY_SHARE_MAGIC, parameters)
        crs_digest, party_index = reader.unpack(_PUBLIC_KEY_SHARE_FIELDS)
        moduli = _runtime(parameters).key_moduli
        residues = reader.residues(
            (len(moduli), parameters.poly_modulus_degree), moduli
        )
        reader.finish()
        return cls(parameters, party_index, crs_digest, residues)


@dataclass(frozen=True, eq=False)
class JointPublicKey:
    """(sum p0_i, a): a standard SEAL public key of the joint secret, plus the roster it came from."""

    parameters: CkksParameters
    n_parties: int
    threshold: int
    crs_seed: bytes
    p0: np.ndarray

    def to_bytes(self) -> bytes:
        """Compact bytes: a is regenerated from the seed, so only p0 is stored."""
        fields = _JOINT_KEY_FIELDS.pack(
            self.n_parties, self.threshold, len(self.crs_seed)
        )
        return (
            _preamble(_JOINT_KEY_MAGIC, self.parameters)
            + fields
            + self.crs_seed
            + _residue_bytes(self.p0)
        )

    @classmethod
    def from_bytes(
        cls, data: bytes, parameters: CkksParameters = DEFAULT_PARAMETERS
    ) -> "JointPublicKey":
        """Strictly parse bytes made by to_bytes under `parameters`."""
        reader = _Reader(data, "joint public key")
        reader.preamble(_JOINT_KEY_MAGIC, parameters)
        n_parties, threshold, seed_length = reader.unpack(_JOINT_KEY_FIELDS)
        crs_seed = reader.take(seed_length)
        moduli = _runtime(parameters).key_moduli
        p0 = reader.residues((len(moduli), parameters.poly_modulus_degree), moduli)
        reader.finish()
        _check_roster(1, n_parties, threshold)
        return cls(parameters, n_parties, threshold, crs_seed, p0)

    @cached_property
    def digest(self) -> bytes:
        """sha256 of to_bytes(): what ciphertexts and shares are bound to."""
        return hashlib.sha256(self.to_bytes()).digest()

    @cached_property
    def seal_public_key(self) -> seal.PublicKey:
        """The key as a sealapi PublicKey, usable by any SEAL Encryptor."""
        polys = np.stack(
            [self.p0, _common_random_polynomial(self.parameters, self.crs_seed)]
        )
        return _runtime(self.parameters).load_public_key(polys)

    @cached_property
    def encryptor(self) -> seal.Encryptor:
        """A SEAL encryptor under this key."""
        return seal.Encryptor(_runtime(self.parameters).context, self.seal_public_key)


class KeyGenerationParty:
    """One agent's side of key generation; discard it once finalize() returned its threshold share.

    Steps: publish box_public_key and public_key_share(); send encrypted_sub_shares(box keys);
    combine_public_key_shares() of all agents; finalize() with the sub-shares addressed to it.
    """

    def __init__(
        self,
        index: int,
        n_parties: int,
        threshold: int,
        crs_seed: bytes,
        parameters: CkksParameters = DEFAULT_PARAMETERS,
        box_key: Optional[PrivateKey] = None,
    ) -> None:
        """Sample s_i (and a box key pair unless one was already published); derive p0_i and f_i(1..n)."""
        _check_roster(index, n_parties, threshold)
        if not crs_seed:
            raise InvalidInputError("the common random seed must not be empty")
        self.index = index
        self.n_parties = n_parties
        self.threshold = threshold
        self.parameters = parameters
        self._crs_seed = bytes(crs_seed)
        self._box_key = box_key or PrivateKey.generate()
        runtime = _runtime(parameters)
        secret_key = seal.KeyGenerator(runtime.context).secret_key()
        key_shape = (len(runtime.key_moduli), parameters.poly_modulus_degree)
        self._secret = _coefficients(secret_key.data(), math.prod(key_shape)).reshape(
            key_shape
        )
        self._public_key_residues = self._public_key_part(secret_key)
        self._evaluations = self._shamir_evaluations()

    @property
    def box_public_key(self) -> bytes:
        """Curve25519 public key to publish at registration, for sub-share boxes."""
        return bytes(self._box_key.public_key)

    def _public_key_part(self, secret_key: seal.SecretKey) -> np.ndarray:
        """p0_i = -a*s_i + e_i from SEAL's symmetric zero encryption (c0 + c1*s_i = -e_i)."""
        runtime = _runtime(self.parameters)
        zero = seal.Ciphertext()
        seal.Encryptor(runtime.context, secret_key).encrypt_zero_symmetric(
            runtime.key_parms_id, zero
        )
        c0, c1 = _coefficients(zero, 2 * self._secret.size).reshape(
            (2,) + self._secret.shape
        )
        column = _column(runtime.key_moduli)
        a = _common_random_polynomial(self.parameters, self._crs_seed)
        # -a*s - c0 - c1*s = -a*s + e
        masked = _mul_mod_once(_add_mod(a, c1, column), self._secret, column)
        return _neg_mod(_add_mod(masked, c0, column), column)

    def public_key_share(self) -> PublicKeyShare:
        """This agent's p0_i to publish."""
        return PublicKeyShare(
            self.parameters,
            self.index,
            _crs_digest(self._crs_seed),
            self._public_key_residues,
        )

    def _shamir_evaluations(self) -> Dict[int, np.ndarray]:
        """f_i(j) for j = 1..n, f_i(0) = s_i on the data-level primes, degree t-1, fresh coefficients."""
        moduli = _runtime(self.parameters).data_moduli
        coefficients = [
            _uniform_residues(moduli, self.parameters.poly_modulus_degree, os.urandom)
            for _ in range(self.threshold - 1)
        ]
        return shamir_evaluations(
            self._secret[: len(moduli)],
            coefficients,
            range(1, self.n_parties + 1),
            moduli,
        )

    def encrypted_sub_shares(
        self, box_public_keys: Mapping[int, bytes]
    ) -> Dict[int, bytes]:
        """f_i(j) for every other agent j, each in a Box only j can open (and that proves sender i)."""
        header_fields = (_crs_digest(self._crs_seed), self.index)
        boxed = {}
        for recipient in range(1, self.n_parties + 1):
            if recipient == self.index:
                continue
            fields = _SUB_SHARE_FIELDS.pack(
                *header_fields, recipient, self.n_parties, self.threshold
            )
            payload = (
                _preamble(_SUB_SHARE_MAGIC, self.parameters)
                + fields
                + _residue_bytes(self._evaluations[recipient])
            )
            box = Box(self._box_key, _box_public_key(box_public_keys, recipient))
            boxed[recipient] = bytes(box.encrypt(payload))
        return boxed

    def _open_sub_share(
        self, sender: int, sealed: bytes, sender_key: BoxPublicKey
    ) -> np.ndarray:
        """Open and check one sub-share addressed to this agent."""
        try:
            payload = Box(self._box_key, sender_key).decrypt(bytes(sealed))
        except CryptoError as error:
            raise SubShareDecryptionError(
                f"sub-share from party {sender} to party {self.index} does not open: {error}"
            ) from error
        reader = _Reader(payload, f"sub-share {sender}->{self.index}")
        reader.preamble(_SUB_SHARE_MAGIC, self.parameters)
        fields = reader.unpack(_SUB_SHARE_FIELDS)
        expected = (
            _crs_digest(self._crs_seed),
            sender,
            self.index,
            self.n_parties,
            self.threshold,
        )
        if fields != expected:
            raise ForeignDataError(
                f"sub-share {sender}->{self.index} belongs to another key generation or roster"
            )
        moduli = _runtime(self.parameters).data_moduli
        residues = reader.residues(
            (len(moduli), self.parameters.poly_modulus_degree), moduli
        )
        reader.finish()
        return residues

    def finalize(
        self,
        encrypted_sub_shares: Mapping[int, bytes],
        box_public_keys: Mapping[int, bytes],
        public_key: "JointPublicKey",
    ) -> ThresholdKeyShare:
        """s'_j = f_j(j) + sum of the sub-shares from all other agents, bound to the joint key."""
        senders = set(range(1, self.n_parties + 1)) - {self.index}
        if set(encrypted_sub_shares) != senders:
            raise InvalidInputError(
                f"need sub-shares from exactly parties {sorted(senders)}, "
                f"got {sorted(encrypted_sub_shares)}"
            )
        roster = (public_key.parameters, public_key.n_parties, public_key.threshold)
        if roster != (self.parameters, self.n_parties, self.threshold) or _crs_digest(
            public_key.crs_seed
        ) != _crs_digest(self._crs_seed):
            raise ForeignDataError(
                "the joint public key belongs to another key generation"
            )
        column = _column(_runtime(self.parameters).data_moduli)
        total = self._evaluations[self.index]
        for sender in sorted(senders):
            received = self._open_sub_share(
                sender,
                encrypted_sub_shares[sender],
                _box_public_key(box_public_keys, sender),
            )
            total = _add_mod(total, received, column)
        return ThresholdKeyShare(
            self.index,
            self.n_parties,
            self.threshold,
            public_key.digest,
            total,
            self.parameters,
        )


def _box_public_key(box_public_keys: Mapping[int, bytes], index: int) -> BoxPublicKey:
    """A registered Curve25519 key, refused clearly when missing or malformed."""
    try:
        return BoxPublicKey(bytes(box_public_keys[index]))
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidInputError(f"no valid box public key for party {index}") from error


def combine_public_key_shares(
    shares: Sequence[PublicKeyShare],
    threshold: int,
    crs_seed: bytes,
    parameters: CkksParameters = DEFAULT_PARAMETERS,
) -> JointPublicKey:
    """The joint public key (sum p0_i, a) from the shares of all n agents, indices 1..n."""
    indices = [share.party_index for share in shares]
    if len(set(indices)) != len(indices):
        raise DuplicateShareError(
            f"public key shares repeat a party: {sorted(indices)}"
        )
    if sorted(indices) != list(range(1, len(shares) + 1)):
        raise InvalidInputError(
            f"need public key shares of parties 1..n, got {sorted(indices)}"
        )
    _check_roster(1, len(shares), threshold)
    for share in shares:
        if share.parameters != parameters:
            raise ParameterMismatchError(
                f"public key share of party {share.party_index}"
            )
        if share.crs_digest != _crs_digest(crs_seed):
            raise ForeignShareError(
                f"public key share of party {share.party_index} used another common random seed"
            )
    column = _column(_runtime(parameters).key_moduli)
    p0 = shares[0].residues
    for share in shares[1:]:
        p0 = _add_mod(p0, share.residues, column)
    return JointPublicKey(parameters, len(shares), threshold, bytes(crs_seed), p0)
