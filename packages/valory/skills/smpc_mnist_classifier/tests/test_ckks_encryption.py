"""Tests for threshold CKKS encryption (secret-key aggregation) and aggregation of contributions."""

import struct
from typing import Dict

import tenseal.sealapi as seal

import numpy as np
import pytest

from packages.valory.skills.smpc_mnist_classifier.threshold_ckks import (
    aggregation,
    encryption,
    errors,
    issuance,
    simulation,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.encoding import (
    embed,
    embed_inverse,
    integers_to_residues,
    residues_to_floats,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.parameters import (
    DEFAULT_PARAMETERS,
    CkksParameters,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.ring import (
    _add_mod,
    _column,
    _mul_mod_once,
)
from packages.valory.skills.smpc_mnist_classifier.threshold_ckks.seal_bridge import (
    _coefficients,
    _runtime,
)

N_PARTIES, THRESHOLD = 4, 3
LENGTH = 5000  # two chunks, the second partly padding
BASE_MODEL = bytes(range(32))
Exclusion = aggregation.Exclusion


@pytest.fixture(scope="module")
def keys() -> simulation.SimulatedKeys:
    """One honest 3-of-4 key generation for the module."""
    return simulation.simulate_key_generation(N_PARTIES, THRESHOLD, b"encryption tests")


def _context(keys: simulation.SimulatedKeys, **changes: object) -> encryption.PeriodContext:
    """Period 7 of global round 3 unless changed."""
    fields = dict(
        parameters=DEFAULT_PARAMETERS,
        epoch=keys.public_key.digest,
        global_round=3,
        period=7,
        base_model_digest=BASE_MODEL,
        length=LENGTH,
    )
    fields.update(changes)
    return encryption.PeriodContext(**fields)


def _updates(seed: int = 0) -> Dict[int, np.ndarray]:
    """One update per key holder."""
    generator = np.random.default_rng(seed)
    return {
        index: generator.normal(0, 0.1, LENGTH).astype(np.float32)
        for index in range(1, N_PARTIES + 1)
    }


def _encrypt_all(keys, context, updates, weights=None) -> Dict[int, bytes]:
    """Every key holder's contribution, each with a fresh issuance record."""
    return {
        index: encryption.encrypt_update(
            update,
            (weights or {}).get(index, 1),
            keys.key_shares[index],
            context,
            issuance.IssuanceRecord(),
        )
        for index, update in updates.items()
    }


def _unmasked(keys, context, blob: bytes) -> np.ndarray:
    """ORACLE (the sender's own secret): c + s_i * a_r decoded, i.e. w * m."""
    contribution = encryption.Contribution.from_bytes(blob, DEFAULT_PARAMETERS)
    runtime = _runtime(DEFAULT_PARAMETERS)
    column = _column(runtime.data_moduli)
    secret = keys.key_shares[contribution.sender].additive_secret
    masks = _mul_mod_once(context.common_polynomials(), secret, column)
    plain = runtime.from_ntt(_add_mod(contribution.residues, masks, column))
    floats = residues_to_floats(plain, runtime.data_moduli) / DEFAULT_PARAMETERS.scale
    return embed(floats).real.reshape(-1)[:LENGTH]


def test_numpy_encoding_and_seal_decode_each_other() -> None:
    """SEAL's decoder reads what encoding.py encodes, and encoding.py reads what SEAL encodes."""
    runtime = _runtime(DEFAULT_PARAMETERS)
    degree, scale = DEFAULT_PARAMETERS.poly_modulus_degree, DEFAULT_PARAMETERS.scale
    values = np.random.default_rng(1).normal(0, 3, (1, degree // 2))
    coefficients = np.round(embed_inverse(values, degree) * scale)
    ntt = runtime.to_ntt(integers_to_residues(coefficients, runtime.data_moduli))
    decoded = runtime.encoder.decode_complex(runtime.load_plaintext(ntt[0], scale))
    assert np.abs(np.asarray(decoded) - values[0]).max() < 1e-9
    plaintext = seal.Plaintext()
    runtime.encoder.encode(values[0], scale, plaintext)
    seal_words = _coefficients(plaintext, 2 * degree).reshape(1, 2, degree)
    floats = residues_to_floats(runtime.from_ntt(seal_words), runtime.data_moduli)
    assert np.abs(embed(floats / scale) - values).max() < 1e-9


def test_integer_residue_conversions_are_exact() -> None:
    """Float integers of any size convert to residues exactly, and residues back to centered floats."""
    moduli = _runtime(DEFAULT_PARAMETERS).data_moduli
    values = np.zeros((1, DEFAULT_PARAMETERS.poly_modulus_degree))
    samples = [0.0, 1.0, -1.0, 2.0**61, -(2.0**62), 3.0 * 2**70, -(2.0**100) + 2**60, 2.0**116]
    values[0, : len(samples)] = samples
    residues = integers_to_residues(values, moduli)
    for position, sample in enumerate(samples):
        for prime, modulus in enumerate(moduli):
            assert int(residues[0, prime, position]) == int(sample) % int(modulus)
    assert np.array_equal(residues_to_floats(residues, moduli)[0, : len(samples)], samples)


def test_common_polynomials_follow_the_agreed_data_only(keys) -> None:
    """a_r,k is the same for everyone in the period and changes with each piece of agreed data."""
    context = _context(keys)
    polys = context.common_polynomials()
    assert polys.shape == (2, 2, DEFAULT_PARAMETERS.poly_modulus_degree)
    assert np.array_equal(polys, _context(keys).common_polynomials())
    assert not np.array_equal(polys[0], polys[1])
    assert (polys < _column(_runtime(DEFAULT_PARAMETERS).data_moduli)).all()
    for change in (
        {"global_round": 4},
        {"period": 8},
        {"base_model_digest": bytes(32)},
        {"epoch": bytes(32)},
    ):
        assert not np.array_equal(polys[0], _context(keys, **change).common_polynomials()[0])


def test_contribution_is_the_masked_weighted_update(keys) -> None:
    """c = Encode(w m) + e - s_i a_r: only the sender's secret removes the mask."""
    context = _context(keys)
    update = _updates()[2]
    blob = encryption.encrypt_update(
        update, 37, keys.key_shares[2], context, issuance.IssuanceRecord()
    )
    assert np.abs(_unmasked(keys, context, blob) - 37 * update.astype(np.float64)).max() < 1e-9
    contribution = encryption.Contribution.from_bytes(blob, DEFAULT_PARAMETERS)
    assert (contribution.sender, contribution.weight) == (2, 37)
    assert contribution.context == context
    runtime = _runtime(DEFAULT_PARAMETERS)
    masked = residues_to_floats(
        runtime.from_ntt(contribution.residues), runtime.data_moduli
    )
    assert np.abs(masked).max() > 2.0**100  # uniform-looking without the mask


def test_contribution_bytes_are_compact(keys) -> None:
    """One polynomial per chunk plus a small header: 1.0x the raw residues."""
    blob = _encrypt_all(keys, _context(keys), {1: _updates()[1]})[1]
    raw = 2 * 2 * DEFAULT_PARAMETERS.poly_modulus_degree * 8
    assert raw < len(blob) < raw + 200


@pytest.mark.parametrize(
    "update, weight, error",
    [
        (np.full(LENGTH, np.nan), 1, "NaN"),
        (np.full(LENGTH, np.inf), 1, "NaN or infinity"),
        (np.zeros(LENGTH + 1), 1, "shape"),
        (np.zeros((2, LENGTH)), 1, "shape"),
        (np.full(LENGTH, 2.0**17), 1, "exceeds"),
        (np.zeros(LENGTH), 0, "weight"),
        (np.zeros(LENGTH), True, "weight"),
        (np.zeros(LENGTH), 1.5, "weight"),
        (np.zeros(LENGTH), 2**21, "weight"),
        (
            np.zeros(LENGTH),
            encryption.sender_weight_limit(DEFAULT_PARAMETERS, N_PARTIES, THRESHOLD) + 1,
            "weight",
        ),
    ],
)
def test_encrypt_refuses_bad_updates(keys, update, weight, error) -> None:
    """Every bad update or weight is refused before anything is recorded."""
    record = issuance.IssuanceRecord()
    with pytest.raises(errors.InvalidInputError, match=error):
        encryption.encrypt_update(update, weight, keys.key_shares[1], _context(keys), record)
    assert record.to_bytes() == issuance.IssuanceRecord().to_bytes()


def test_encrypt_refuses_a_foreign_key_share(keys) -> None:
    """A key share of another epoch cannot encrypt for this one."""
    with pytest.raises(errors.ForeignDataError, match="key epoch"):
        encryption.encrypt_update(
            np.zeros(LENGTH),
            1,
            keys.key_shares[1],
            _context(keys, epoch=bytes(32)),
            issuance.IssuanceRecord(),
        )


def test_one_encryption_per_period_survives_a_restart(keys) -> None:
    """A retry gets the same bytes; a different update for the same a_r is refused, also after the
    record went through bytes (a restart); the next period is free."""
    context, update = _context(keys), _updates()[1]
    record = issuance.IssuanceRecord()
    first = encryption.encrypt_update(update, 3, keys.key_shares[1], context, record)
    restored = issuance.IssuanceRecord.from_bytes(record.to_bytes())
    for kept in (record, restored):
        assert encryption.encrypt_update(update, 3, keys.key_shares[1], context, kept) == first
        with pytest.raises(errors.AlreadyIssuedError):
            encryption.encrypt_update(update, 4, keys.key_shares[1], context, kept)
        with pytest.raises(errors.AlreadyIssuedError):
            encryption.encrypt_update(update * 2, 3, keys.key_shares[1], context, kept)
    later = _context(keys, period=8)
    assert encryption.encrypt_update(update, 3, keys.key_shares[1], later, restored) != first
    # only the latest bytes are kept; the older period stays refused
    with pytest.raises(errors.AlreadyIssuedError):
        encryption.encrypt_update(update, 3, keys.key_shares[1], context, restored)


@pytest.mark.parametrize(
    "data",
    [b"", b"TCIR", b"TCIR\x02\x00\x00\x00\x00", b"TCIR\x01\x01\x00\x00\x00", b"XXXX\x01\x00\x00\x00\x00"],
)
def test_issuance_record_parses_strictly(data) -> None:
    """Truncated, unknown-version or foreign bytes never load as a record."""
    with pytest.raises(errors.MalformedDataError):
        issuance.IssuanceRecord.from_bytes(data)


def test_issuance_record_refuses_trailing_bytes_and_unknown_kinds(keys) -> None:
    """Trailing bytes and unknown entry kinds are malformed."""
    record = issuance.IssuanceRecord()
    encryption.encrypt_update(np.zeros(LENGTH), 1, keys.key_shares[1], _context(keys), record)
    data = record.to_bytes()
    with pytest.raises(errors.MalformedDataError, match="trailing"):
        issuance.IssuanceRecord.from_bytes(data + b"\x00")
    with pytest.raises(errors.MalformedDataError, match="kind"):
        issuance.IssuanceRecord.from_bytes(data[:9] + b"\x09" + data[10:])


def test_keep_epoch_forgets_other_epochs(keys) -> None:
    """Rotation drops the old epoch's entries (its a_r never recur)."""
    record = issuance.IssuanceRecord()
    context = _context(keys)
    encryption.encrypt_update(np.zeros(LENGTH), 1, keys.key_shares[1], context, record)
    record.keep_epoch(bytes(32))
    assert not record.issued(issuance.IssuanceKind.ENCRYPTION, context)


@pytest.mark.parametrize(
    "change",
    [
        {"epoch": b"short"},
        {"base_model_digest": "not bytes"},
        {"length": 0},
        {"global_round": -1},
        {"period": 2**64},
        {"length": True},
    ],
)
def test_period_context_refuses_bad_fields(keys, change) -> None:
    """Context fields that cannot be serialized are refused."""
    with pytest.raises(errors.InvalidInputError):
        _context(keys, **change)


def _corrupt(blob: bytes, offset: int, value: bytes) -> bytes:
    """blob with `value` written at `offset`."""
    return blob[:offset] + value + blob[offset + len(value):]


def test_contribution_parses_strictly(keys) -> None:
    """Truncation, trailing bytes, foreign parameters, residues >= q, wrong chunk counts and weights."""
    blob = _encrypt_all(keys, _context(keys), {1: _updates()[1]})[1]
    header = 37 + 88  # preamble + context
    parse = encryption.Contribution.from_bytes
    other = CkksParameters(max_abs_value_bits=8)
    with pytest.raises(errors.ParameterMismatchError):
        parse(blob, other)
    cases = [
        blob[:-1],
        blob + b"\x00",
        _corrupt(blob, 0, b"XXXX"),
        _corrupt(blob, len(blob) - 8, struct.pack("<Q", 2**64 - 1)),
        _corrupt(blob, header + 10, struct.pack("<I", 3)),
        _corrupt(blob, header + 2, struct.pack("<Q", 0)),
        _corrupt(blob, header + 2, struct.pack("<Q", 2**40)),
        _corrupt(blob, 37 + 80, struct.pack("<Q", 0)),
        "not bytes",
    ]
    for data in cases:
        with pytest.raises(errors.MalformedDataError):
            parse(data, DEFAULT_PARAMETERS)


def test_commitment_binds_period_sender_and_bytes(keys) -> None:
    """Any change of period, sender or bytes changes the commitment."""
    context = _context(keys)
    commitment = encryption.contribution_commitment(context, 1, b"blob")
    assert commitment == encryption.contribution_commitment(context, 1, b"blob")
    for other in (
        encryption.contribution_commitment(_context(keys, period=8), 1, b"blob"),
        encryption.contribution_commitment(_context(keys, global_round=4), 1, b"blob"),
        encryption.contribution_commitment(context, 2, b"blob"),
        encryption.contribution_commitment(context, 1, b"blob!"),
    ):
        assert other != commitment


# ------------------------------------------------------------------ aggregation


def _committed(context, blobs: Dict[int, bytes]) -> Dict[int, bytes]:
    """The commitments agreed for the blobs."""
    return {i: encryption.contribution_commitment(context, i, b) for i, b in blobs.items()}


def test_aggregate_sums_the_masked_contributions(keys) -> None:
    """C = sum c_i and W = sum w_i over U; its bytes round-trip and name U."""
    context, updates = _context(keys), _updates()
    weights = {1: 5, 2: 7, 3: 11, 4: 13}
    blobs = _encrypt_all(keys, context, updates, weights)
    outcome = aggregation.aggregate_contributions(
        context, _committed(context, blobs), blobs, range(1, 5), N_PARTIES, THRESHOLD
    )
    aggregate = outcome.aggregate
    assert outcome.excluded == {}
    assert aggregate.contributors == (1, 2, 3, 4) and aggregate.total_weight == 36
    parsed = aggregation.Aggregate.from_bytes(aggregate.to_bytes(), DEFAULT_PARAMETERS)
    assert parsed.digest == aggregate.digest
    assert np.array_equal(parsed.residues, aggregate.residues)
    column = _column(_runtime(DEFAULT_PARAMETERS).data_moduli)
    total = encryption.Contribution.from_bytes(blobs[1], DEFAULT_PARAMETERS).residues
    for index in (2, 3, 4):
        part = encryption.Contribution.from_bytes(blobs[index], DEFAULT_PARAMETERS)
        total = _add_mod(total, part.residues, column)
    assert np.array_equal(total, aggregate.residues)


def _reencrypted(keys, context, sender, **changes) -> bytes:
    """A contribution of `sender` made for a changed context (a stale or foreign one)."""
    return encryption.encrypt_update(
        np.zeros(changes.get("length", LENGTH)),
        1,
        keys.key_shares[sender],
        _context(keys, **changes),
        issuance.IssuanceRecord(),
    )


def test_each_bad_sender_is_excluded_with_its_reason(keys) -> None:
    """One reason code per kind of bad contribution; the good ones still form U."""
    context = _context(keys)
    blobs = _encrypt_all(keys, context, _updates())
    commitments = _committed(context, blobs)
    cases = {
        "not-a-key-holder": lambda c, r: (c.update({9: c[1]}), r.update({9: r[1]})),
        "not-committed": lambda c, r: c.pop(2),
        "not-revealed": lambda c, r: r.pop(2),
        "commitment-mismatch": lambda c, r: r.update({2: r[3]}),
        "malformed": lambda c, r: _recommit(context, c, r, 2, r[2][:-3]),
        "foreign-parameters": lambda c, r: _recommit(
            context, c, r, 2, b"TCUC\x01" + bytes(32) + r[2][37:]
        ),
        "foreign-epoch": lambda c, r: _recommit(
            context, c, r, 2, _reencrypted_epoch(keys, r[2])
        ),
        "foreign-period": lambda c, r: _recommit(
            context, c, r, 2, _reencrypted(keys, context, 2, period=6)
        ),
        "stale-base-model": lambda c, r: _recommit(
            context, c, r, 2, _reencrypted(keys, context, 2, base_model_digest=bytes(32))
        ),
        "wrong-sender": lambda c, r: _recommit(context, c, r, 2, r[3]),
        "wrong-length": lambda c, r: _recommit(
            context, c, r, 2, _reencrypted(keys, context, 2, length=LENGTH - 1)
        ),
        "weight-too-large": lambda c, r: _recommit(
            context, c, r, 2, _heavy(keys, context, 2)
        ),
    }
    for reason, spoil in cases.items():
        spoilt_commitments, spoilt_reveals = dict(commitments), dict(blobs)
        spoil(spoilt_commitments, spoilt_reveals)
        outcome = aggregation.aggregate_contributions(
            context, spoilt_commitments, spoilt_reveals, range(1, 5), N_PARTIES, THRESHOLD
        )
        bad = 9 if reason == "not-a-key-holder" else 2
        assert {k: v.value for k, v in outcome.excluded.items()} == {bad: reason}, reason
        expected = (1, 2, 3, 4) if bad == 9 else (1, 3, 4)
        assert outcome.aggregate.contributors == expected, reason


def _recommit(context, commitments, reveals, sender, blob) -> None:
    """`sender` commits to and reveals `blob` (a bad contribution it chose)."""
    reveals[sender] = blob
    commitments[sender] = encryption.contribution_commitment(context, sender, blob)


def _reencrypted_epoch(keys, blob: bytes) -> bytes:
    """The same contribution relabelled with another key epoch."""
    return blob[:37] + bytes(32) + blob[69:]


def _heavy(keys, context, sender) -> bytes:
    """A contribution whose weight exceeds the per-sender limit (test-only misbehaviour: an honest
    encrypt_update refuses such a weight)."""
    limit = encryption.sender_weight_limit(DEFAULT_PARAMETERS, N_PARTIES, THRESHOLD)
    honest = encryption.Contribution.from_bytes(
        _reencrypted(keys, context, sender), DEFAULT_PARAMETERS
    )
    return encryption.Contribution(context, sender, limit + 1, honest.residues).to_bytes()


def test_no_admitted_contribution_gives_no_aggregate(keys) -> None:
    """Nothing committed: no aggregate, and the reasons say why."""
    context = _context(keys)
    outcome = aggregation.aggregate_contributions(
        context, {}, {1: b"x"}, range(1, 5), N_PARTIES, THRESHOLD
    )
    assert outcome.aggregate is None
    assert outcome.excluded == {1: Exclusion.NOT_COMMITTED}


def test_aggregation_refuses_bad_key_holders(keys) -> None:
    """The qualified set must be non-empty indices 1..n."""
    for holders in ([], [0, 1], [5]):
        with pytest.raises(errors.InvalidInputError):
            aggregation.aggregate_contributions(
                _context(keys), {}, {}, holders, N_PARTIES, THRESHOLD
            )


def test_total_weight_limit_keeps_room_for_the_lagrange_denominator() -> None:
    """D * W * max_abs * scale * 4 stays below q for the largest D of (n, t)."""
    modulus = int(np.prod([int(q) for q in _runtime(DEFAULT_PARAMETERS).data_moduli], dtype=object))
    for n_parties in (4, 7, 10):
        threshold = n_parties - (n_parties - 1) // 3
        limit = encryption.total_weight_limit(DEFAULT_PARAMETERS, n_parties, threshold)
        denominator = encryption.largest_lagrange_denominator(n_parties, threshold)
        assert limit >= 1
        assert denominator * limit * 2**16 * 2**80 * 4 <= modulus


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1],
        lambda b: b + b"\x00",
        lambda b: b[:125] + struct.pack("<Q", 0) + b[133:],
        lambda b: b[:133] + struct.pack("<H", 0) + b[135:],
        lambda b: b[:135] + struct.pack("<H", 3) + b[137:],
    ],
)
def test_aggregate_parses_strictly(keys, mutate) -> None:
    """Truncated, trailing, zero-weight, empty-U or unsorted-U aggregates are malformed."""
    context = _context(keys)
    blobs = _encrypt_all(keys, context, _updates())
    aggregate = aggregation.aggregate_contributions(
        context, _committed(context, blobs), blobs, range(1, 5), N_PARTIES, THRESHOLD
    ).aggregate
    with pytest.raises(errors.MalformedDataError):
        aggregation.Aggregate.from_bytes(mutate(aggregate.to_bytes()), DEFAULT_PARAMETERS)
