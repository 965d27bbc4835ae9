"""Tests for threshold CKKS decryption: shares of s_U * a_r, sealing, robust combine, and attacks 2, 3, 5, 7."""

import itertools
from typing import Dict, List, Sequence, Tuple

import numpy as np
import pytest
from nacl.public import PrivateKey

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks import (
    aggregation,
    combine,
    decryption,
    encryption,
    errors,
    issuance,
    sealing,
    simulation,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encoding import (
    embed_inverse,
    integers_to_residues,
    residues_to_floats,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    DEFAULT_PARAMETERS,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.ring import (
    _add_mod,
    _column,
    _mul_mod_once,
    _neg_mod,
    _uniform_residues,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.seal_bridge import (
    _runtime,
)

N_PARTIES, THRESHOLD = 4, 3
LENGTH = 5000
BASE_MODEL = bytes(range(32))
WEIGHTS = {1: 5, 2: 7, 3: 11, 4: 13}
RUNTIME = _runtime(DEFAULT_PARAMETERS)
MODULI = RUNTIME.data_moduli
COLUMN = _column(MODULI)
Sealed = List[Tuple[int, bytes]]


@pytest.fixture(scope="module")
def keys() -> simulation.SimulatedKeys:
    """One honest 3-of-4 key generation for the module."""
    return simulation.simulate_key_generation(N_PARTIES, THRESHOLD, b"decryption tests")


class Period:
    """One aggregation period run honestly by the key holders in `contributors` (test driver)."""

    def __init__(self, keys, contributors: Sequence[int], period: int = 1) -> None:
        """Encrypt every contributor's update and aggregate them."""
        self.keys = keys
        self.context = encryption.PeriodContext(
            DEFAULT_PARAMETERS, keys.public_key.digest, 5, period, BASE_MODEL, LENGTH
        )
        generator = np.random.default_rng(period)
        self.updates = {
            i: generator.normal(0, 0.1, LENGTH).astype(np.float32) for i in contributors
        }
        self.records = {i: issuance.IssuanceRecord() for i in range(1, N_PARTIES + 1)}
        self.blobs = {
            i: encryption.encrypt_update(
                update, WEIGHTS[i], keys.key_shares[i], self.context, self.records[i]
            )
            for i, update in self.updates.items()
        }

    def aggregate(self, blobs: Dict[int, bytes] = None) -> aggregation.Aggregate:
        """The aggregate of the (possibly replaced) revealed blobs, all committed."""
        blobs = blobs or self.blobs
        commitments = {
            i: encryption.contribution_commitment(self.context, i, blob)
            for i, blob in blobs.items()
        }
        outcome = aggregation.aggregate_contributions(
            self.context, commitments, blobs, range(1, N_PARTIES + 1), N_PARTIES, THRESHOLD
        )
        assert outcome.excluded == {}
        return outcome.aggregate

    @property
    def expected(self) -> np.ndarray:
        """The weighted average numpy computes."""
        total = sum(WEIGHTS[i] * u.astype(np.float64) for i, u in self.updates.items())
        return total / sum(WEIGHTS[i] for i in self.updates)

    def shares(self, holders: Sequence[int] = range(1, N_PARTIES + 1)) -> Sealed:
        """Sealed shares of the given key holders for this period's U."""
        return [
            (
                j,
                decryption.issue_decryption_share(
                    self.keys.key_shares[j],
                    self.context,
                    sorted(self.updates),
                    self.records[j],
                    self.keys.box_public_keys,
                ),
            )
            for j in holders
        ]

    def combine(self, aggregate, sealed: Sealed, recipient: int = 1):
        """Combine as key holder `recipient`."""
        return decryption.combine_decryption_shares(
            aggregate, sealed, recipient, self.keys.box_keys[recipient], N_PARTIES, THRESHOLD
        )


def _floats(ntt_residues: np.ndarray) -> np.ndarray:
    """Centered coefficients of NTT-form residues."""
    return residues_to_floats(RUNTIME.from_ntt(ntt_residues), MODULI)


def _encoded(values: np.ndarray) -> np.ndarray:
    """Encode(values) without noise, NTT form (test-side crafting)."""
    slots = np.zeros(2 * DEFAULT_PARAMETERS.slot_count)
    slots[: values.size] = values
    coefficients = np.round(
        embed_inverse(slots.reshape(2, -1), DEFAULT_PARAMETERS.poly_modulus_degree)
        * DEFAULT_PARAMETERS.scale
    )
    return RUNTIME.to_ntt(integers_to_residues(coefficients, MODULI))


def _replace(period: Period, sender: int, residues: np.ndarray, weight: int = None) -> Dict[int, bytes]:
    """Blobs where `sender` revealed a contribution of its own choosing (test-only misbehaviour)."""
    crafted = encryption.Contribution(
        period.context, sender, weight or WEIGHTS[sender], residues
    ).to_bytes()
    return {**period.blobs, sender: crafted}


def _contribution(period: Period, sender: int) -> np.ndarray:
    """The residues of an honest contribution."""
    return encryption.Contribution.from_bytes(period.blobs[sender], DEFAULT_PARAMETERS).residues


# ------------------------------------------------------------------ correctness


@pytest.mark.parametrize("contributors", [(1, 2, 3), (1, 2, 4), (2, 3, 4), (1, 2, 3, 4)])
def test_weighted_average_from_every_t_subset(keys, contributors) -> None:
    """Every t-subset of shares, opened by any key holder, gives numpy's weighted average."""
    period = Period(keys, contributors)
    aggregate = period.aggregate()
    sealed = period.shares()
    for subset in itertools.combinations(range(1, N_PARTIES + 1), THRESHOLD):
        chosen = [entry for entry in sealed if entry[0] in subset]
        result = period.combine(aggregate, chosen, recipient=5 - subset[0])
        assert np.abs(result.values - period.expected).max() < 1e-6
        assert (result.subset, result.redundant, result.inconsistent) == (subset, False, ())
    result = period.combine(aggregate, sealed)
    assert np.abs(result.values - period.expected).max() < 1e-6
    assert result.redundant and result.inconsistent == () and result.excluded == {}


def test_seven_parties_name_a_garbage_share(keys) -> None:
    """n = 7, t = 5: all shares decrypt; a garbage share is named and the rest still decrypt."""
    seven = simulation.simulate_key_generation(7, 5, b"seven")
    context = encryption.PeriodContext(
        DEFAULT_PARAMETERS, seven.public_key.digest, 1, 1, BASE_MODEL, 300
    )
    updates = {i: np.linspace(-1, 1, 300) * i for i in range(1, 8)}
    blobs = {
        i: encryption.encrypt_update(u, i, seven.key_shares[i], context, issuance.IssuanceRecord())
        for i, u in updates.items()
    }
    commitments = {i: encryption.contribution_commitment(context, i, b) for i, b in blobs.items()}
    aggregate = aggregation.aggregate_contributions(
        context, commitments, blobs, range(1, 8), 7, 5
    ).aggregate
    sealed = [
        (j, decryption.issue_decryption_share(
            seven.key_shares[j], context, range(1, 8), issuance.IssuanceRecord(), seven.box_public_keys
        ))
        for j in range(1, 8)
    ]
    expected = sum(i * u for i, u in updates.items()) / 28
    result = decryption.combine_decryption_shares(aggregate, sealed, 3, seven.box_keys[3], 7, 5)
    assert np.abs(result.values - expected).max() < 1e-6 and result.inconsistent == ()
    garbage = _garbage_share(context, tuple(range(1, 8)), 6, seven.box_public_keys, 1)
    result = decryption.combine_decryption_shares(
        aggregate, sealed[:5] + [(6, garbage), sealed[6]], 3, seven.box_keys[3], 7, 5
    )
    assert np.abs(result.values - expected).max() < 1e-6 and result.inconsistent == (6,)


# ------------------------------------------------------------------ attack 2: crafted ciphertexts


def _summed_sub_shares(keys, holder: int, contributors: Sequence[int]) -> np.ndarray:
    """ORACLE: sum of the sub-shares U's dealers gave `holder`."""
    shares = keys.key_shares[holder].sub_shares
    total = shares[contributors[0]]
    for dealer in contributors[1:]:
        total = _add_mod(total, shares[dealer], COLUMN)
    return total


def test_attack2_shares_ignore_the_submitted_ciphertexts(keys) -> None:
    """A share is (sum of U's sub-shares) * a_r plus flooding whatever was submitted: a contribution
    of the constant 2^100 (issue 10's key-recovery c1) leaves every share flood-sized around it, and
    the combination refuses the implausible result instead of revealing anything."""
    period = Period(keys, (1, 2, 3, 4))
    crafted = np.zeros_like(_contribution(period, 4))
    crafted[..., 0] = [[2**100 % int(q) for q in MODULI]]
    crafted = RUNTIME.to_ntt(crafted.reshape(-1, *crafted.shape[1:]))
    aggregate = period.aggregate(_replace(period, 4, crafted))
    sealed = period.shares()
    bound = combine.TAIL_SIGMAS * decryption.flooding_sigma(DEFAULT_PARAMETERS, 4)
    masks = period.context.common_polynomials()
    for holder, blob in sealed:
        share = decryption.open_decryption_share(blob, 2, keys.box_keys[2], DEFAULT_PARAMETERS)
        expected = _mul_mod_once(masks, _summed_sub_shares(keys, holder, (1, 2, 3, 4)), COLUMN)
        flood = _floats(_add_mod(share.residues, _neg_mod(expected, COLUMN), COLUMN))
        assert 0 < np.abs(flood).max() <= bound
    with pytest.raises(errors.InconsistentSharesError, match="plausible"):
        period.combine(aggregate, sealed)


def test_attack2_a_crafted_contribution_only_shifts_the_result(keys) -> None:
    """Adding Encode(delta) to one's contribution moves the average by delta / W, nothing else."""
    period = Period(keys, (1, 2, 3, 4))
    delta = np.full(LENGTH, 3.0)
    shifted = _add_mod(_contribution(period, 4), _encoded(delta), COLUMN)
    aggregate = period.aggregate(_replace(period, 4, shifted))
    result = period.combine(aggregate, period.shares())
    assert np.abs(result.values - (period.expected + 3.0 / 36)).max() < 1e-6


# ------------------------------------------------------------------ attack 3: isolation


def _garbage_decode(period: Period, aggregate, sealed) -> np.ndarray:
    """ORACLE: decode a combination without the plausibility refusal (what a combiner would see)."""
    shares = {
        j: decryption.open_decryption_share(blob, 1, period.keys.box_keys[1], DEFAULT_PARAMETERS)
        for j, blob in sealed
    }
    sigma = decryption.flooding_sigma(DEFAULT_PARAMETERS, len(aggregate.contributors))
    residues = {j: share.residues for j, share in shares.items()}
    values, plausible = combine.Combiner(aggregate, residues, sigma).decode((1, 2, 3))
    assert not plausible
    return values


@pytest.mark.parametrize("attack", ["cancel-others", "copy-victim"])
def test_attack3_an_isolating_contribution_leaves_the_result_masked(keys, attack) -> None:
    """Party 4 reads c2, c3 and reveals -(c2 + c3), or copies c1: the aggregate is c1 alone (or 2 c1 +
    c2 + c3), but it decrypts with s_U a_r for U = {1..4}, so the masks of 2, 3, 4 stay: garbage,
    refused, and nothing like the victim's update."""
    period = Period(keys, (1, 2, 3, 4))
    if attack == "cancel-others":
        others = _add_mod(_contribution(period, 2), _contribution(period, 3), COLUMN)
        crafted = _replace(period, 4, _neg_mod(others, COLUMN), weight=1)
    else:
        crafted = _replace(period, 4, _contribution(period, 1))
    aggregate = period.aggregate(crafted)
    sealed = period.shares()
    with pytest.raises(errors.InconsistentSharesError, match="plausible"):
        period.combine(aggregate, sealed)
    values = _garbage_decode(period, aggregate, sealed) * aggregate.total_weight
    victim = WEIGHTS[1] * period.updates[1].astype(np.float64)
    assert np.abs(values).max() > 1e6  # uniform mod q, not an update of size ~1
    assert abs(np.corrcoef(values, victim)[0, 1]) < 0.1


# ------------------------------------------------------------------ attack 5: bad shares


def _garbage_share(context, contributors, sender, box_public_keys, seed) -> bytes:
    """A well-formed, correctly sealed share with uniform residues (test-only misbehaviour)."""
    generator = np.random.default_rng(seed)
    residues = np.stack(
        [
            _uniform_residues(MODULI, DEFAULT_PARAMETERS.poly_modulus_degree, generator.bytes)
            for _ in range(context.chunk_count)
        ]
    )
    share = decryption.DecryptionShare(context, tuple(contributors), sender, residues)
    return sealing.seal_to_key_holders(share.to_bytes(), sender, box_public_keys, DEFAULT_PARAMETERS)


def _shifted_share(period: Period, blob: bytes, sender: int) -> bytes:
    """The sender's real share plus a small plausible shift (test-only misbehaviour)."""
    share = decryption.open_decryption_share(blob, sender, period.keys.box_keys[sender], DEFAULT_PARAMETERS)
    shifted = _add_mod(share.residues, _encoded(np.full(LENGTH, 0.5)), COLUMN)
    forged = decryption.DecryptionShare(share.context, share.contributors, sender, shifted)
    return sealing.seal_to_key_holders(forged.to_bytes(), sender, period.keys.box_public_keys, DEFAULT_PARAMETERS)


def test_attack5_bad_shares_are_excluded_or_named(keys) -> None:
    """Malformed, foreign and duplicate shares exclude their sender; a wrong but well-formed share is
    named; the honest result still comes from the other shares."""
    period = Period(keys, (1, 2, 3, 4))
    aggregate = period.aggregate()
    sealed = dict(period.shares())
    other_period = Period(keys, (1, 2, 3, 4), period=2)
    other_contributors = Period(keys, (1, 2, 3), period=1)
    cases = {
        "unreadable": sealed[4][:-5],
        "malformed": sealing.seal_to_key_holders(b"TCDH", 4, keys.box_public_keys, DEFAULT_PARAMETERS),
        "foreign-period": dict(other_period.shares([4]))[4],
        "foreign-contributors": dict(other_contributors.shares([4]))[4],
        "wrong-sender": sealed[3],
    }
    for reason, bad in cases.items():
        result = period.combine(aggregate, [(1, sealed[1]), (2, sealed[2]), (3, sealed[3]), (4, bad)])
        assert {k: v.value for k, v in result.excluded.items()} == {4: reason}, reason
        assert np.abs(result.values - period.expected).max() < 1e-6
        assert not result.redundant and result.inconsistent == ()
    result = period.combine(aggregate, list(sealed.items()) + [(4, sealed[4]), (9, sealed[1])])
    assert {k: v.value for k, v in result.excluded.items()} == {4: "duplicate", 9: "not-a-key-holder"}
    garbage = _garbage_share(period.context, (1, 2, 3, 4), 2, keys.box_public_keys, 7)
    result = period.combine(aggregate, [(1, sealed[1]), (2, garbage), (3, sealed[3]), (4, sealed[4])])
    assert result.inconsistent == (2,) and result.redundant and result.excluded == {}
    assert np.abs(result.values - period.expected).max() < 1e-6
    assert 2 not in result.subset


def test_attack5_a_plausible_wrong_share_is_detected_never_averaged_in(keys) -> None:
    """A share shifted by a plausible amount: with 4 shares the disagreement is detected and raised
    (one faulty share among t + 1 cannot be corrected); with exactly t shares nothing can detect
    it, and the result says so (redundant=False)."""
    period = Period(keys, (1, 2, 3, 4))
    aggregate = period.aggregate()
    sealed = dict(period.shares())
    forged = _shifted_share(period, sealed[4], 4)
    with pytest.raises(errors.InconsistentSharesError) as raised:
        period.combine(aggregate, [(1, sealed[1]), (2, sealed[2]), (3, sealed[3]), (4, forged)])
    assert 4 in raised.value.suspects
    result = period.combine(aggregate, [(1, sealed[1]), (2, sealed[2]), (4, forged)])
    assert result.redundant is False


def test_a_sender_showing_recipients_different_keys_is_unreadable(keys) -> None:
    """The key commitment binds all recipients to one message key (no equivocation)."""
    period = Period(keys, (1, 2, 3, 4))
    sealed = dict(period.shares())
    header = 37 + 2
    tampered = sealed[4][:header] + bytes(32) + sealed[4][header + 32:]
    result = period.combine(period.aggregate(), [(1, sealed[1]), (2, sealed[2]), (3, sealed[3]), (4, tampered)])
    assert result.excluded == {4: decryption.ShareExclusion.UNREADABLE}


def test_too_few_usable_shares_are_refused(keys) -> None:
    """Fewer than t usable shares: InsufficientSharesError naming the exclusions."""
    period = Period(keys, (1, 2, 3, 4))
    sealed = period.shares([1, 2])
    with pytest.raises(errors.InsufficientSharesError, match="2 usable"):
        period.combine(period.aggregate(), sealed + [(3, b"junk")])


# ------------------------------------------------------------------ attack 7: outsiders


def test_attack7_an_observer_of_every_blob_cannot_decrypt(keys) -> None:
    """Contributions, aggregate and sealed shares are all public; without a key holder's box key
    no share opens, and the aggregate alone is uniform garbage."""
    period = Period(keys, (1, 2, 3, 4))
    aggregate = period.aggregate()
    sealed = period.shares()
    observer = PrivateKey.generate()
    for _, blob in sealed:
        with pytest.raises(errors.ForeignShareError):
            decryption.open_decryption_share(blob, 5, observer, DEFAULT_PARAMETERS)
        with pytest.raises(errors.MalformedDataError):
            decryption.open_decryption_share(blob, 1, observer, DEFAULT_PARAMETERS)
    with pytest.raises(errors.InsufficientSharesError):
        decryption.combine_decryption_shares(aggregate, sealed, 1, observer, N_PARTIES, THRESHOLD)
    assert np.abs(_floats(aggregate.residues)).max() > 2.0**100


# ------------------------------------------------------------------ issuance and inputs


def test_one_share_per_period_ever(keys) -> None:
    """A retry for the same U replays the same bytes; another U on the same a_r is refused, also
    after the record went through bytes (a restart)."""
    period = Period(keys, (1, 2, 3, 4))
    record = issuance.IssuanceRecord()
    issue = decryption.issue_decryption_share
    share = keys.key_shares[1]
    first = issue(share, period.context, (1, 2, 3, 4), record, keys.box_public_keys)
    restored = issuance.IssuanceRecord.from_bytes(record.to_bytes())
    for kept in (record, restored):
        assert issue(share, period.context, (4, 3, 2, 1), kept, keys.box_public_keys) == first
        with pytest.raises(errors.AlreadyIssuedError):
            issue(share, period.context, (1, 2, 3), kept, keys.box_public_keys)


@pytest.mark.parametrize(
    "contributors, error",
    [((1, 2), errors.InvalidInputError), ((1, 1, 2), errors.InvalidInputError), ((1, 2, 9), errors.InvalidInputError)],
)
def test_share_requests_for_bad_contributor_sets_are_refused(keys, contributors, error) -> None:
    """U must be distinct key holders, at least f + 2 of them (never one honest update alone)."""
    period = Period(keys, (1, 2, 3))
    record = issuance.IssuanceRecord()
    with pytest.raises(error):
        decryption.issue_decryption_share(
            keys.key_shares[1], period.context, contributors, record, keys.box_public_keys
        )
    assert record.to_bytes() == issuance.IssuanceRecord().to_bytes()


def test_share_requests_with_bad_box_keys_or_foreign_key_shares_are_refused(keys) -> None:
    """A malformed box key or a key share of another epoch is refused."""
    period = Period(keys, (1, 2, 3))
    with pytest.raises(errors.InvalidInputError, match="box key"):
        decryption.issue_decryption_share(
            keys.key_shares[1], period.context, (1, 2, 3), issuance.IssuanceRecord(), {1: b"short"}
        )
    foreign = encryption.PeriodContext(DEFAULT_PARAMETERS, bytes(32), 5, 1, BASE_MODEL, LENGTH)
    with pytest.raises(errors.ForeignDataError):
        decryption.issue_decryption_share(
            keys.key_shares[1], foreign, (1, 2, 3), issuance.IssuanceRecord(), keys.box_public_keys
        )


def test_decryption_share_parses_strictly(keys) -> None:
    """Truncated, trailing, out-of-range residues and bad contributor sets are malformed."""
    period = Period(keys, (1, 2, 3))
    blob = dict(period.shares([1]))[1]
    data = decryption.open_decryption_share(blob, 1, keys.box_keys[1], DEFAULT_PARAMETERS).to_bytes()
    offset = 37 + 88 + 4  # preamble, context, sender and count
    for bad in (
        data[:-1],
        data + b"\x00",
        data[:-8] + b"\xff" * 8,
        data[: offset - 2] + b"\x00\x00" + data[offset:],
        data[:offset] + b"\x02\x00" + data[offset + 2 :],
    ):
        with pytest.raises(errors.MalformedDataError):
            decryption.DecryptionShare.from_bytes(bad, DEFAULT_PARAMETERS)
    for bad in (b"", blob[:50], blob + b"\x00" * 3):
        with pytest.raises(errors.ThresholdCkksError):
            decryption.open_decryption_share(bad, 1, keys.box_keys[1], DEFAULT_PARAMETERS)
