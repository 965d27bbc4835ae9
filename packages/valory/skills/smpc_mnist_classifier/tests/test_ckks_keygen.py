"""Tests for the verifiable key generation: commitments, public and recipient checks, complaints, QUAL.

Misbehaving dealers are built here, in test code, from an honest Dealer's internals.
"""

import dataclasses
import os
import struct
from functools import lru_cache
from typing import Dict

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey, SealedBox

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks import dealing as dl
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks import errors
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks import keygen as kg
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks import ring
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    DEFAULT_PARAMETERS,
    CkksParameters,
    image_noise_bound,
    image_noise_sigma,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.seal_bridge import (
    _runtime,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.sharing import (
    integer_lagrange,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.wire import _PREAMBLE
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.simulation import (
    SimulatedKeys,
    simulate_key_generation,
)

N_PARTIES = 4
THRESHOLD = 3
SEED = b"test key epoch seed"
PARAMETERS = DEFAULT_PARAMETERS
MODULI = _runtime(PARAMETERS).data_moduli
COLUMN = MODULI.reshape(-1, 1)
# small, fast parameters for the property test over several rosters
SMALL_PARAMETERS = CkksParameters(
    poly_modulus_degree=4096,
    coeff_modulus_bits=(36, 36, 37),
    scale_bits=30,
    max_abs_value_bits=8,
    max_total_weight_bits=10,
)


@dataclasses.dataclass
class Round:
    """Honest dealers of one key generation, their box keys and their checked dealings."""

    dealers: Dict[int, kg.Dealer]
    box_keys: Dict[int, PrivateKey]

    @property
    def box_public_keys(self) -> Dict[int, bytes]:
        """Registered box public keys."""
        return {i: bytes(key.public_key) for i, key in self.box_keys.items()}

    def blob(self, dealer: int) -> bytes:
        """A dealer's honest dealing bytes."""
        return self.dealers[dealer].dealing.to_bytes()


@pytest.fixture(scope="module")
def honest() -> Round:
    """Four honest dealers of a 3-of-4 key."""
    box_keys = {i: PrivateKey.generate() for i in range(1, N_PARTIES + 1)}
    public = {i: bytes(key.public_key) for i, key in box_keys.items()}
    dealers = {i: kg.Dealer(i, N_PARTIES, THRESHOLD, SEED, public) for i in box_keys}
    return Round(dealers, box_keys)


def _check(blob: bytes, dealer: int, seed: bytes = SEED) -> dl.Dealing:
    """Commit and check a blob as every agent does (the commitment is over the blob revealed)."""
    commitment = dl.dealing_commitment(blob, seed, dealer)
    return dl.check_dealing(blob, commitment, dealer, N_PARTIES, THRESHOLD, seed)


def _noisy_images(points: np.ndarray) -> np.ndarray:
    """Images -a*p + e, -a'*p + e of NTT points (k, primes, N), as an adversary computes them."""
    runtime = _runtime(PARAMETERS)
    count, degree = 2 * len(points), PARAMETERS.poly_modulus_degree
    noise = ring._rounded_gaussian_residues(
        image_noise_sigma(PARAMETERS), MODULI, count * degree
    )
    noise = runtime.to_ntt(
        np.ascontiguousarray(
            noise.reshape(len(MODULI), count, degree).transpose(1, 0, 2)
        )
    ).reshape((2, len(points), len(MODULI), degree))
    return ring._add_mod(dl._images(points, PARAMETERS, SEED), noise, COLUMN)


def _sealed(dealing: dl.Dealing, recipient: int, point: np.ndarray, key) -> bytes:
    """A point sealed to a recipient, as a dealer would box it."""
    return bytes(
        SealedBox(key.public_key).encrypt(dl._point_bytes(dealing, recipient, point))
    )


def _random_point() -> np.ndarray:
    """A uniform NTT polynomial (an adversary's guess)."""
    return ring._uniform_residues(MODULI, PARAMETERS.poly_modulus_degree, os.urandom)


def _sum(points) -> np.ndarray:
    """Sum of residue arrays mod q."""
    total = np.zeros((len(MODULI), PARAMETERS.poly_modulus_degree), dtype=np.uint64)
    for point in points:
        total = ring._add_mod(total, point, COLUMN)
    return total


# ------------------------------------------------------------------ honest run


def test_honest_dealings_pass_and_every_recipient_gets_its_point(honest: Round) -> None:
    """Every honest dealing passes the public check and opens to the dealt point."""
    for index, dealer in honest.dealers.items():
        dealing = _check(honest.blob(index), index)
        for recipient, key in honest.box_keys.items():
            point = dl.open_sub_share(dealing, recipient, key, SEED)
            assert np.array_equal(point, dealer._points[recipient])


def test_joint_public_key_is_an_rlwe_key_of_the_joint_secret(honest: Round) -> None:
    """b + a * sum(s_i) is short: (b, a) is a public key of the sum of QUAL's additive secrets."""
    dealings = {i: _check(honest.blob(i), i) for i in honest.dealers}
    public_key = kg.joint_public_key(dealings, (1, 2, 3, 4), SEED)
    secret = _sum(dealer.additive_secret for dealer in honest.dealers.values())
    residual = ring._add_mod(
        public_key.b, ring._mul_mod_once(public_key.a, secret, COLUMN), COLUMN
    )
    runtime = _runtime(PARAMETERS)
    coefficients = runtime.from_ntt(residual[np.newaxis])
    assert ring._is_short(
        coefficients, MODULI, N_PARTIES * image_noise_bound(PARAMETERS)
    )
    assert not ring._is_short(
        runtime.from_ntt(public_key.b[np.newaxis]), MODULI, 2**100
    )
    parsed = dl.EpochPublicKey.from_bytes(public_key.to_bytes())
    assert parsed.digest == public_key.digest and parsed.qualified == (1, 2, 3, 4)


@lru_cache(maxsize=None)
def _simulated(n_parties: int, threshold: int) -> SimulatedKeys:
    """One simulated key generation per roster (small parameters), shared by hypothesis examples."""
    return simulate_key_generation(n_parties, threshold, b"property", SMALL_PARAMETERS)


@settings(max_examples=25, deadline=None)
@given(
    roster=st.sampled_from([(4, 3), (5, 2), (7, 5)]),
    data=st.data(),
)
def test_any_t_key_shares_reconstruct_the_joint_secret(roster, data) -> None:
    """For any t-subset S: sum c_j * share_j = D * sum_{QUAL} s_i (integer Lagrange at 0)."""
    n_parties, threshold = roster
    keys = _simulated(n_parties, threshold)
    subset = data.draw(
        st.lists(
            st.integers(1, n_parties),
            min_size=threshold,
            max_size=threshold,
            unique=True,
        )
    )
    moduli = _runtime(SMALL_PARAMETERS).data_moduli.astype(object).reshape(-1, 1)
    secret = sum(
        share.additive_secret.astype(object) for share in keys.key_shares.values()
    )
    weights, denominator = integer_lagrange(subset, 0)
    combined = sum(
        weight * keys.key_shares[j].shamir_share.astype(object)
        for weight, j in zip(weights, subset)
    )
    assert ((combined - denominator * secret) % moduli == 0).all()
    assert keys.key_shares[subset[0]].qualified == tuple(range(1, n_parties + 1))


# ------------------------------------------------------------------ attack 1: rogue key


def test_rogue_public_key_share_fails_the_public_check(honest: Round) -> None:
    """Attack 1: the last dealer publishes b = -a*s' + e - sum(others' b): refused, dealer named."""
    rogue_secret = _runtime(PARAMETERS).to_ntt(
        ring._signed_residues(ring._ternary(PARAMETERS.poly_modulus_degree), MODULI)[
            np.newaxis
        ]
    )
    own = _noisy_images(rogue_secret)[:, 0]
    others = [honest.dealers[i].dealing.images[:, 0] for i in (1, 2, 3)]
    rogue = ring._add_mod(own, ring._neg_mod(_sum_pairs(others), COLUMN), COLUMN)
    dealing = honest.dealers[4].dealing
    images = dealing.images.copy()
    images[:, 0] = rogue
    blob = dataclasses.replace(dealing, images=images).to_bytes()
    with pytest.raises(errors.InconsistentDealingError) as caught:
        _check(blob, 4)
    assert caught.value.dealer == 4


def _sum_pairs(pairs) -> np.ndarray:
    """Sum of (2, primes, N) image pairs mod q."""
    total = np.zeros_like(pairs[0])
    for pair in pairs:
        total = ring._add_mod(total, pair, COLUMN)
    return total


def test_rogue_key_with_consistent_images_is_left_out_of_qual(honest: Round) -> None:
    """Attack 1, refined: images extrapolated from the rogue b pass the public check, but the
    dealer cannot give recipient 3 a point matching them, cannot justify it, and leaves QUAL.
    """
    dealing = honest.dealers[4].dealing
    others = [honest.dealers[i].dealing.images[:, 0] for i in (1, 2, 3)]
    rogue = ring._add_mod(
        _noisy_images(_random_point()[np.newaxis])[:, 0],
        ring._neg_mod(_sum_pairs(others), COLUMN),
        COLUMN,
    )
    images = dealing.images.copy()
    images[:, 0] = rogue  # points 1 and 2 stay honest (the dealer knows them)
    for point in (
        3,
        4,
    ):  # B_k = B_{k-3} - 3 B_{k-2} + 3 B_{k-1}: third differences vanish
        terms = [(1, point - 3), (-3, point - 2), (3, point - 1)]
        images[:, point] = _sum_pairs(
            [
                ring._mul_mod_once(images[:, k], ring._per_prime(w, MODULI), COLUMN)
                for w, k in terms
            ]
        )
    forged = dataclasses.replace(dealing, images=images)
    checked = _check(forged.to_bytes(), 4)
    assert dl.open_sub_share(checked, 1, honest.box_keys[1], SEED) is not None
    with pytest.raises(errors.BadSubShareError) as caught:
        dl.open_sub_share(checked, 3, honest.box_keys[3], SEED)
    assert caught.value.dealer == 4
    with pytest.raises(errors.BadJustificationError) as caught:
        dl.check_justification(honest.dealers[4].justification(3), checked, 3, SEED)
    assert caught.value.dealer == 4
    qualified = kg.qualified_dealers(N_PARTIES, THRESHOLD, (1, 2, 3, 4), {3: [4]}, {})
    assert qualified == (1, 2, 3)


def test_a_reveal_must_match_its_commitment(honest: Round) -> None:
    """Commit before reveal: a dealing chosen after the commitment is refused, its dealer named."""
    commitment = dl.dealing_commitment(honest.blob(2), SEED, 2)
    with pytest.raises(errors.DealingCommitmentError) as caught:
        dl.check_dealing(honest.blob(3), commitment, 2, N_PARTIES, THRESHOLD, SEED)
    assert caught.value.dealer == 2
    assert dl.dealing_commitment(honest.blob(2), SEED + b"x", 2) != commitment
    assert dl.dealing_commitment(honest.blob(2), SEED, 3) != commitment


# ------------------------------------------------------------------ attack 4: bad sub-shares


def test_bad_box_names_the_dealer_and_a_justification_saves_the_recipient(
    honest: Round,
) -> None:
    """Attack 4: dealer 2 boxes a wrong point to 3; 3's complaint names 2; 2 justifies; 3 keeps
    its role with the right point and the key shares still reconstruct the joint secret.
    """
    dealing = honest.dealers[2].dealing
    boxes = list(dealing.boxes)
    boxes[2] = _sealed(dealing, 3, _random_point(), honest.box_keys[3])
    checked = _check(dataclasses.replace(dealing, boxes=tuple(boxes)).to_bytes(), 2)
    with pytest.raises(errors.BadSubShareError) as caught:
        dl.open_sub_share(checked, 3, honest.box_keys[3], SEED)
    assert caught.value.dealer == 2
    justified = dl.check_justification(
        honest.dealers[2].justification(3), checked, 3, SEED
    )
    assert np.array_equal(justified, honest.dealers[2]._points[3])
    qualified = kg.qualified_dealers(
        N_PARTIES, THRESHOLD, (1, 2, 3, 4), {3: [2]}, {2: [3]}
    )
    assert qualified == (1, 2, 3, 4)
    dealings = {i: _check(honest.blob(i), i) for i in (1, 3, 4)} | {2: checked}
    public_key = kg.joint_public_key(dealings, qualified, SEED)
    shares = {}
    for j in (1, 2, 3):
        received = {
            d: (
                justified
                if (d, j) == (2, 3)
                else dl.open_sub_share(dealings[d], j, honest.box_keys[j], SEED)
            )
            for d in qualified
        }
        shares[j] = honest.dealers[j].finalize(public_key, received)
    weights, denominator = integer_lagrange((1, 2, 3), 0)
    combined = _sum(
        ring._mul_mod_once(shares[j].shamir_share, ring._per_prime(w, MODULI), COLUMN)
        for w, j in zip(weights, (1, 2, 3))
    )
    secret = _sum(dealer.additive_secret for dealer in honest.dealers.values())
    assert np.array_equal(
        combined,
        ring._mul_mod_once(secret, ring._per_prime(denominator, MODULI), COLUMN),
    )


def test_unopenable_box_is_a_complaint_against_the_dealer(honest: Round) -> None:
    """A box sealed to another key, or holding another recipient's point, names the dealer."""
    dealing = honest.dealers[1].dealing
    boxes = list(dealing.boxes)
    boxes[1] = _sealed(dealing, 2, dealing.images[0, 2], honest.box_keys[3])
    boxes[2] = _sealed(dealing, 4, honest.dealers[1]._points[4], honest.box_keys[3])
    checked = _check(dataclasses.replace(dealing, boxes=tuple(boxes)).to_bytes(), 1)
    for recipient in (2, 3):
        with pytest.raises(errors.BadSubShareError) as caught:
            dl.open_sub_share(checked, recipient, honest.box_keys[recipient], SEED)
        assert caught.value.dealer == 1


def test_joint_key_needs_a_checked_dealing_of_every_qualified_dealer(
    honest: Round,
) -> None:
    """QUAL members without a checked dealing, too few of them, or another seed are refused."""
    dealings = {i: _check(honest.blob(i), i) for i in (1, 2, 3)}
    for qualified, seed in (
        ((1, 2, 3, 4), SEED),
        ((1, 2), SEED),
        ((1, 2, 3), b"other"),
    ):
        with pytest.raises(errors.InvalidInputError):
            kg.joint_public_key(dealings, qualified, seed)


def test_unjustified_complaint_excludes_the_dealer() -> None:
    """A complaint left unanswered takes the dealer out of QUAL; too few dealers is refused."""
    assert kg.qualified_dealers(4, 3, (1, 2, 3, 4), {1: [2], 3: [2]}, {2: [1]}) == (
        1,
        3,
        4,
    )
    with pytest.raises(errors.InsufficientSharesError):
        kg.qualified_dealers(4, 3, (1, 2, 4), {1: [4]}, {})


@pytest.mark.parametrize("moved", range(N_PARTIES + 1))
def test_points_off_a_degree_t_polynomial_fail_the_public_check(
    honest: Round, moved: int
) -> None:
    """A dealer whose points 0..n do not lie on one polynomial of degree < t is refused, whichever
    point is moved and however little (here by the constant 1, images honestly made)."""
    dealer = honest.dealers[3]
    points = dealer._points.copy()
    points[moved] = ring._add_mod(points[moved], ring._per_prime(1, MODULI), COLUMN)
    forged = dataclasses.replace(dealer.dealing, images=_noisy_images(points))
    with pytest.raises(errors.InconsistentDealingError) as caught:
        _check(forged.to_bytes(), 3)
    assert caught.value.dealer == 3


def test_a_secret_other_than_the_public_key_share_fails(honest: Round) -> None:
    """Points dealt for s' while the public-key share is for s: the public check refuses it."""
    dealer = honest.dealers[1]
    other = kg.Dealer(1, N_PARTIES, THRESHOLD, SEED, honest.box_public_keys)
    images = other.dealing.images.copy()
    images[:, 0] = dealer.dealing.images[:, 0]
    with pytest.raises(errors.InconsistentDealingError) as caught:
        _check(dataclasses.replace(other.dealing, images=images).to_bytes(), 1)
    assert caught.value.dealer == 1


# ------------------------------------------------------------------ malformed bytes


def _residue_offset() -> int:
    """Where the image residues start in a dealing."""
    return _PREAMBLE.size + dl._DEALING_FIELDS.size


@pytest.mark.parametrize(
    "mangle, error",
    [
        (lambda blob: blob[:-1], errors.MalformedDealingError),
        (lambda blob: blob + b"\0", errors.MalformedDealingError),
        (lambda blob: b"XXXX" + blob[4:], errors.MalformedDealingError),
        (lambda blob: blob[:100], errors.MalformedDealingError),
        (lambda blob: b"", errors.MalformedDealingError),
        (lambda blob: blob[:5] + bytes(32) + blob[37:], errors.ForeignDealingError),
        (lambda blob: blob[:37] + bytes(32) + blob[69:], errors.ForeignDealingError),
        (lambda blob: _with_field(blob, 69, 3), errors.ForeignDealingError),
        (lambda blob: _with_field(blob, 71, 5), errors.ForeignDealingError),
        (lambda blob: _with_field(blob, 73, 2), errors.ForeignDealingError),
        (
            lambda blob: blob[: _residue_offset()]
            + struct.pack("<Q", 2**64 - 1)
            + blob[_residue_offset() + 8 :],
            errors.MalformedDealingError,
        ),
    ],
)
def test_malformed_dealings_are_refused_naming_the_dealer(
    honest: Round, mangle, error
) -> None:
    """Truncated, padded, foreign (parameters, seed, dealer, roster) or out-of-range dealings."""
    with pytest.raises(error) as caught:
        _check(mangle(honest.blob(2)), 2)
    assert caught.value.dealer == 2


def _with_field(data: bytes, offset: int, value: int) -> bytes:
    """Overwrite a u16 field."""
    return data[:offset] + struct.pack("<H", value) + data[offset + 2 :]


def test_non_bytes_dealing_is_refused(honest: Round) -> None:
    """Anything but bytes is malformed, blamed on the dealer who sent it."""
    with pytest.raises(errors.MalformedDealingError):
        dl.check_dealing(
            "text", dl.dealing_commitment(b"", SEED, 1), 1, N_PARTIES, THRESHOLD, SEED
        )


@pytest.mark.parametrize(
    "mangle",
    [
        lambda point: point[:-1],
        lambda point: point + b"\0",
        lambda point: _with_field(point, 69, 2),
        lambda point: _with_field(point, 71, 4),
        lambda point: point[:37] + bytes(32) + point[69:],
    ],
)
def test_malformed_justifications_blame_the_dealer(honest: Round, mangle) -> None:
    """A justification that is truncated, padded or for another dealer/recipient/run is refused."""
    dealing = _check(honest.blob(1), 1)
    with pytest.raises(errors.BadJustificationError) as caught:
        dl.check_justification(
            mangle(honest.dealers[1].justification(3)), dealing, 3, SEED
        )
    assert caught.value.dealer == 1


def test_malformed_box_payload_blames_the_dealer(honest: Round) -> None:
    """A box that opens but holds garbage is a complaint against the dealer."""
    dealing = honest.dealers[4].dealing
    size = len(dealing.boxes[1]) - dl._SEALED_BOX_OVERHEAD
    boxes = list(dealing.boxes)
    boxes[1] = bytes(SealedBox(honest.box_keys[2].public_key).encrypt(b"x" * size))
    checked = _check(dataclasses.replace(dealing, boxes=tuple(boxes)).to_bytes(), 4)
    with pytest.raises(errors.BadSubShareError) as caught:
        dl.open_sub_share(checked, 2, honest.box_keys[2], SEED)
    assert caught.value.dealer == 4


# ------------------------------------------------------------------ key shares


def test_key_share_round_trips_and_refuses_malformed_bytes() -> None:
    """KeyShare bytes parse back exactly; truncation, padding and a bad QUAL are refused."""
    share = _simulated(4, 3).key_shares[2]
    data = share.to_bytes()
    parsed = kg.KeyShare.from_bytes(data, SMALL_PARAMETERS)
    assert parsed.epoch == share.epoch and parsed.qualified == share.qualified
    assert np.array_equal(parsed.shamir_share, share.shamir_share)
    assert np.array_equal(parsed.additive_secret, share.additive_secret)
    for bad in (data[:-1], data + b"\0", _with_field(data, 77, 9)):
        with pytest.raises(errors.MalformedDataError):
            kg.KeyShare.from_bytes(bad, SMALL_PARAMETERS)
    with pytest.raises(errors.ParameterMismatchError):
        kg.KeyShare.from_bytes(data, PARAMETERS)


def test_finalize_needs_exactly_the_qualified_points(honest: Round) -> None:
    """A key share needs the points of exactly QUAL and a joint key of this key generation."""
    dealings = {i: _check(honest.blob(i), i) for i in honest.dealers}
    public_key = kg.joint_public_key(dealings, (1, 2, 3), SEED)
    points = {
        d: dl.open_sub_share(dealings[d], 1, honest.box_keys[1], SEED) for d in (1, 2)
    }
    with pytest.raises(errors.InvalidInputError):
        honest.dealers[1].finalize(public_key, points)
    foreign = dataclasses.replace(public_key, seed=b"another seed")
    with pytest.raises(errors.ForeignDataError):
        honest.dealers[1].finalize(foreign, points)


def test_epoch_public_key_refuses_malformed_bytes(honest: Round) -> None:
    """Truncated or padded joint keys and keys with a bad QUAL are refused."""
    dealings = {i: _check(honest.blob(i), i) for i in (1, 2, 3)}
    data = kg.joint_public_key(dealings, (1, 2, 3), SEED).to_bytes()
    offset = 37 + 8 + len(SEED)
    for bad in (
        data[:-1],
        data + b"\0",
        data[:offset] + struct.pack("<H", 9) + data[offset + 2 :],
    ):
        with pytest.raises(errors.MalformedDataError):
            dl.EpochPublicKey.from_bytes(bad)


@settings(max_examples=12, deadline=None)
@given(position=st.floats(0, 1, exclude_max=True), flip=st.integers(1, 255))
@example(position=0.0, flip=1)  # magic
@example(position=2e-5, flip=1)  # parameters digest / seed digest
@example(position=0.9999, flip=0x80)  # the last box
def test_any_flipped_byte_is_caught_and_blamed_on_the_dealer(
    honest: Round, position: float, flip: int
) -> None:
    """One changed byte anywhere: the public check (header, images) or the box's recipient
    (boxes) refuses it, always naming the dealer; nothing else escapes."""
    blob = bytearray(honest.blob(2))
    offset = int(position * len(blob))
    blob[offset] ^= flip
    boxes_start = len(blob) - sum(len(box) for box in honest.dealers[2].dealing.boxes)
    if offset < boxes_start:
        with pytest.raises(errors.BadDealingError) as caught:
            _check(bytes(blob), 2)
        assert caught.value.dealer == 2
        return
    dealing = _check(bytes(blob), 2)
    recipient = 1 + (offset - boxes_start) // len(dealing.boxes[0])
    with pytest.raises(errors.BadSubShareError) as caught:
        dl.open_sub_share(dealing, recipient, honest.box_keys[recipient], SEED)
    assert caught.value.dealer == 2


def test_dealer_state_survives_a_restart(honest: Round) -> None:
    """A dealer restored from its bytes reveals the committed blob, justifies and finalizes alike."""
    dealer = honest.dealers[2]
    data = dealer.to_bytes()
    restored = kg.Dealer.from_bytes(data)
    assert restored.dealing.to_bytes() == honest.blob(2)
    assert restored.justification(3) == dealer.justification(3)
    assert np.array_equal(restored.additive_secret, dealer.additive_secret)
    for bad in (data[:-1], data + b"\0", b"TCDR" + data[4:40]):
        with pytest.raises(errors.MalformedDataError):
            kg.Dealer.from_bytes(bad)


def test_checks_refuse_a_seed_other_than_the_dealings(honest: Round) -> None:
    """A caller mixing key generations gets an input error, which blames no dealer."""
    dealing = _check(honest.blob(1), 1)
    with pytest.raises(errors.InvalidInputError):
        dl.open_sub_share(dealing, 2, honest.box_keys[2], b"another seed")
    with pytest.raises(errors.InvalidInputError):
        dl.check_justification(honest.dealers[1].justification(2), dealing, 2, b"x")
