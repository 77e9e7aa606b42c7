"""List ids, deliveries and batches in the state store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from herald.exceptions import NotFoundError, StateError
from herald.state import StateStore

AS_OF = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def run_id(store: StateStore) -> str:
    store.save_draft("campaign", "spring", {"v": 1})
    store.activate("campaign", "spring")
    return store.create_run("spring", 1, as_of=AS_OF, pins={}).id


def test_list_ids_are_remembered_and_the_first_wins(store: StateStore) -> None:
    assert store.list_id("klaviyo", "Spring_A") is None
    assert store.remember_list_id("klaviyo", "Spring_A", "L1") == "L1"
    assert store.remember_list_id("klaviyo", "Spring_A", "L2") == "L1"
    assert store.list_id("klaviyo", "Spring_A") == "L1"
    assert store.list_id("other", "Spring_A") is None
    store.forget_list_id("klaviyo", "Spring_A")
    assert store.list_id("klaviyo", "Spring_A") is None


def test_a_delivery_is_created_once_per_run_group_and_destination(
    store: StateStore, run_id: str
) -> None:
    first = store.start_delivery(run_id, "klaviyo", "All", "A", "Spring_A")
    again = store.start_delivery(run_id, "klaviyo", "All", "A", "Spring_A")
    other = store.start_delivery(run_id, "klaviyo", "All", "B", "Spring_B")

    assert first == again
    assert (first.status, first.list_id, first.counts, first.error) == ("pending", None, {}, None)
    assert [d.id for d in store.run_deliveries(run_id)] == [first.id, other.id]
    with pytest.raises(NotFoundError):
        store.start_delivery("run_nope", "klaviyo", "All", "A", "Spring_A")


def test_planning_records_every_batch_in_one_go(store: StateStore, run_id: str) -> None:
    delivery = store.start_delivery(run_id, "klaviyo", "All", "A", "Spring_A")
    planned = store.plan_delivery(
        delivery.id, [("remove", 0, 10), ("add", 0, 100), ("add", 100, 5)], counts={"adds": 105}
    )

    assert (planned.status, planned.counts) == ("planned", {"adds": 105})
    batches = store.batches(delivery.id)
    assert [(b.seq, b.kind, b.first_row, b.row_count, b.status, b.attempts) for b in batches] == [
        (1, "remove", 0, 10, "planned", 0),
        (2, "add", 0, 100, "planned", 0),
        (3, "add", 100, 5, "planned", 0),
    ]
    with pytest.raises(StateError, match="planned already"):
        store.plan_delivery(delivery.id, [("add", 0, 1)], counts={})
    with pytest.raises(ValueError, match="batch kind"):
        store.plan_delivery(delivery.id, [("upsert", 0, 1)], counts={})


def test_a_batch_moves_forward_and_a_confirmed_one_never_back(
    store: StateStore, run_id: str
) -> None:
    delivery = store.start_delivery(run_id, "klaviyo", "All", "A", "Spring_A")
    store.plan_delivery(delivery.id, [("add", 0, 10)], counts={})

    sent = store.set_batch(delivery.id, 1, "sent", job_id="J1")
    assert (sent.status, sent.job_id, sent.attempts) == ("sent", "J1", 1)
    assert sent.sent_at is not None
    assert sent.confirmed_at is None
    again = store.set_batch(delivery.id, 1, "planned", error="job cancelled")
    assert (again.status, again.job_id, again.attempts, again.error) == (
        "planned",
        None,
        1,
        "job cancelled",
    )
    store.count_batch_attempt(delivery.id, 1, "timeout")
    store.set_batch(delivery.id, 1, "sent", job_id="J2")
    confirmed = store.set_batch(delivery.id, 1, "confirmed")
    assert (confirmed.status, confirmed.job_id, confirmed.attempts) == ("confirmed", "J2", 3)
    assert confirmed.confirmed_at is not None
    assert confirmed.confirmed_at.tzinfo is UTC

    for status in ("sent", "planned", "failed"):
        with pytest.raises(StateError, match="cannot go from confirmed"):
            store.set_batch(delivery.id, 1, status)  # type: ignore[arg-type]
    assert store.batches(delivery.id, ["sent", "planned"]) == []


def test_splitting_a_batch_plans_two_halves_after_the_last(store: StateStore, run_id: str) -> None:
    delivery = store.start_delivery(run_id, "klaviyo", "All", "A", "Spring_A")
    store.plan_delivery(delivery.id, [("add", 0, 7), ("add", 7, 3)], counts={})

    halves = store.split_batch(delivery.id, 1, "HTTP 400 invalid")

    assert [(b.seq, b.first_row, b.row_count, b.status) for b in halves] == [
        (3, 0, 3, "planned"),
        (4, 3, 4, "planned"),
    ]
    [split] = store.batches(delivery.id, ["split"])
    assert (split.seq, split.error) == (1, "HTTP 400 invalid")
    single, pair = store.split_batch(delivery.id, 3, "again")
    assert (single.seq, single.row_count, pair.row_count) == (5, 1, 2)
    with pytest.raises(StateError, match="one row"):
        store.split_batch(delivery.id, single.seq, "again")


def test_delivery_status_counts_and_errors(store: StateStore, run_id: str) -> None:
    delivery = store.start_delivery(run_id, "klaviyo", "All", "A", "Spring_A")
    store.update_delivery(delivery.id, list_id="L1")
    failed = store.update_delivery(delivery.id, status="failed", error="HTTP 503")
    assert (failed.status, failed.error, failed.list_id) == ("failed", "HTTP 503", "L1")
    done = store.update_delivery(delivery.id, status="done", counts={"sent": 3})
    assert (done.status, done.error, done.counts) == ("done", None, {"sent": 3})
    assert store.get_delivery(delivery.id) == done
    with pytest.raises(ValueError, match="delivery status"):
        store.update_delivery(delivery.id, status="sent")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        store.get_delivery(10_000)


def test_unsettled_deliveries_are_the_failed_ones_of_a_list_with_jobs_still_sent(
    store: StateStore, run_id: str
) -> None:
    def delivery(run: str, group: str, list_name: str, status: str, batch: str) -> int:
        made = store.start_delivery(run, "klaviyo", "All", group, list_name)
        store.plan_delivery(made.id, [("add", 0, 10), ("add", 10, 10)], counts={})
        store.set_batch(made.id, 1, "sent", job_id="J1")
        if batch == "confirmed":
            store.set_batch(made.id, 1, "confirmed")
        store.update_delivery(made.id, status=status, error="boom" if status == "failed" else None)
        return made.id

    later = store.create_run("spring", 1, as_of=AS_OF, pins={}).id
    wanted = delivery(run_id, "A", "Spring_A", "failed", "sent")
    delivery(run_id, "B", "Spring_B", "failed", "sent")  # another list
    delivery(run_id, "C", "Spring_A", "failed", "confirmed")  # nothing left sent
    delivery(later, "A", "Spring_A", "running", "sent")  # not failed
    newest = store.create_run("spring", 1, as_of=AS_OF, pins={}).id

    found = store.unsettled_deliveries("klaviyo", "Spring_A", newest)
    assert [d.id for d in found] == [wanted]
    assert store.unsettled_deliveries("klaviyo", "Spring_A", run_id) == []  # its own run
    assert store.unsettled_deliveries("other", "Spring_A", newest) == []
