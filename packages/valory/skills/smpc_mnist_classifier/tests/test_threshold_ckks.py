"""Tests for threshold CKKS: key generation, encrypted averaging, t-of-n decryption and strict bytes."""

import dataclasses
import itertools
import struct
from typing import Dict, List, Sequence

import numpy as np
import pytest
import tenseal.sealapi as seal
from hypothesis import given, settings
from hypothesis import strategies as st

from packages.valory.skills.smpc_mnist_classifier import threshold_ckks as tc

N_PARTIES = 4
THRESHOLD = 3
CRS_SEED = b"test common random seed"
PARAMETERS = tc.DEFAULT_PARAMETERS
LENET_PARAMETERS = 44_426


@dataclasses.dataclass
class Setup:
    """A finished 3-of-4 key generation; key shares are kept as bytes so each test starts unissued."""

    parties: List[tc.KeyGenerationParty]
    public_key: tc.JointPublicKey
    key_share_bytes: Dict[int, bytes]
    box_keys: Dict[int, bytes]
    sub_shares: Dict[int, Dict[int, bytes]]

    def key_shares(self) -> Dict[int, tc.ThresholdKeyShare]:
        """Fresh ThresholdKeyShare objects with an empty issuance record."""
        return {
            index: tc.ThresholdKeyShare.from_bytes(data)
            for index, data in self.key_share_bytes.items()
        }


def _received_by(
    sub_shares: Dict[int, Dict[int, bytes]], recipient: int
) -> Dict[int, bytes]:
    """The sub-shares addressed to `recipient`."""
    return {
        sender: boxed[recipient]
        for sender, boxed in sub_shares.items()
        if sender != recipient
    }


@pytest.fixture(scope="module")
def setup() -> Setup:
    """Run the whole key generation as four agents would."""
    parties = [
        tc.KeyGenerationParty(index, N_PARTIES, THRESHOLD, CRS_SEED)
        for index in range(1, N_PARTIES + 1)
    ]
    box_keys = {party.index: party.box_public_key for party in parties}
    public_key_shares = [
        tc.PublicKeyShare.from_bytes(party.public_key_share().to_bytes())
        for party in parties
    ]
    public_key = tc.combine_public_key_shares(public_key_shares, THRESHOLD, CRS_SEED)
    sub_shares = {
        party.index: party.encrypted_sub_shares(box_keys) for party in parties
    }
    key_shares = {
        party.index: party.finalize(
            _received_by(sub_shares, party.index), box_keys, public_key
        )
        for party in parties
    }
    return Setup(
        parties,
        public_key,
        {index: share.to_bytes() for index, share in key_shares.items()},
        box_keys,
        sub_shares,
    )


# ------------------------------------------------------------------ oracles (tests only)


def _summed_secret(setup: Setup) -> np.ndarray:
    """ORACLE: the joint secret sum s_i, which the protocol itself never assembles."""
    moduli = tc._runtime(PARAMETERS).key_moduli
    total = sum(party._secret.astype(object) for party in setup.parties)
    return (total % moduli.astype(object).reshape(-1, 1)).astype(np.uint64)


def _oracle_decryptor(setup: Setup) -> seal.Decryptor:
    """A standard SEAL decryptor holding the oracle secret."""
    runtime = tc._runtime(PARAMETERS)
    body = runtime.plaintext_body(runtime.key_parms_id, _summed_secret(setup), 1.0)
    return seal.Decryptor(runtime.context, runtime._load(seal.SecretKey(), body))


def _seal_ciphertext(encrypted: tc.EncryptedVector, position: int) -> seal.Ciphertext:
    """One ciphertext of an EncryptedVector as a SEAL object."""
    runtime = tc._runtime(PARAMETERS)
    body = runtime.ciphertext_body(
        runtime.data_parms_id, encrypted.residues[position], True, PARAMETERS.scale
    )
    return runtime._load(seal.Ciphertext(), body)


def _centered_coefficients(ntt_residues: np.ndarray) -> np.ndarray:
    """Data-level NTT residues -> signed coefficients (valid while |value| < q0 / 2)."""
    runtime = tc._runtime(PARAMETERS)
    carrier = np.stack([ntt_residues, np.ones_like(ntt_residues)])
    ciphertext = runtime._load(
        seal.Ciphertext(),
        runtime.ciphertext_body(runtime.data_parms_id, carrier, True, 1.0),
    )
    runtime.evaluator.transform_from_ntt_inplace(ciphertext)
    first_prime = tc._coefficients(ciphertext, PARAMETERS.poly_modulus_degree).astype(
        object
    )
    modulus = int(runtime.data_moduli[0])
    return np.array(
        [v if v < modulus // 2 else v - modulus for v in first_prime], dtype=float
    )


def _encoded(values: np.ndarray) -> np.ndarray:
    """The data-level NTT residues SEAL's encoder gives `values`."""
    runtime = tc._runtime(PARAMETERS)
    plaintext = seal.Plaintext()
    runtime.encoder.encode(values, PARAMETERS.scale, plaintext)
    shape = (len(runtime.data_moduli), PARAMETERS.poly_modulus_degree)
    return tc._coefficients(plaintext, shape[0] * shape[1]).reshape(shape)


def _decrypt_all(setup: Setup, aggregate: tc.EncryptedVector, members: Sequence[int]):
    """Every member's shares for `members`, then the combined result."""
    key_shares = setup.key_shares()
    shares = [
        share
        for member in members
        for share in key_shares[member].decryption_shares(aggregate, members)
    ]
    return (
        tc.combine_decryption_shares(aggregate, shares, members, setup.public_key),
        shares,
    )


def _random_updates(count: int, length: int, seed: int) -> List[np.ndarray]:
    """float32 updates of realistic magnitude."""
    generator = np.random.default_rng(seed)
    return [generator.normal(0, 0.5, length).astype(np.float32) for _ in range(count)]


# ------------------------------------------------------------------ parameters and arithmetic


def test_parameters_digest_identifies_the_parameter_set() -> None:
    """Equal parameters share a digest, any change alters it, and unusable sets are refused."""
    assert tc.CkksParameters().digest == PARAMETERS.digest
    assert tc.CkksParameters(flooding_margin_bits=41).digest != PARAMETERS.digest
    with pytest.raises(tc.InvalidInputError):
        tc.CkksParameters(scale_bits=110)
    with pytest.raises(tc.InvalidInputError):
        tc.CkksParameters(coeff_modulus_bits=(61, 61, 61))


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_modular_multiplication_matches_python_integers(data: st.DataObject) -> None:
    """Shoup multiplication in uint64 equals exact integer arithmetic, edge residues included."""
    moduli = tc._runtime(PARAMETERS).key_moduli
    column = moduli.reshape(-1, 1)
    residue = st.integers(0, int(moduli.min()) - 1) | st.sampled_from(
        [0, 1, int(moduli.min()) - 1]
    )
    rows = data.draw(
        st.lists(st.lists(residue, min_size=8, max_size=8), min_size=3, max_size=3)
    )
    factors = data.draw(
        st.lists(st.lists(residue, min_size=8, max_size=8), min_size=3, max_size=3)
    )
    values, factor = np.array(rows, dtype=np.uint64), np.array(factors, dtype=np.uint64)
    expected = (values.astype(object) * factor.astype(object)) % column.astype(object)
    assert (tc._mul_mod_once(values, factor, column).astype(object) == expected).all()


# ------------------------------------------------------------------ key generation


def test_joint_public_key_decrypts_under_summed_secret_with_standard_seal(
    setup: Setup,
) -> None:
    """The joint key encrypts for sum s_i: plain SEAL Encryptor/Decryptor and our vectors agree."""
    runtime = tc._runtime(PARAMETERS)
    decryptor = _oracle_decryptor(setup)
    values = np.linspace(-3, 3, PARAMETERS.slot_count)
    plaintext, ciphertext, decrypted = (
        seal.Plaintext(),
        seal.Ciphertext(),
        seal.Plaintext(),
    )
    runtime.encoder.encode(values, PARAMETERS.scale, plaintext)
    seal.Encryptor(runtime.context, setup.public_key.seal_public_key).encrypt(
        plaintext, ciphertext
    )
    decryptor.decrypt(ciphertext, decrypted)
    assert (
        np.abs(np.array(runtime.encoder.decode_double(decrypted)) - values).max() < 1e-9
    )

    encrypted = tc.encrypt_vector(values[:100], setup.public_key)
    decryptor.decrypt(_seal_ciphertext(encrypted, 0), decrypted)
    assert (
        np.abs(
            np.array(runtime.encoder.decode_double(decrypted))[:100] - values[:100]
        ).max()
        < 1e-9
    )


def test_threshold_shares_interpolate_to_the_joint_secret(setup: Setup) -> None:
    """sum lambda_j s'_j over any t-subset equals sum s_i on the data primes (Shamir correctness)."""
    moduli = tc._runtime(PARAMETERS).data_moduli
    column = moduli.astype(object).reshape(-1, 1)
    secret = _summed_secret(setup)[: len(moduli)].astype(object)
    key_shares = setup.key_shares()
    for subset in itertools.combinations(range(1, N_PARTIES + 1), THRESHOLD):
        total = sum(
            key_shares[j]._key.astype(object)
            * tc._lagrange_at_zero(j, subset, moduli).astype(object)
            for j in subset
        )
        assert ((total % column) == secret).all()
    two = sum(key_shares[j]._key.astype(object) for j in (1, 2)) % column
    assert not (two == secret).all()


def test_sub_share_opens_only_for_its_recipient(setup: Setup) -> None:
    """A box addressed to party 3 cannot be opened by party 2, nor after tampering."""
    addressed_to_3 = _received_by(setup.sub_shares, 3)
    party_2 = setup.parties[1]
    misrouted = {**_received_by(setup.sub_shares, 2), 1: addressed_to_3[1]}
    with pytest.raises(tc.SubShareDecryptionError, match="from party 1 to party 2"):
        party_2.finalize(misrouted, setup.box_keys, setup.public_key)
    tampered = bytearray(setup.sub_shares[1][2])
    tampered[-1] ^= 1
    with pytest.raises(tc.SubShareDecryptionError):
        party_2.finalize(
            {**_received_by(setup.sub_shares, 2), 1: bytes(tampered)},
            setup.box_keys,
            setup.public_key,
        )
    with pytest.raises(tc.InvalidInputError):
        party_2.finalize({1: setup.sub_shares[1][2]}, setup.box_keys, setup.public_key)


def test_public_key_shares_must_be_complete_unique_and_same_seed(setup: Setup) -> None:
    """Combining refuses duplicates, gaps and shares from another seed."""
    shares = [party.public_key_share() for party in setup.parties]
    with pytest.raises(tc.DuplicateShareError):
        tc.combine_public_key_shares(shares + [shares[0]], THRESHOLD, CRS_SEED)
    with pytest.raises(tc.InvalidInputError):
        tc.combine_public_key_shares(shares[1:], THRESHOLD, CRS_SEED)
    with pytest.raises(tc.ForeignShareError):
        tc.combine_public_key_shares(shares, THRESHOLD, b"another seed")


# ------------------------------------------------------------------ averaging and decryption


@settings(max_examples=8, deadline=None)
@given(
    length=st.integers(1, 9_000),
    count=st.integers(1, 4),
    weighted=st.booleans(),
    members=st.sampled_from(
        list(itertools.combinations(range(1, N_PARTIES + 1), THRESHOLD))
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_decrypted_average_matches_plaintext_average(
    setup: Setup, length: int, count: int, weighted: bool, members: tuple, seed: int
) -> None:
    """Within 1e-6 absolute for random vectors, plain or sample-count weighted, any t-subset."""
    updates = _random_updates(count, length, seed)
    weights = (
        list(np.random.default_rng(seed).integers(1, 6000, count)) if weighted else None
    )
    aggregate = tc.aggregate_encrypted(
        [tc.encrypt_vector(u, setup.public_key) for u in updates], weights
    )
    result, _ = _decrypt_all(setup, aggregate, members)
    expected = np.average(np.stack(updates).astype(np.float64), axis=0, weights=weights)
    assert result.bad_parties == () and result.subset == members
    assert np.abs(result.values - expected).max() <= 1e-6


def test_lenet_sized_average_with_all_four_decryptors(setup: Setup) -> None:
    """A LeNet-size update (11 ciphertexts); |S| = 4 decodes all four 3-subsets consistently."""
    updates = _random_updates(N_PARTIES, LENET_PARAMETERS, 7)
    aggregate = tc.aggregate_encrypted(
        [tc.encrypt_vector(u, setup.public_key) for u in updates]
    )
    assert aggregate.ciphertext_count == 11
    result, shares = _decrypt_all(setup, aggregate, range(1, N_PARTIES + 1))
    assert len(shares) == N_PARTIES * 3 and result.bad_parties == ()
    expected = np.mean(np.stack(updates).astype(np.float64), axis=0)
    assert np.abs(result.values - expected).max() <= 1e-6


def test_every_t_subset_decrypts_and_fewer_than_t_fail(setup: Setup) -> None:
    """All 3-subsets combine; two shares (or a 2-member decryptor set) raise, never return."""
    updates = _random_updates(3, 500, 1)
    aggregate = tc.aggregate_encrypted(
        [tc.encrypt_vector(u, setup.public_key) for u in updates]
    )
    expected = np.mean(np.stack(updates).astype(np.float64), axis=0)
    for members in itertools.combinations(range(1, N_PARTIES + 1), THRESHOLD):
        result, shares = _decrypt_all(setup, aggregate, members)
        assert np.abs(result.values - expected).max() <= 1e-6
        with pytest.raises(tc.InsufficientSharesError, match="most complete subset"):
            tc.combine_decryption_shares(
                aggregate, shares[:-1], members, setup.public_key
            )
    with pytest.raises(tc.InsufficientSharesError):
        tc.combine_decryption_shares(aggregate, shares[:2], (1, 2), setup.public_key)
    with pytest.raises(tc.InsufficientSharesError):
        setup.key_shares()[1].decryption_shares(aggregate, (1, 2))


def test_aggregation_is_deterministic_and_weighted(setup: Setup) -> None:
    """Any order gives byte-identical aggregates; weights enter exactly and are validated."""
    encrypted = [
        tc.encrypt_vector(u, setup.public_key) for u in _random_updates(3, 300, 2)
    ]
    forward = tc.aggregate_encrypted(encrypted, [5, 1, 2])
    backward = tc.aggregate_encrypted(encrypted[::-1], [2, 1, 5])
    assert forward.to_bytes() == backward.to_bytes() and forward.total_weight == 8
    for bad_weights in ([1, 0, 1], [1, 2], [1.5, 1, 1], [True, 1, 1]):
        with pytest.raises(tc.InvalidInputError):
            tc.aggregate_encrypted(encrypted, bad_weights)
    with pytest.raises(tc.InvalidInputError):
        tc.aggregate_encrypted(encrypted, [PARAMETERS.max_total_weight, 1, 1])
    with pytest.raises(tc.InvalidInputError):
        tc.aggregate_encrypted([])
    shorter = tc.encrypt_vector(np.ones(10), setup.public_key)
    with pytest.raises(tc.InvalidInputError):
        tc.aggregate_encrypted([encrypted[0], shorter])
    foreign = dataclasses.replace(encrypted[0], public_key_digest=bytes(32))
    with pytest.raises(tc.ForeignDataError):
        tc.aggregate_encrypted([encrypted[0], foreign])


def test_noise_bound_holds_and_flooding_dominates_it(setup: Setup) -> None:
    """Measured aggregate noise <= its bound; sigma >= 2^40 x bound; the shares carry that sigma."""
    updates = _random_updates(4, PARAMETERS.slot_count, 3)
    aggregate = tc.aggregate_encrypted(
        [tc.encrypt_vector(u, setup.public_key) for u in updates]
    )
    moduli = tc._runtime(PARAMETERS).data_moduli
    column = moduli.reshape(-1, 1)
    secret = _summed_secret(setup)[: len(moduli)]
    c0, c1 = aggregate.residues[0]
    phase = tc._add_mod(c0, tc._mul_mod_once(c1, secret, column), column)
    message = _encoded(
        updates[0]
    )  # sum of the encodings: SEAL's float64 IFFT error is message, not noise
    for update in updates[1:]:
        message = tc._add_mod(message, _encoded(update), column)
    noise = _centered_coefficients(
        tc._add_mod(phase, tc._neg_mod(message, column), column)
    )
    bound = tc.aggregate_noise_bound(PARAMETERS, N_PARTIES, aggregate.total_weight)
    sigma = tc.flooding_sigma(PARAMETERS, N_PARTIES, aggregate.total_weight)
    assert 0 < np.abs(noise).max() <= bound
    assert sigma >= 2**40 * bound

    key_share = setup.key_shares()[1]
    members = (1, 2, 3)
    (share,) = key_share.decryption_shares(aggregate, members)
    lagrange = tc._lagrange_at_zero(1, members, moduli)
    masked = tc._mul_mod_once(
        tc._mul_mod_once(c1, key_share._key, column), lagrange, column
    )
    flooding = _centered_coefficients(
        tc._add_mod(share.residues[0], tc._neg_mod(masked, column), column)
    )
    assert abs(flooding.std() / sigma - 1) < 0.05 and abs(flooding.mean()) < 0.1 * sigma
    assert tc.decryption_error_bound(PARAMETERS, N_PARTIES, THRESHOLD) < 1e-6


def test_a_party_issues_shares_once_per_ciphertext(setup: Setup) -> None:
    """A second request is refused, also after the state was persisted and restored."""
    aggregate = tc.aggregate_encrypted(
        [tc.encrypt_vector(np.ones(20), setup.public_key)]
    )
    key_share = setup.key_shares()[2]
    key_share.decryption_shares(aggregate, (1, 2, 3))
    assert key_share.issued_digests == {aggregate.digest}
    with pytest.raises(tc.ShareAlreadyIssuedError):
        key_share.decryption_shares(aggregate, (2, 3, 4))
    restored = tc.ThresholdKeyShare.from_bytes(key_share.to_bytes())
    with pytest.raises(tc.ShareAlreadyIssuedError):
        restored.decryption_shares(aggregate, (1, 2, 3))
    with pytest.raises(tc.InvalidInputError):
        setup.key_shares()[4].decryption_shares(aggregate, (1, 2, 3))


def test_duplicate_and_foreign_shares_are_refused(setup: Setup) -> None:
    """Same share twice, a party outside S, another ciphertext, key or parameters: all refused."""
    encrypted = tc.encrypt_vector(np.arange(50.0), setup.public_key)
    aggregate = tc.aggregate_encrypted([encrypted])
    other = tc.aggregate_encrypted([encrypted, encrypted])
    members = (1, 2, 3)
    _, shares = _decrypt_all(setup, aggregate, members)
    _, other_shares = _decrypt_all(setup, other, members)
    _, wide_shares = _decrypt_all(setup, other, (1, 2, 3, 4))
    public_key = setup.public_key
    with pytest.raises(tc.DuplicateShareError):
        tc.combine_decryption_shares(
            aggregate, shares + [shares[0]], members, public_key
        )
    with pytest.raises(tc.ForeignShareError, match="another ciphertext"):
        tc.combine_decryption_shares(
            aggregate, shares[:2] + other_shares[2:], members, public_key
        )
    outsider = next(share for share in wide_shares if share.party_index == 4)
    with pytest.raises(tc.ForeignShareError, match="decryptor set"):
        tc.combine_decryption_shares(
            other, other_shares + [outsider], members, public_key
        )
    other_parameters = dataclasses.replace(
        shares[0], parameters=tc.CkksParameters(flooding_margin_bits=41)
    )
    with pytest.raises(tc.ForeignShareError, match="other parameters"):
        tc.combine_decryption_shares(
            aggregate, [other_parameters] + shares[1:], members, public_key
        )
    other_key = dataclasses.replace(shares[0], public_key_digest=bytes(32))
    with pytest.raises(tc.ForeignShareError, match="another joint key"):
        tc.combine_decryption_shares(
            aggregate, [other_key] + shares[1:], members, public_key
        )


def _replace_party_shares(shares, party: int, residues_for) -> list:
    """Shares with `party`'s residues replaced by residues_for(share)."""
    return [
        (
            dataclasses.replace(share, residues=residues_for(share))
            if share.party_index == party
            else share
        )
        for share in shares
    ]


def test_bad_shares_are_detected_and_named(setup: Setup) -> None:
    """n=4, t=3, S={1..4}: garbage or wrong-key shares of party 4 are named; the result stays right."""
    updates = _random_updates(2, 5000, 4)
    aggregate = tc.aggregate_encrypted(
        [tc.encrypt_vector(u, setup.public_key) for u in updates]
    )
    expected = np.mean(np.stack(updates).astype(np.float64), axis=0)
    members = (1, 2, 3, 4)
    _, shares = _decrypt_all(setup, aggregate, members)
    moduli = tc._runtime(PARAMETERS).data_moduli
    generator = np.random.default_rng(5)

    def garbage(share):
        return generator.integers(
            0, 2**60, share.residues.shape, dtype=np.uint64
        ) % moduli.reshape(-1, 1)

    wrong_key = tc.ThresholdKeyShare(
        4,
        N_PARTIES,
        THRESHOLD,
        setup.public_key.digest,
        garbage(shares[0])[0],
        PARAMETERS,
    )
    forged = {
        share.subset: share for share in wrong_key.decryption_shares(aggregate, members)
    }
    for residues_for in (garbage, lambda share: forged[share.subset].residues):
        result = tc.combine_decryption_shares(
            aggregate,
            _replace_party_shares(shares, 4, residues_for),
            members,
            setup.public_key,
        )
        assert result.bad_parties == (4,) and result.subset == (1, 2, 3)
        assert np.abs(result.values - expected).max() <= 1e-6


def test_crafted_plausible_shares_are_detected_not_blamed_on_the_wrong_party(
    setup: Setup,
) -> None:
    """A consistent small offset from party 4 with |S| = t + 1 is ambiguous: raised with suspects."""
    aggregate = tc.aggregate_encrypted(
        [tc.encrypt_vector(np.zeros(100), setup.public_key)]
    )
    members = (1, 2, 3, 4)
    _, shares = _decrypt_all(setup, aggregate, members)
    column = tc._runtime(PARAMETERS).data_moduli.reshape(-1, 1)
    offset = _encoded(np.full(100, 0.01))
    crafted = _replace_party_shares(
        shares, 4, lambda share: tc._add_mod(share.residues, offset, column)
    )
    with pytest.raises(tc.InconsistentSharesError) as raised:
        tc.combine_decryption_shares(aggregate, crafted, members, setup.public_key)
    assert 4 in raised.value.suspects
    single = [share for share in crafted if share.subset == (1, 2, 4)]
    single[-1] = dataclasses.replace(
        single[-1],
        residues=tc._add_mod(single[-1].residues, _encoded(np.full(100, 1e9)), column),
    )
    with pytest.raises(tc.InconsistentSharesError):
        tc.combine_decryption_shares(aggregate, single, (1, 2, 4), setup.public_key)


# ------------------------------------------------------------------ bytes and inputs


def test_serialization_round_trips(setup: Setup) -> None:
    """Every object survives to_bytes/from_bytes unchanged; vectors stay within 1.01x raw residues."""
    encrypted = tc.encrypt_vector(np.arange(5000, dtype=np.float32), setup.public_key)
    data = encrypted.to_bytes()
    assert tc.EncryptedVector.from_bytes(data).to_bytes() == data
    assert len(data) <= 1.01 * encrypted.residues.size * 8
    aggregate = tc.aggregate_encrypted([encrypted])
    share = setup.key_shares()[1].decryption_shares(aggregate, (1, 2, 3))[0]
    assert (
        tc.DecryptionShare.from_bytes(share.to_bytes()).to_bytes() == share.to_bytes()
    )
    key_bytes = setup.public_key.to_bytes()
    assert tc.JointPublicKey.from_bytes(key_bytes).digest == setup.public_key.digest
    public_key_share = setup.parties[0].public_key_share().to_bytes()
    assert tc.PublicKeyShare.from_bytes(public_key_share).to_bytes() == public_key_share
    assert (
        tc.ThresholdKeyShare.from_bytes(setup.key_share_bytes[1]).to_bytes()
        == setup.key_share_bytes[1]
    )


def _with_field(data: bytes, offset: int, layout: str, value: int) -> bytes:
    """`data` with one header field overwritten."""
    patched = bytearray(data)
    struct.pack_into(layout, patched, offset, value)
    return bytes(patched)


def test_malformed_vector_bytes_are_refused(setup: Setup) -> None:
    """Wrong parameters, truncation, trailing bytes, wrong count or length, residue >= q, bad magic."""
    data = tc.encrypt_vector(np.ones(5000), setup.public_key).to_bytes()
    fields = (
        tc._PREAMBLE.size + 32
    )  # after preamble and key digest: length u64, count u32, weight u64
    with pytest.raises(tc.ParameterMismatchError):
        tc.EncryptedVector.from_bytes(data, tc.CkksParameters(flooding_margin_bits=41))
    with pytest.raises(tc.MalformedDataError, match="truncated"):
        tc.EncryptedVector.from_bytes(data[:-1])
    with pytest.raises(tc.MalformedDataError, match="trailing"):
        tc.EncryptedVector.from_bytes(data + b"\0")
    with pytest.raises(tc.MalformedDataError, match="ciphertexts"):
        tc.EncryptedVector.from_bytes(_with_field(data, fields + 8, "<I", 3))
    with pytest.raises(tc.MalformedDataError, match="ciphertexts"):
        tc.EncryptedVector.from_bytes(_with_field(data, fields, "<Q", 9000))
    with pytest.raises(tc.MalformedDataError, match="weight"):
        tc.EncryptedVector.from_bytes(_with_field(data, fields + 12, "<Q", 0))
    with pytest.raises(tc.MalformedDataError, match="modulus"):
        tc.EncryptedVector.from_bytes(_with_field(data, len(data) - 8, "<Q", 2**64 - 1))
    with pytest.raises(tc.MalformedDataError, match="not a v1"):
        tc.EncryptedVector.from_bytes(b"XXXX" + data[4:])
    with pytest.raises(tc.MalformedDataError):
        tc.DecryptionShare.from_bytes(data)
    with pytest.raises(tc.MalformedDataError):
        tc.EncryptedVector.from_bytes("not bytes")


def test_invalid_vectors_are_refused(setup: Setup) -> None:
    """NaN, infinity, out-of-range, empty or non-flat input never gets encrypted."""
    for values in (
        [1.0, np.nan],
        [np.inf],
        [PARAMETERS.max_abs_value * 2],
        [],
        [[1.0], [2.0]],
    ):
        with pytest.raises(tc.InvalidInputError):
            tc.encrypt_vector(np.array(values, dtype=np.float32), setup.public_key)
