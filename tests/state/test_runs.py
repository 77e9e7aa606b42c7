"""Runs of campaigns: lifecycle, ordering, JSON round trips and UTC timestamps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from herald.exceptions import NotFoundError, StateError
from herald.state import Run, StateStore
from herald.state import _campaigns as campaigns_module
from herald.state._engine import create_state_engine

AS_OF = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
PINS = {"vip": 3, "lapsed": 1}
RUN_ID = re.compile(r"run_\d{8}T\d{6}_[0-9a-f]{6}")


@pytest.fixture
def spring(store: StateStore) -> str:
    """A campaign with an active version 1 and a draft version 2."""
    store.save_draft("campaign", "spring", {"audience": {"include": ["vip"]}})
    store.activate("campaign", "spring")
    store.save_draft("campaign", "spring", {"audience": {"include": ["vip", "lapsed"]}})
    return "spring"


def start(store: StateStore, campaign: str = "spring", **options) -> Run:
    options.setdefault("as_of", AS_OF)
    options.setdefault("pins", PINS)
    return store.create_run(campaign, options.pop("version", 1), **options)


def raw(url: str, query: str, **params):
    engine = create_state_engine(url)
    try:
        with engine.begin() as conn:
            return conn.execute(sa.text(query), params).all()
    finally:
        engine.dispose()


# --- create ---------------------------------------------------------------------------------


def test_create_run_records_a_running_run(store, spring):
    before = datetime.now(UTC)

    run = start(store)

    assert isinstance(run, Run)
    assert RUN_ID.fullmatch(run.id)
    assert (run.campaign, run.campaign_version, run.kind) == ("spring", 1, "run")
    assert run.status == "running"
    assert run.as_of == AS_OF
    assert run.pins == PINS
    assert (run.finished_at, run.snapshot, run.stats, run.error) == (None, None, None, None)
    assert run.started_at.tzinfo is UTC
    assert before - timedelta(seconds=5) <= run.started_at <= datetime.now(UTC)
    # The id carries the UTC start time, to the second.
    assert run.id[4:19] == run.started_at.strftime("%Y%m%dT%H%M%S")
    assert store.get_run(run.id) == run


def test_a_test_run_of_the_draft_version(store, spring):
    run = start(store, version=2, kind="test", pins={})

    assert (run.kind, run.campaign_version, run.pins) == ("test", 2, {})


def test_as_of_in_another_zone_comes_back_in_utc(store, spring):
    paris = timezone(timedelta(hours=1))

    run = start(store, as_of=datetime(2026, 12, 1, 7, 0, tzinfo=paris))

    assert run.as_of == AS_OF
    assert run.as_of.tzinfo is UTC
    assert store.get_run(run.id).as_of.tzinfo is UTC


def test_create_run_checks_the_campaign_and_its_version(store, spring):
    with pytest.raises(NotFoundError, match="campaign 'sprng' not found; did you mean 'spring'"):
        start(store, "sprng")
    with pytest.raises(NotFoundError, match="campaign 'spring' has no version 3; it has versions"):
        start(store, version=3)

    assert store.list_runs() == []


BAD_OPTIONS = [
    ({"as_of": datetime(2026, 12, 1)}, "as_of must be timezone-aware"),
    ({"pins": {"vip": "3"}}, "pin 'vip' must map a segment name to a version number"),
    ({"pins": {"vip": 0}}, "pin 'vip' must map"),
    ({"pins": {"vip": True}}, "pin 'vip' must map"),
    ({"pins": ["vip"]}, "pins must be a mapping"),
    ({"kind": "dry"}, "unknown run kind 'dry'"),
]


def test_create_run_refuses_bad_arguments(store, spring):
    for options, message in BAD_OPTIONS:
        with pytest.raises(ValueError, match=message):
            start(store, **options)

    assert store.list_runs() == []


def test_a_clashing_run_id_is_retried_with_a_fresh_one(store, spring, monkeypatch):
    first = start(store)
    fresh = iter([first.id, "run_20261201T060000_abcdef"])
    monkeypatch.setattr(campaigns_module, "new_run_id", lambda _at: next(fresh))

    second = start(store)

    assert second.id == "run_20261201T060000_abcdef"
    assert {run.id for run in store.list_runs()} == {first.id, second.id}


# --- finish ---------------------------------------------------------------------------------


def test_finish_run_as_delivered_with_stats_and_snapshot(store, spring):
    run = start(store)
    stats = {
        "recipients": 1200,
        "groups": {"A": 1080, "control": 120},
        "rate": 0.25,
        "note": "café ✓",
        "rejected": [{"reason": "invalid email", "count": 3}],
        "missing": None,
    }

    done = store.finish_run(run.id, "delivered", stats=stats, snapshot="runs/spring/x.parquet")

    assert done.status == "delivered"
    assert done.stats == stats
    assert done.snapshot == "runs/spring/x.parquet"
    assert done.error is None
    assert done.finished_at is not None
    assert done.finished_at.tzinfo is UTC
    assert run.started_at <= done.finished_at <= datetime.now(UTC)
    assert (done.id, done.pins, done.as_of, done.started_at) == (
        run.id, run.pins, run.as_of, run.started_at,
    )  # fmt: skip
    assert store.get_run(run.id) == done


def test_finish_run_in_error_keeps_the_message(store, spring):
    run = start(store)

    failed = store.finish_run(run.id, "error", error="Klaviyo answered 503 three times")

    assert (failed.status, failed.error, failed.stats) == (
        "error", "Klaviyo answered 503 three times", None,
    )  # fmt: skip


def test_a_run_finishes_only_once(store, spring):
    run = start(store)
    cancelled = store.finish_run(run.id, "cancelled")

    message = (
        rf"run '{run.id}' of campaign 'spring' is already cancelled \(finished .*\); "
        "only a running run can be finished"
    )
    for status in ("delivered", "cancelled"):
        with pytest.raises(StateError, match=message):
            store.finish_run(run.id, status, stats={"n": 1})

    assert store.get_run(run.id) == cancelled


def test_finish_run_refuses_bad_arguments(store, spring):
    run = start(store)

    with pytest.raises(ValueError, match="unknown final run status 'running'"):
        store.finish_run(run.id, "running")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stats cannot be stored as JSON"):
        store.finish_run(run.id, "delivered", stats={"rate": float("nan")})
    with pytest.raises(ValueError, match="stats cannot be stored as JSON"):
        store.finish_run(run.id, "delivered", stats={"when": datetime.now(UTC)})

    assert store.get_run(run.id) == run


def test_unknown_runs_are_not_found(store, spring):
    with pytest.raises(NotFoundError, match=r"^run 'run_20990101T000000_000000' not found$"):
        store.get_run("run_20990101T000000_000000")
    with pytest.raises(NotFoundError, match="run 'spring' not found; run ids look like run_"):
        store.finish_run("spring", "delivered")


def test_json_columns_are_stored_as_json_text(store, spring, url):
    run = start(store)
    store.finish_run(run.id, "delivered", stats={"n": 1})

    [(pins, stats)] = raw(url, "SELECT pins, stats FROM runs WHERE id = :id", id=run.id)

    assert (pins, stats) == ('{"lapsed":1,"vip":3}', '{"n":1}')


def test_the_database_keeps_finished_at_in_step_with_status(store, spring, url):
    run = start(store)

    with pytest.raises(sa.exc.IntegrityError):
        raw(url, "UPDATE runs SET status = 'delivered' WHERE id = :id", id=run.id)
    with pytest.raises(sa.exc.IntegrityError):
        raw(url, "UPDATE runs SET kind = 'dry' WHERE id = :id", id=run.id)

    assert store.get_run(run.id) == run


# --- listing --------------------------------------------------------------------------------


def test_list_runs_is_newest_first_and_filters_by_campaign(store, spring):
    store.save_draft("campaign", "autumn", {"audience": {"include": ["lapsed"]}})
    runs = [start(store, name) for name in ("spring", "autumn", "spring", "autumn", "spring")]

    newest_first = list(reversed(runs))
    assert store.list_runs() == newest_first
    assert store.list_runs("spring") == [r for r in newest_first if r.campaign == "spring"]
    assert store.list_runs("autumn", limit=1) == [runs[3]]
    assert store.list_runs(limit=2) == newest_first[:2]
    assert store.list_runs(limit=0) == []
    assert store.list_runs("winter") == []
    # The ids sort by start time to the second.
    prefixes = [run.id[:19] for run in runs]
    assert prefixes == sorted(prefixes)


def test_list_runs_refuses_a_negative_limit(store):
    with pytest.raises(ValueError, match="limit must be 0 or more, not -1"):
        store.list_runs(limit=-1)


def test_last_run_is_the_newest_delivered_real_run(store, spring):
    assert store.last_run("spring") is None

    delivered = store.finish_run(start(store).id, "delivered", stats={"n": 1})
    store.finish_run(start(store).id, "error", error="boom")
    store.finish_run(start(store, kind="test").id, "delivered")
    running = start(store)

    assert store.last_run("spring") == delivered
    assert store.last_run("spring", status="running") == running
    assert store.last_run("spring", status=None) == running
    assert store.last_run("spring", kind="test").kind == "test"
    assert store.last_run("spring", status="error").error == "boom"
    assert store.last_run("spring", status="cancelled") is None
    assert store.last_run("autumn") is None
    with pytest.raises(ValueError, match="unknown run status 'delivred'"):
        store.last_run("spring", status="delivred")  # type: ignore[arg-type]


def test_runs_outlive_a_deleted_campaign(store, spring):
    run = store.finish_run(start(store, kind="test").id, "delivered")
    store.set_campaign_status("spring", "scheduled")

    store.delete("campaign", "spring")

    assert store.list_runs("spring") == [run]
    assert store.last_run("spring", kind="test") == run
