"""The local blob store (copies kept per period, pruned beyond keep_periods) and the IPFS retry plan."""

from pathlib import Path

import pytest

from packages.valory.skills.smpc_mnist_classifier.blob_store import (
    BlobStore,
    BlobStoreError,
    RetryPlan,
    sha256_hex,
)


def test_pauses_double_up_to_the_longest_and_stop_at_the_budget() -> None:
    """1, 2, 4, 8, 8 s; a pause that would end past the budget is refused."""
    plan = RetryPlan(first=1.0, factor=2.0, longest=8.0, budget=30.0)
    assert [plan.next_pause(attempts, 0.0) for attempts in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert plan.next_pause(5, 22.0) == 8.0
    assert plan.next_pause(5, 22.5) is None
    assert RetryPlan(first=1.0, factor=2.0, longest=8.0, budget=0.0).next_pause(1, 0.0) is None


@pytest.mark.parametrize(
    "first, factor, longest, budget",
    [(0.0, 2.0, 8.0, 10.0), (2.0, 2.0, 1.0, 10.0), (1.0, 0.5, 8.0, 10.0), (1.0, 2.0, 8.0, -1.0)],
)
def test_plans_that_never_wait_shrink_or_have_no_budget_are_refused(
    first: float, factor: float, longest: float, budget: float
) -> None:
    """A plan must wait a positive time, never shrink, and have a budget."""
    with pytest.raises(BlobStoreError):
        RetryPlan(first, factor, longest, budget)


def test_kept_blobs_are_found_by_digest_with_their_name(tmp_path: Path) -> None:
    """What was kept comes back byte for byte, with the name it was published under."""
    store = BlobStore(tmp_path, keep_periods=2)
    digest = store.keep(4, "encrypted_update", b"ciphertext")
    assert digest == sha256_hex(b"ciphertext")
    assert store.keep(4, "encrypted_update", b"ciphertext") == digest
    assert store.find(digest) == ("encrypted_update", b"ciphertext")
    assert store.find(sha256_hex(b"never kept")) is None


def test_a_damaged_copy_counts_as_none(tmp_path: Path) -> None:
    """A copy whose bytes no longer match its digest is never served."""
    store = BlobStore(tmp_path, keep_periods=2)
    digest = store.keep(1, "sub_shares", b"sealed")
    (tmp_path / "period_000001" / digest / "sub_shares").write_bytes(b"tampered")
    assert store.find(digest) is None


def store_of_six_periods(tmp_path: Path, keep_periods: int, kind: str, label: str) -> BlobStore:
    """A store holding one blob `<label> <period>` of `kind` for periods 1..6, each published as cid-<period>."""
    store = BlobStore(tmp_path, keep_periods=keep_periods)
    for period in range(1, 7):
        digest = store.keep(period, kind, f"{label} {period}".encode())
        store.remember_cid(period, digest, f"cid-{period}")
    return store


def test_periods_beyond_keep_periods_expire_with_their_content_ids_until_dropped(tmp_path: Path) -> None:
    """keep_periods 3 in period 6: periods 1..3 expire, with the content ids to unpin; dropping deletes them."""
    store = store_of_six_periods(tmp_path, 3, "encrypted_update", "update")
    assert store.expired(6, last_accepted_period=5) == {1: ["cid-1"], 2: ["cid-2"], 3: ["cid-3"]}
    for period in (1, 2):
        store.drop(period)
    assert store.periods() == [3, 4, 5, 6]
    assert store.find(sha256_hex(b"update 2")) is None
    assert store.find(sha256_hex(b"update 3")) == ("encrypted_update", b"update 3")
    assert store.expired(6, last_accepted_period=5) == {3: ["cid-3"]}


def test_the_period_of_the_last_accepted_model_never_expires(tmp_path: Path) -> None:
    """No model accepted since period 2: its blobs (the model agents that missed rounds fetch) stay pinned."""
    store = store_of_six_periods(tmp_path, 2, "model_envelope", "model")
    assert store.expired(6, last_accepted_period=2) == {1: ["cid-1"], 3: ["cid-3"], 4: ["cid-4"]}
    assert store.expired(6, last_accepted_period=-1) == {1: ["cid-1"], 2: ["cid-2"], 3: ["cid-3"], 4: ["cid-4"]}


def test_settings_that_keep_nothing_are_refused(tmp_path: Path) -> None:
    """keep_periods below 1 and negative periods are errors, not silent no-ops."""
    with pytest.raises(BlobStoreError):
        BlobStore(tmp_path, keep_periods=0)
    with pytest.raises(BlobStoreError):
        BlobStore(tmp_path, keep_periods=1).keep(-1, "x", b"")
