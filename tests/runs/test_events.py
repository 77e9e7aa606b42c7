"""Recording a run's progress in the state store: the caller's callback still gets every
event, batch events are coalesced per list, plans, outcomes and phases are always written, and
`watch_run` follows the run until it ends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from herald.destinations.base import SyncEvent
from herald.runs.events import RunRecorder, to_sync_event, watch_run
from herald.state import Run, StateStore

AS_OF = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as opened:
        opened.save_draft("campaign", "spring", {"audience": {"include": ["vip"]}})
        opened.activate("campaign", "spring")
        yield opened


@pytest.fixture
def run(store: StateStore) -> Run:
    return store.start_run("spring", 1, as_of=AS_OF, pins={"vip": 1})


def sync(kind: str, list_name: str = "VIP", **data) -> SyncEvent:
    return SyncEvent(kind, "klaviyo", list_name, **data)  # type: ignore[arg-type]


def confirmed(rows: int, seq: int, list_name: str = "VIP") -> SyncEvent:
    return sync("batch_confirmed", list_name, batch={"seq": seq, "kind": "add", "rows": rows})


def test_the_callers_callback_gets_every_event_and_the_store_a_coalesced_few(store, run):
    seen: list[SyncEvent] = []
    clock = Clock()
    recorder = RunRecorder(store, progress=seen.append, interval=0.5, clock=clock)
    recorder.start(run.id)
    events = [sync("planned", counts={"adds": 1000}), *(confirmed(10, n) for n in range(100))]

    for number, event in enumerate(events):
        clock.now = 100.0 + number * 0.01  # 100 batches in one second
        recorder(event)
    recorder(sync("done", counts={"adds": 1000, "sent": 1000}))

    assert seen == [*events, sync("done", counts={"adds": 1000, "sent": 1000})]
    written = store.run_events(run.id)
    kinds = [e.kind for e in written]
    assert kinds[0] == "planned"
    assert kinds[-1] == "done"
    assert 2 <= kinds.count("batch_confirmed") <= 4  # one write per half second, and the rest
    batches = [e.payload for e in written if e.kind == "batch_confirmed"]
    assert sum(b["batch"]["rows"] for b in batches) == 1000
    assert sum(b["batch"]["batches"] for b in batches) == 100
    assert batches[-1]["confirmed"] == 1000
    assert written[0].payload == {
        "destination": "klaviyo",
        "list_name": "VIP",
        "counts": {"adds": 1000},
    }


def test_lists_are_throttled_apart_and_a_failure_flushes_what_waits(store, run):
    clock = Clock()
    recorder = RunRecorder(store, clock=clock)
    recorder.start(run.id)

    recorder(confirmed(5, 1, "A"))  # the first batch of a list is written at once
    recorder(confirmed(5, 1, "B"))
    recorder(confirmed(7, 2, "A"))  # held back: A was written just now
    recorder(sync("failed", "B", error="Klaviyo said no"))

    written = [(e.kind, e.payload.get("list_name"), e.payload.get("confirmed")) for e in
               store.run_events(run.id)]  # fmt: skip
    assert written == [
        ("batch_confirmed", "A", 5),
        ("batch_confirmed", "B", 5),
        ("batch_confirmed", "A", 12),  # written before the failure, in order
        ("failed", "B", None),
    ]


def test_phases_wait_for_the_run_and_record_their_seconds(store, run):
    clock = Clock()
    recorder = RunRecorder(store, clock=clock)
    with recorder.phase("build"):
        clock.now += 2.5
    assert store.run_events(run.id) == []  # no run yet: held back

    recorder.start(run.id)

    def failing_snapshot() -> None:
        with recorder.phase("snapshot"):
            clock.now += 1
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        failing_snapshot()
    with recorder.delivery("klaviyo", "VIP"):
        recorder(sync("started"))
        clock.now += 3
        recorder(sync("diffed"))
        clock.now += 4

    assert [(e.kind, e.payload) for e in store.run_events(run.id)] == [
        ("phase_started", {"phase": "build"}),
        ("phase_finished", {"phase": "build", "seconds": 2.5}),
        ("phase_started", {"phase": "snapshot"}),
        ("phase_finished", {"phase": "snapshot", "seconds": 1.0, "failed": True}),
        ("started", {"destination": "klaviyo", "list_name": "VIP"}),
        ("diffed", {"destination": "klaviyo", "list_name": "VIP"}),
    ]
    assert recorder.timings() == {
        "build": 2.5,
        "snapshot": 1.0,
        "lists": {"klaviyo:VIP": {"seconds": 7.0, "diff": 3.0}},
    }


def test_a_recorded_event_gives_back_its_sync_event(store, run):
    recorder = RunRecorder(store)
    recorder.start(run.id)
    recorder(sync("planned", counts={"adds": 3, "removes": 1}))
    with recorder.phase("log"):
        pass

    planned, *phases = store.run_events(run.id)

    assert to_sync_event(planned) == sync("planned", counts={"adds": 3, "removes": 1})
    assert [to_sync_event(e) for e in phases] == [None, None]


def test_watch_run_follows_a_run_until_it_finishes(store, run):
    recorder = RunRecorder(store)
    recorder.start(run.id)
    recorder(sync("planned", counts={"adds": 3}))

    async def follow() -> list[str]:
        kinds = []
        async for event in watch_run(store, run.id, poll=0.01):
            kinds.append(event.kind)
            if event.kind == "planned":
                await asyncio.to_thread(recorder, sync("done", counts={"adds": 3}))
                with store.transaction():
                    recorder.finished(store.finish_run(run.id, "delivered"))
        return kinds

    assert asyncio.run(asyncio.wait_for(follow(), 10)) == ["planned", "done", "finished"]


def test_watch_run_ends_when_nobody_works_on_a_running_run(store, run):
    async def follow() -> list[str]:
        return [e.kind async for e in watch_run(store, run.id, poll=0.01, gone_after=0.05)]

    assert asyncio.run(asyncio.wait_for(follow(), 10)) == []
    assert store.get_run(run.id).status == "running"
