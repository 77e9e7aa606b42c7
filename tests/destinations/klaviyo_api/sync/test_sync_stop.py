"""A list sync asked to stop (its run was cancelled) stops at the next batch boundary: no
batch is sent after it, the batches already sent are confirmed, the ledger holds exactly the
confirmed work (so the list equals its ledger), the outcomes of that work are written, and
the next sync makes the list exact, sending only what was not confirmed."""

from __future__ import annotations

import asyncio
from typing import Any

import pyarrow.parquet as pq
import pytest

from herald.destinations.base import SyncEvent
from herald.destinations.klaviyo_api.client import KlaviyoClient
from herald.destinations.klaviyo_api.sync import DeliveryResult, sync_list

pytestmark = pytest.mark.timeout(120)

Env = Any
BATCH = 20  # profiles per import batch: 200 joiners make 10 batches


def stopped_sync(
    env: Env, run_id: str, name: str, rows: list[dict[str, Any]], *, after: str | None,
    **options: Any,
) -> tuple[DeliveryResult, list[SyncEvent]]:  # fmt: skip
    """Sync ``rows`` to list ``name``, asked to stop once the first ``after`` event has come
    (None: from the start)."""
    delivery = env.delivery(run_id, name, rows, **options)
    events: list[SyncEvent] = []
    asked = [after is None]

    def progress(event: SyncEvent) -> None:
        events.append(event)
        if event.kind == after:
            asked[0] = True

    async def go() -> DeliveryResult:
        async with KlaviyoClient(env.settings()) as client:
            return await sync_list(
                client, env.store, delivery, progress=progress, stop=lambda: asked[0]
            )

    return asyncio.run(go()), events


def ledger(env: Env, name: str) -> dict[str, str]:
    """The list's ledger: key → email."""
    path = env.root / "lists" / "klaviyo" / f"{env.list_id(name)}.parquet"
    return {r["key"]: r["email"] for r in pq.read_table(path).to_pylist()}


def outcomes(result: DeliveryResult) -> dict[str, set[str]]:
    assert result.outcomes is not None
    found: dict[str, set[str]] = {}
    for row in pq.read_table(result.outcomes).to_pylist():
        found.setdefault(row["outcome"], set()).add(row["key"])
    return found


def test_a_stop_after_the_first_send_confirms_what_was_sent_and_sends_no_more(env: Env) -> None:
    run_id = env.new_run()
    rows = env.customers(range(200))

    result, events = stopped_sync(env, run_id, "List_B", rows, after="batch_sent",
                                  import_profiles=BATCH, jobs_in_flight=2)  # fmt: skip

    assert result.status == "cancelled"
    [record] = env.store.run_deliveries(run_id)
    assert record.status == "failed"
    assert record.error is not None
    assert record.error.startswith("cancelled: ")
    batches = env.store.batches(record.id)
    confirmed = [b for b in batches if b.status == "confirmed"]
    # With two jobs in flight, at most two sends began before the stop was seen.
    assert 1 <= len(confirmed) <= 2, batches
    assert {b.status for b in batches} == {"confirmed", "planned"}
    sent = [e for e in events if e.kind == "batch_sent"]
    assert len(sent) == len(confirmed)
    assert events[-1].kind == "cancelled"
    # The list holds exactly its ledger, and the ledger exactly the confirmed batches.
    kept = ledger(env, "List_B")
    assert len(kept) == sum(b.row_count for b in confirmed)
    assert env.members("List_B") == set(kept.values())
    assert outcomes(result)["sent"] == set(kept)
    assert result.counts["sent"] == len(kept)

    again = env.sync("List_B", rows, import_profiles=BATCH)

    assert again.status == "done"
    assert again.counts["adds"] == 200 - len(kept)  # the confirmed work is not sent again
    assert env.members("List_B") == env.emails(range(200))


def test_a_stop_before_the_sync_starts_sends_nothing(env: Env) -> None:
    run_id = env.new_run()

    result, events = stopped_sync(env, run_id, "List_C", env.customers(range(50)), after=None)

    assert result.status == "cancelled"
    assert [e.kind for e in events] == ["cancelled"]
    assert [k.name for k in env.server.state.lists()] == []  # not even looked up
    [record] = env.store.run_deliveries(run_id)
    assert record.status == "failed"
    assert record.error is not None
    assert "nothing sent" in record.error
    assert env.store.batches(record.id) == []


def test_a_stop_among_removes_starts_no_further_remove(env: Env) -> None:
    first = env.sync("List_A", env.customers(range(100)))
    assert first.status == "done"
    run_id = env.new_run()

    result, _ = stopped_sync(env, run_id, "List_A", env.customers(range(40)),
                             after="batch_confirmed", remove_ids=10, jobs_in_flight=1)  # fmt: skip

    assert result.status == "cancelled"
    [record] = env.store.run_deliveries(run_id)
    removed = env.store.batches(record.id, ["confirmed"])
    assert len(removed) == 1  # one remove at a time: the stop came after the first
    assert len(env.store.batches(record.id, ["planned"])) == 5
    kept = ledger(env, "List_A")
    assert len(kept) == 90
    assert env.members("List_A") == set(kept.values())

    again = env.sync("List_A", env.customers(range(40)))
    assert again.status == "done"
    assert env.members("List_A") == env.emails(range(40))
