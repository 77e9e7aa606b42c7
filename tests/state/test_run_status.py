"""A campaign's status moves with its runs in one transaction, and a stuck one recovers.

On SQLite and PostgreSQL: `start_run` sets the campaign running and records the run
together; `finish_run(campaign_status=…)` ends both together; `settle_campaign` gives a
campaign left ``running`` with no run running (a crash of an older Herald between two
writes) back its last run's outcome.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from herald.exceptions import StateError
from herald.state import StateStore
from herald.state import _campaigns as campaigns_module

AS_OF = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
PINS = {"vip": 3}
RUNNABLE = ("draft", "scheduled", "delivered", "error")


@pytest.fixture
def spring(store: StateStore) -> str:
    store.save_draft("campaign", "spring", {"audience": {"include": ["vip"]}})
    store.activate("campaign", "spring")
    return "spring"


def start(store: StateStore) -> str:
    return store.start_run("spring", 1, as_of=AS_OF, pins=PINS, expected=RUNNABLE).id


def test_start_run_sets_the_campaign_running_with_its_run(store, spring):
    run = store.start_run("spring", 1, as_of=AS_OF, pins=PINS, expected=RUNNABLE)

    assert (run.status, run.kind, run.pins, run.as_of) == ("running", "run", PINS, AS_OF)
    assert store.campaign_status("spring").status == "running"
    assert store.list_runs("spring") == [run]


def test_start_run_refuses_a_running_campaign_and_records_no_run(store, spring):
    first = start(store)

    with pytest.raises(StateError, match=rf"is running, .*run {first} is not finished"):
        start(store)

    assert [r.id for r in store.list_runs("spring")] == [first]


def test_when_the_run_cannot_be_recorded_the_status_does_not_change(store, spring, monkeypatch):
    def broken(*args, **kwargs):
        msg = "the process died here"
        raise RuntimeError(msg)

    monkeypatch.setattr(campaigns_module, "create_run", broken)

    with pytest.raises(RuntimeError, match="died here"):
        start(store)

    assert store.campaign_status("spring").status == "draft"
    assert store.list_runs("spring") == []


@pytest.mark.parametrize("outcome", ["delivered", "error"])
def test_finish_run_ends_the_run_and_sets_the_campaign_together(store, spring, outcome):
    run_id = start(store)

    finished = store.finish_run(run_id, outcome, campaign_status=outcome)

    assert finished.status == outcome
    assert store.campaign_status("spring").status == outcome


def test_a_refused_finish_leaves_the_campaign_alone(store, spring):
    run_id = start(store)
    store.finish_run(run_id, "delivered", campaign_status="delivered")

    with pytest.raises(StateError, match="already delivered"):
        store.finish_run(run_id, "error", campaign_status="error")

    assert store.campaign_status("spring").status == "delivered"
    assert store.get_run(run_id).status == "delivered"


def test_finish_run_of_a_deleted_campaign_still_finishes_the_run(store):
    store.save_draft("campaign", "gone", {"v": 1})
    run_id = store.create_run("gone", 1, as_of=AS_OF, pins={}).id
    store.delete("campaign", "gone")

    assert store.finish_run(run_id, "error", campaign_status="error").status == "error"


def test_a_running_campaign_without_a_run_settles_to_draft(store, spring):
    store.set_campaign_status("spring", "running")  # a crash before the run was created

    assert store.settle_campaign("spring").status == "draft"
    assert store.campaign_status("spring").status == "draft"


@pytest.mark.parametrize(
    ("last", "settled"), [("delivered", "delivered"), ("error", "error"), ("cancelled", "error")]
)
def test_a_running_campaign_whose_runs_ended_gets_the_last_outcome(store, spring, last, settled):
    store.finish_run(start(store), "error", campaign_status="error")
    store.finish_run(start(store), last)  # a crash before the campaign's status was set

    assert store.campaign_status("spring").status == "running"
    assert store.settle_campaign("spring").status == settled


def test_a_running_run_keeps_the_campaign_running(store, spring):
    run_id = start(store)  # live or interrupted: resuming it ends it

    assert store.settle_campaign("spring").status == "running"
    assert store.get_run(run_id).status == "running"


def test_start_run_recovers_a_stuck_campaign(store, spring):
    store.finish_run(start(store), "delivered")  # the campaign was left running
    assert store.campaign_status("spring").status == "running"

    run_id = start(store)

    assert store.get_run(run_id).status == "running"
    assert store.campaign_status("spring").status == "running"
    assert len(store.list_runs("spring")) == 2


def test_concurrent_starts_let_exactly_one_run_begin(store, spring, open_store):
    other = open_store()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def starter(each: StateStore) -> None:
        barrier.wait(timeout=60)
        try:
            start(each)
        except StateError as err:
            errors.append(err)

    threads = [threading.Thread(target=starter, args=(s,)) for s in (store, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(errors) == 1
    assert len(store.list_runs("spring")) == 1
