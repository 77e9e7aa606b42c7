"""A run's progress events in the state store, on SQLite and PostgreSQL: appended in order,
read after an id, redacted on write, gone with their run's campaign history never."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from herald.exceptions import NotFoundError
from herald.state import Run, StateStore

AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def run(store: StateStore) -> Run:
    store.save_draft("campaign", "spring", {"audience": {"include": ["vip"]}})
    store.activate("campaign", "spring")
    return store.start_run("spring", 1, as_of=AT, pins={"vip": 1})


def test_events_come_back_in_order_with_their_payloads(store, run):
    store.add_run_events(
        run.id,
        [
            (AT, "phase_started", {"phase": "build"}),
            (AT + timedelta(seconds=2), "phase_finished", {"phase": "build", "seconds": 2.0}),
        ],
    )
    store.add_run_events(run.id, [(AT + timedelta(seconds=3), "planned", {"counts": {"adds": 5}})])

    events = store.run_events(run.id)

    assert [(e.kind, e.payload) for e in events] == [
        ("phase_started", {"phase": "build"}),
        ("phase_finished", {"phase": "build", "seconds": 2.0}),
        ("planned", {"counts": {"adds": 5}}),
    ]
    assert [e.at for e in events] == [AT, AT + timedelta(seconds=2), AT + timedelta(seconds=3)]
    assert all(e.run_id == run.id for e in events)
    assert events[0].id < events[1].id < events[2].id


def test_a_follower_reads_only_the_events_after_the_last_it_saw(store, run):
    store.add_run_events(run.id, [(AT, "started", {"n": n}) for n in range(5)])
    first = store.run_events(run.id, limit=2)

    rest = store.run_events(run.id, after_id=first[-1].id)

    assert [e.payload["n"] for e in first] == [0, 1]
    assert [e.payload["n"] for e in rest] == [2, 3, 4]
    assert store.run_events(run.id, after_id=rest[-1].id) == []


def test_events_of_one_run_are_not_another_runs(store, run):
    store.finish_run(run.id, "delivered")
    other = store.start_run("spring", 1, as_of=AT, pins={"vip": 1})
    store.add_run_events(run.id, [(AT, "done", {})])
    store.add_run_events(other.id, [(AT, "failed", {})])

    assert [e.kind for e in store.run_events(other.id)] == ["failed"]
    assert store.run_events("run_20260101T000000_000000") == []


def test_payload_strings_are_redacted_on_write(store, run):
    store.add_run_events(
        run.id, [(AT, "failed", {"error": "profile ann@example.com refused", "rows": 3})]
    )

    [event] = store.run_events(run.id)

    assert "ann@example.com" not in event.payload["error"]
    assert event.payload["rows"] == 3


def test_bad_events_are_refused_and_nothing_is_written(store, run):
    with pytest.raises(NotFoundError, match="run_20260101T000000_000000"):
        store.add_run_events("run_20260101T000000_000000", [(AT, "done", {})])
    with pytest.raises(ValueError, match="timezone-aware"):
        store.add_run_events(run.id, [(AT, "done", {}), (AT.replace(tzinfo=None), "done", {})])
    with pytest.raises(ValueError, match="event kind"):
        store.add_run_events(run.id, [(AT, "x" * 33, {})])
    with pytest.raises(ValueError, match="not JSON"):
        store.add_run_events(run.id, [(AT, "done", {"at": AT})])
    with pytest.raises(ValueError, match="limit"):
        store.run_events(run.id, limit=-1)

    assert store.run_events(run.id) == []


def test_no_events_is_a_no_op(store, run):
    store.add_run_events(run.id, [])

    assert store.run_events(run.id) == []
