"""Fault injection: each fault appears at its configured rate, deterministically for a seed."""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from herald.sandbox import FaultSpec, SandboxConfig, SandboxServer
from herald.sandbox.faults import FaultInjector


def _within(observed: int, n: int, share: float) -> bool:
    """Whether a count is within 4 standard deviations of n * share (binomial)."""
    sigma = math.sqrt(n * share * (1 - share))
    return abs(observed - n * share) <= 4 * sigma + 1


def test_spec_parses_every_fault() -> None:
    spec = FaultSpec.parse(
        "5xx=0.1,429=0.05,storm=3,latency=50ms,drop=0.01,timeout=0.01,hang=2s,job_fail=0.02"
    )
    assert spec == FaultSpec(
        error_5xx=0.1,
        throttle=0.05,
        storm=3,
        latency=(0.05, 0.05),
        drop=0.01,
        timeout=0.01,
        hang=2.0,
        job_fail=0.02,
    )
    assert FaultSpec.parse("latency=10-50ms").latency == (0.01, 0.05)
    assert not FaultSpec.parse("").active


@pytest.mark.parametrize("bad", ["5xx=2", "boom=0.1", "latency=fast", "429=x"])
def test_bad_spec_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=bad.split("=")[0]):
        FaultSpec.parse(bad)


def test_each_fault_appears_at_its_rate() -> None:
    spec = FaultSpec.parse("5xx=0.1,429=0.05,drop=0.02,timeout=0.03")
    injector = FaultInjector(spec, seed=11)
    n = 20_000
    seen: Counter[str | None] = Counter(injector.plan("get_lists").kind for _ in range(n))
    for kind, share in [("5xx", 0.1), ("429", 0.05), ("drop", 0.02), ("timeout", 0.03)]:
        assert _within(seen[kind], n, share), (kind, seen)


def test_5xx_statuses_are_spread_over_500_502_503_504() -> None:
    injector = FaultInjector(FaultSpec(error_5xx=1.0), seed=3)
    statuses = Counter(injector.plan("x").status for _ in range(4000))
    assert set(statuses) == {500, 502, 503, 504}
    assert all(_within(c, 4000, 0.25) for c in statuses.values())


def test_same_seed_same_faults_other_seed_other_faults() -> None:
    spec = FaultSpec.parse("5xx=0.2,429=0.1,latency=1-9ms")
    runs = [[FaultInjector(spec, seed).plan("op") for _ in range(300)] for seed in (5, 5, 6)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_429_storms_have_the_configured_length() -> None:
    injector = FaultInjector(FaultSpec(throttle=0.01, storm=5), seed=2)
    kinds = "".join("T" if injector.plan("op").kind == "429" else "." for _ in range(20_000))
    runs = [len(r) for r in kinds.split(".") if r]
    assert runs
    assert all(length % 5 == 0 for length in runs)  # back-to-back storms merge
    assert _within(kinds.count("T") // 5, 20_000, 0.01 * 0.96)


def test_storms_are_per_operation() -> None:
    injector = FaultInjector(FaultSpec(throttle=1.0, storm=3), seed=1)
    assert injector.plan("a").kind == "429"
    other = FaultInjector(FaultSpec(throttle=0.0, storm=3), seed=1)
    assert other.plan("b").kind is None


def test_job_failures_appear_at_their_rate() -> None:
    injector = FaultInjector(FaultSpec(job_fail=0.2), seed=9)
    assert _within(sum(injector.job_fails() for _ in range(5000)), 5000, 0.2)


def test_latency_range_is_uniform_within_bounds() -> None:
    injector = FaultInjector(FaultSpec.parse("latency=10-20ms"), seed=4)
    delays = [injector.plan("op").delay for _ in range(2000)]
    assert 0.01 <= min(delays) < 0.011
    assert 0.019 < max(delays) <= 0.02


# --- over HTTP --------------------------------------------------------------------------


def test_faults_over_http_appear_at_their_rates(kit: Any) -> None:
    faults = "5xx=0.15,429=0.1,drop=0.05,timeout=0.05,hang=0.4s"
    config = SandboxConfig(limits="off", job_tick=None, faults=faults, seed=21)
    n = 300
    seen: Counter[str] = Counter()
    with SandboxServer(config) as s, s.client(timeout=httpx.Timeout(5, read=0.2)) as c:
        for _ in range(n):
            seen[_outcome(c, kit)] += 1
    # Read the log after stopping: a timed-out request is logged when its hang ends.
    logged = Counter(rec.fault for rec in s.state.requests())
    assert sum(logged.values()) == n
    for kind, share in [("5xx", 0.15), ("429", 0.1), ("drop", 0.05), ("timeout", 0.05)]:
        assert _within(logged[kind], n, share), (kind, logged)
        # What the client saw matches; a stall on a busy machine may add a client timeout.
        low, high = (0, 3) if kind == "timeout" else (-2, 2)
        assert logged[kind] + low <= seen[kind] <= logged[kind] + high, (kind, seen, logged)


def _outcome(c: httpx.Client, kit: Any) -> str:
    try:
        r = c.get("/api/lists")
    except httpx.ReadTimeout:
        return "timeout"
    except httpx.RemoteProtocolError:
        return "drop"
    if r.status_code >= 500:
        assert kit.error_of(r)["code"] in ("error", "service_unavailable")
        return "5xx"
    if r.status_code == 429:
        assert r.headers["Retry-After"] == "1"
        assert kit.error_of(r)["code"] == "throttled"
        return "429"
    return str(r.status_code)


def test_added_latency_delays_every_request() -> None:
    config = SandboxConfig(limits="off", job_tick=None, faults="latency=30ms")
    with SandboxServer(config) as s, s.client() as c:
        c.get("/api/lists")
        start = time.perf_counter()
        for _ in range(5):
            assert c.get("/api/lists").status_code == 200
        assert time.perf_counter() - start >= 5 * 0.03


def test_failed_jobs_end_cancelled(kit: Any) -> None:
    config = SandboxConfig(limits="off", job_tick=None, faults="job_fail=0.5", seed=8)
    n = 60
    with SandboxServer(config) as s, s.client() as c:
        ids = [
            c.post(
                "/api/profile-bulk-import-jobs",
                content=kit.import_job([kit.profile(f"f{i}@example.com")]),
            ).json()["data"]["id"]
            for i in range(n)
        ]
        s.state.run_jobs()
        statuses = Counter(
            c.get(f"/api/profile-bulk-import-jobs/{i}").json()["data"]["attributes"]["status"]
            for i in ids
        )
        cancelled = [j for j in s.state.jobs() if j.status == "cancelled"]
    assert set(statuses) == {"complete", "cancelled"}
    assert _within(statuses["cancelled"], n, 0.5)
    assert all(j.failed_count == j.total_count == 1 for j in cancelled)


def test_faults_can_target_operations_after_some_requests_and_answer_a_4xx() -> None:
    spec = FaultSpec.parse("4xx=1,status=418,only=bulk_import_profiles+create_list,after=2")
    assert (spec.error_4xx, spec.status, spec.after) == (1.0, 418, 2)
    assert spec.only == {"bulk_import_profiles", "create_list"}
    injector = FaultInjector(spec, seed=1)
    assert injector.plan("get_lists").kind is None  # not a targeted operation
    plans = [injector.plan("bulk_import_profiles") for _ in range(2)]
    plans += [injector.plan("create_list") for _ in range(2)]
    assert [(p.kind, p.status) for p in plans] == [(None, 0), (None, 0), ("4xx", 418), ("4xx", 418)]
    with pytest.raises(ValueError, match="status"):
        FaultSpec.parse("status=503")


def test_an_injected_4xx_is_a_klaviyo_error_document(kit: Any) -> None:
    config = SandboxConfig(limits="off", job_tick=None, faults="4xx=1,status=418,only=get_lists")
    with SandboxServer(config) as s, s.client() as c:
        r = c.get("/api/lists")
        assert r.status_code == 418
        assert kit.error_of(r)["status"] == 418
        assert c.get("/api/profiles").status_code == 200
