"""List sync against the sandbox over HTTP: first sync, incremental sync, several lists."""

from __future__ import annotations

from typing import Any

Env = Any


def test_first_sync_fills_the_list_and_the_ledger(env: Env) -> None:
    events: list = []
    result = env.sync("Spring_A", env.customers(range(250)), events=events, import_profiles=100)

    assert result.status == "done"
    assert env.members("Spring_A") == env.emails(range(250))
    assert result.counts["adds"] == 250
    assert result.counts["sent"] == 250
    assert result.counts["ledger"] == 250
    assert [e.kind for e in events][:2] == ["started", "planned"]
    assert events[-1].kind == "done"
    assert sum(e.kind == "batch_sent" for e in events) == 3
    outcomes = env.rows(result.outcomes)
    assert {o["outcome"] for o in outcomes} == {"sent"}
    assert all(o["job_id"] for o in outcomes)
