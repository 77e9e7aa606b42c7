"""`StateStore.request_cancel`: the flag a running run reads at its batch boundaries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from herald.exceptions import NotFoundError, StateError
from herald.state import StateStore

AS_OF = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
def spring(store: StateStore) -> str:
    store.save_draft("campaign", "spring", {"audience": {"include": ["vip"]}})
    store.activate("campaign", "spring")
    return "spring"


def test_a_running_run_gets_the_flag_and_keeps_running(store, spring):
    run = store.start_run(spring, 1, as_of=AS_OF, pins={})
    assert run.cancel_requested is False

    asked = store.request_cancel(run.id)

    assert asked.cancel_requested is True
    assert asked.status == "running"
    assert store.get_run(run.id).cancel_requested is True
    assert store.request_cancel(run.id).cancel_requested is True  # asking again is harmless
    assert store.campaign_status(spring).status == "running"


def test_the_flag_outlives_the_finish_and_the_run_ends_as_told(store, spring):
    run = store.start_run(spring, 1, as_of=AS_OF, pins={})
    store.request_cancel(run.id)

    done = store.finish_run(run.id, "cancelled", error="stopped", campaign_status="error")

    assert (done.status, done.cancel_requested) == ("cancelled", True)
    assert store.campaign_status(spring).status == "error"


@pytest.mark.parametrize("status", ["delivered", "error", "cancelled"])
def test_a_finished_run_is_refused_in_one_line_naming_its_status(store, spring, status):
    run = store.start_run(spring, 1, as_of=AS_OF, pins={})
    store.finish_run(run.id, status)

    with pytest.raises(StateError) as refused:
        store.request_cancel(run.id)

    message = str(refused.value)
    assert f"is {status}, not running" in message
    assert run.id in message
    assert "\n" not in message
    assert store.get_run(run.id).cancel_requested is False


def test_an_unknown_run_is_not_found(store, spring):
    with pytest.raises(NotFoundError, match="run_nope"):
        store.request_cancel("run_nope")
