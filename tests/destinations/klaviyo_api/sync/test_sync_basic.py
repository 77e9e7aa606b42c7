"""List sync against the sandbox over HTTP: first sync, incremental sync, several lists."""

from __future__ import annotations

from typing import Any

import pytest

from herald.sandbox import SandboxConfig

Env = Any


def test_first_sync_fills_the_list_and_the_ledger(env: Env) -> None:
    events: list = []
    result = env.sync("Spring_A", env.customers(range(250)), events=events, import_profiles=100)

    assert result.status == "done"
    assert env.members("Spring_A") == env.emails(range(250))
    assert result.counts["adds"] == 250
    assert result.counts["sent"] == 250
    assert result.counts["ledger"] == 250
    assert [e.kind for e in events][:3] == ["started", "diffed", "planned"]
    assert events[-1].kind == "done"
    assert sum(e.kind == "batch_sent" for e in events) == 3
    outcomes = env.rows(result.outcomes)
    assert {o["outcome"] for o in outcomes} == {"sent"}
    assert all(o["job_id"] for o in outcomes)


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(limits="off", job_tick=0.05, seed=3)])
def test_polling_settles_many_jobs_with_one_listing_per_round(env: Env) -> None:
    """Jobs are polled in rounds: one listing of the newest jobs, with status and counts,
    settles every job of ours in it; a job is fetched alone only when it is the last one."""
    result = env.sync(
        "Polled", env.customers(range(1_200)), import_profiles=100, poll_interval=0.05
    )

    assert result.status == "done"
    assert env.members("Polled") == env.emails(range(1_200))
    counts = env.server.state.request_counts()
    assert counts[("bulk_import_profiles", 202)] == 12
    assert counts.get(("get_bulk_import_profiles_job", 200), 0) <= 2  # only while one was left
    assert counts.get(("get_bulk_import_profiles_jobs", 200), 0) >= 1


def test_an_email_that_moves_to_another_customer_stays_in_the_list(env: Env) -> None:
    """The old owner's remove and the new owner's add are one Klaviyo profile: the remove
    must go first, so the two are not sent at the same time."""
    env.sync("Moves", env.customers(range(10)))
    rows = env.customers([k for k in range(20) if k != 3])
    rows.append({**env.customers([3])[0], "amperity_id": "k9999999", "first": "New owner"})
    result = env.sync("Moves", rows)

    assert result.status == "done"
    assert env.members("Moves") == env.emails(range(20))


LATENCY = 1.0
# A second per request: a request that waited for another's answer starts a second later,
# far from the noise of a loaded machine (tests in parallel, Spark's JVMs), which reached
# 0.36 s at a latency of 0.3 s.
SLOW = SandboxConfig(limits="off", faults=f"latency={int(LATENCY * 1000)}ms", seed=1)


def _started(env: Env, operation: str) -> float:
    """When the sandbox answered the last request of ``operation`` (after the added latency)."""
    return max(r.time for r in env.server.state.requests() if r.operation == operation)


@pytest.mark.parametrize("sandbox_config", [SLOW])
def test_removes_and_adds_sharing_a_phone_go_one_after_the_other(env: Env) -> None:
    """A leaving customer's phone now belongs to a new one: Klaviyo may match the two as one
    profile, so the remove is sent before the add, never beside it."""
    assert env.sync("Phones", env.customers(range(10), phones=True)).status == "done"
    rows = env.customers(range(1, 10), phones=True)
    rows += env.customers([10_000], phones=True)  # c10000@…, with the phone of customer 0
    result = env.sync("Phones", rows)

    assert result.status == "done"
    assert (result.counts["removes"], result.counts["adds"]) == (1, 1)
    gap = _started(env, "bulk_import_profiles") - _started(env, "remove_profiles_from_list")
    assert gap >= LATENCY / 2  # the import waited for the remove's answer
    assert "c0@example.com" not in env.members("Phones")


@pytest.mark.parametrize("sandbox_config", [SLOW])
def test_removes_and_adds_of_different_profiles_go_together(env: Env) -> None:
    assert env.sync("Together", env.customers(range(10))).status == "done"
    result = env.sync("Together", env.customers(range(1, 11)))

    assert result.status == "done"
    assert (result.counts["removes"], result.counts["adds"]) == (1, 1)
    gap = _started(env, "bulk_import_profiles") - _started(env, "remove_profiles_from_list")
    assert abs(gap) < LATENCY / 2  # neither waited for the other
    assert env.members("Together") == env.emails(range(1, 11))
