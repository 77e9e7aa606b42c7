"""List sync through 5xx, 429 storms, dropped connections and latency: exact lists, and no
confirmed batch imported again."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from herald.sandbox import SandboxConfig

Env = Any
FAULTS = "5xx=0.1,429=0.05,storm=3,drop=0.03,latency=1-5ms,job_fail=0.05"


def jobs_by_batch(env: Env) -> dict[frozenset[str], list[float]]:
    """Creation times of the sandbox's import jobs, by the set of emails they imported."""
    state = env.server.state
    found: dict[frozenset[str], list[float]] = defaultdict(list)
    for job in state.jobs():
        if job.status == "complete":
            found[frozenset(state.profile(pid).email for pid in job.profile_ids)].append(
                job.created_at
            )
    return found


def assert_no_confirmed_batch_sent_again(env: Env, delivery_id: int) -> None:
    jobs = jobs_by_batch(env)
    delivery = env.store.get_delivery(delivery_id)
    folder = env.root / "runs" / delivery.run_id / delivery.list_name
    for batch in env.store.batches(delivery_id, ["confirmed"]):
        if batch.kind == "remove":
            continue
        rows = [
            r
            for r in env.rows(folder / f"{batch.kind}s.parquet")
            if batch.first_row <= r["row"] < batch.first_row + batch.row_count
        ]
        created = jobs[frozenset(r["email"] for r in rows)]
        assert created, f"batch {batch.seq} has no job"
        confirmed = batch.confirmed_at.timestamp()
        assert all(t <= confirmed for t in created), (
            f"batch {batch.seq} was imported after it was confirmed"
        )


@pytest.mark.parametrize(
    "sandbox_config", [SandboxConfig(limits="10", faults=FAULTS, seed=11, job_tick=0.01)]
)
def test_faults_do_not_change_the_final_list(env: Env) -> None:
    first = env.sync("Spring_A", env.customers(range(6_000)), import_profiles=500, remove_ids=300)
    assert first.status == "done", first.error
    assert env.members("Spring_A") == env.emails(range(6_000))

    second = env.sync(
        "Spring_A", env.customers(range(1_000, 7_000)), import_profiles=500, remove_ids=300
    )

    assert second.status == "done", second.error
    assert env.members("Spring_A") == env.emails(range(1_000, 7_000))
    assert second.counts["removed"] == 1_000
    counts = env.server.state.request_counts()
    assert any(status >= 500 for _, status in counts)  # the faults did happen
    assert any(status == 429 for _, status in counts)
    cancelled = [j for j in env.server.state.jobs() if j.status == "cancelled"]
    assert cancelled  # and some jobs failed and were sent again
    for result in (first, second):
        assert_no_confirmed_batch_sent_again(env, result.delivery_id)
