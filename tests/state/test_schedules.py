"""Schedules in the state store, on SQLite and PostgreSQL: scheduling pins versions, each slot
is used once however many schedulers race for it, and named locks hold across processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from herald.exceptions import StateError
from herald.state import StateStore, _migrate
from herald.state._engine import WRITE_OPTION, create_state_engine

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
PINS = {"vip": 3}


@pytest.fixture
def spring(store: StateStore) -> str:
    store.save_draft("campaign", "spring", {"audience": {"include": ["vip"]}})
    store.activate("campaign", "spring")
    return "spring"


def schedule(store: StateStore, next_at: datetime | None = NOW) -> None:
    store.schedule_campaign("spring", 1, PINS, scheduled_at=NOW, next_at=next_at)


def claim(store: StateStore, slot: datetime = NOW, **changes):
    current = store.schedule("spring")
    assert current is not None
    values = {
        "last_slot": current.last_slot,
        "slot": slot,
        "next_at": slot + timedelta(days=1),
        "as_of": slot,
        "launch_date": date(2026, 12, 8),
    }
    return store.claim_slot("spring", **{**values, **changes})


def test_scheduling_pins_the_versions_and_sets_the_campaign_scheduled(store, spring):
    schedule(store)

    pinned = store.schedule("spring")
    assert pinned is not None
    assert (pinned.campaign_version, pinned.pins, pinned.next_at, pinned.sends) == (1, PINS, NOW, 0)
    assert store.campaign_status("spring").status == "scheduled"


def test_unscheduling_makes_a_draft_and_drops_the_schedule(store, spring):
    schedule(store)

    assert store.unschedule_campaign("spring").status == "draft"
    assert store.schedule("spring") is None
    with pytest.raises(StateError, match="is draft, not scheduled"):
        store.unschedule_campaign("spring")


def test_a_running_campaign_cannot_be_scheduled_or_unscheduled(store, spring):
    schedule(store)
    record = claim(store)
    assert record is not None

    with pytest.raises(StateError, match=f"run {record.run_id} is not finished"):
        store.unschedule_campaign("spring")
    with pytest.raises(StateError, match="is running"):
        schedule(store)


def test_due_schedules_are_those_whose_next_slot_has_come(store, spring):
    schedule(store, next_at=NOW + timedelta(minutes=1))

    assert store.due_schedules(NOW) == []
    [due] = store.due_schedules(NOW + timedelta(minutes=1))
    assert due.campaign == "spring"


def test_claiming_a_slot_starts_a_scheduled_run_and_moves_the_schedule_on(store, spring):
    schedule(store)

    record = claim(store)

    assert record is not None
    assert record.outcome == "started"
    run = store.get_run(record.run_id)
    assert (run.trigger, run.slot, run.pins, run.status) == ("schedule", NOW, PINS, "running")
    assert run.launch_date == date(2026, 12, 8)
    moved = store.schedule("spring")
    assert moved is not None
    assert (moved.last_slot, moved.next_at, moved.sends) == (NOW, NOW + timedelta(days=1), 1)
    assert store.campaign_status("spring").status == "running"


def test_a_slot_is_claimed_once(store, spring, open_store):
    schedule(store)
    stale = store.schedule("spring")
    assert stale is not None
    assert claim(store) is not None

    again = open_store().claim_slot(
        "spring", last_slot=stale.last_slot, slot=NOW, next_at=None, as_of=NOW
    )

    assert again is None
    assert len(store.list_runs("spring")) == 1


def test_a_slot_waits_while_a_run_of_the_campaign_goes_on(store, spring):
    schedule(store)
    store.start_run("spring", 1, as_of=NOW, pins=PINS, expected="scheduled")

    assert claim(store) is None
    assert store.schedule("spring").last_slot is None  # type: ignore[union-attr]


def test_a_missed_slot_is_recorded_without_a_run(store, spring):
    schedule(store)

    record = claim(store, missed=True, skipped=2)

    assert record is not None
    assert (record.outcome, record.run_id, record.skipped) == ("missed", None, 2)
    assert store.list_runs("spring") == []
    assert store.schedule("spring").sends == 0  # type: ignore[union-attr]
    assert store.campaign_status("spring").status == "scheduled"
    assert [s.slot for s in store.schedule_slots("spring")] == [NOW]


def test_missing_the_last_slot_ends_the_campaign_in_error(store, spring):
    schedule(store)

    claim(store, missed=True, next_at=None)

    assert store.campaign_status("spring").status == "error"


@pytest.mark.parametrize("outcome", ["delivered", "error"])
def test_a_campaign_with_slots_to_come_stays_scheduled_after_a_run(store, spring, outcome):
    schedule(store)
    record = claim(store)
    assert record is not None
    assert record.run_id is not None

    store.finish_run(record.run_id, outcome, campaign_status=outcome)

    assert store.campaign_status("spring").status == "scheduled"


def test_after_its_last_slot_the_campaign_takes_the_run_outcome(store, spring):
    schedule(store)
    record = claim(store, next_at=None)
    assert record is not None
    assert record.run_id is not None

    store.finish_run(record.run_id, "error", error="boom", campaign_status="error")

    assert store.campaign_status("spring").status == "error"


def test_deleting_a_scheduled_campaign_drops_its_schedule(store, spring):
    schedule(store)

    store.delete("campaign", "spring")

    assert store.due_schedules(NOW + timedelta(days=9)) == []


def test_a_run_keeps_its_origin(store, spring):
    first = store.start_run("spring", 1, as_of=NOW, pins=PINS, expected="draft")
    store.finish_run(first.id, "error", error="boom", campaign_status="error")

    retry = store.start_run(
        "spring", 1, as_of=NOW, pins=PINS, expected="error", trigger="retry", retry_of=first.id
    )

    assert (retry.trigger, retry.retry_of, first.trigger) == ("retry", first.id, "manual")
    with pytest.raises(ValueError, match="run trigger"):
        store.start_run("spring", 1, as_of=NOW, pins=PINS, trigger="cron")  # type: ignore[arg-type]


# --- named locks ----------------------------------------------------------------------------


def test_a_named_lock_is_held_once(store, open_store):
    lock = store.try_lock("run:a")
    assert lock is not None

    assert open_store().try_lock("run:a") is None
    assert store.lock_held("run:a")
    other = store.try_lock("run:b")
    assert other is not None
    other.release()

    lock.release()
    assert not store.lock_held("run:a")
    again = open_store().try_lock("run:a")
    assert again is not None
    again.release()


def test_a_shared_lock_has_many_holders_and_excludes_an_exclusive_one(store, open_store):
    first = store.try_lock("presence", shared=True)
    second = open_store().try_lock("presence", shared=True)
    assert first is not None
    assert second is not None

    assert open_store().try_lock("presence") is None
    assert store.lock_held("presence")
    first.release()
    assert store.lock_held("presence")  # the second holder still has it
    second.release()
    assert not store.lock_held("presence")

    exclusive = store.try_lock("presence")
    assert exclusive is not None
    assert open_store().try_lock("presence", shared=True) is None
    exclusive.release()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from herald.state import StateStore
    store = StateStore.open(sys.argv[1])
    lock = store.try_lock("run:held")
    print("held" if lock else "busy", flush=True)
    time.sleep(120)
    """
)


def test_a_lock_held_by_another_process_is_released_when_it_dies(store, url):
    command = [sys.executable, "-c", HOLDER, url]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None
            line = holder.stdout.readline().strip()
            assert line == "held", holder.stderr.read()
            assert store.lock_held("run:held")
            assert store.try_lock("run:held") is None
        finally:
            holder.kill()  # SIGKILL: no chance to release anything itself
            holder.wait(timeout=30)

    deadline = time.monotonic() + 30  # the server notices the dropped connection
    while store.lock_held("run:held") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not store.lock_held("run:held")


def test_migrating_0004_down_and_up_keeps_every_run_and_delivery(url):
    # 0004 adds and drops columns of runs in place: copying the table instead would
    # cascade-delete the deliveries of every run.
    with StateStore.open(url) as store:
        store.save_draft("campaign", "spring", {"a": 1})
        store.activate("campaign", "spring")
        run = store.start_run("spring", 1, as_of=NOW, pins=PINS)
        store.start_delivery(run.id, "klaviyo", "All", "A", "spring_A")
    engine = create_state_engine(url)
    try:
        for revision, step in (("0003", _migrate.downgrade), ("head", _migrate.upgrade)):
            with engine.connect() as conn:
                conn.execution_options(**{WRITE_OPTION: True})
                with conn.begin():
                    step(conn, revision)
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM deliveries")).scalar() == 1
    finally:
        engine.dispose()
    with StateStore.open(url) as store:
        assert store.get_run(run.id).trigger == "manual"
        assert [d.list_name for d in store.run_deliveries(run.id)] == ["spring_A"]
