"""Kill a 200,000-profile list sync with SIGKILL at random moments and resume it each time:
the list ends exact, and no confirmed batch is ever imported again.

A kill moment is a random delay after a random point of the child's life: when it is ready,
when its plan is recorded, or after its first few batch events (the child prints each event).
Anchoring on progress rather than on the clock keeps every kill inside the sync on a machine
of any speed, and spreads them over planning, sending and confirming."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from herald.sandbox import SandboxConfig

Env = Any
PROFILES = 200_000
KILLS = 10
BATCH = 2_500  # 80 import batches

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from herald.destinations.klaviyo_api.client import KlaviyoClient
    from herald.destinations.klaviyo_api.configuration import KlaviyoSettings
    from herald.destinations.klaviyo_api.limits import limits_for
    from herald.destinations.klaviyo_api.sync import ListDelivery, SyncOptions, sync_list
    from herald.state import StateStore

    url, root, run_id, base_url, key = sys.argv[1:6]
    folder = Path(root) / "runs" / run_id / "Crash_List"
    spec = ListDelivery(run_id, "klaviyo", "All", "Crash_List", "Crash_List", folder, Path(root),
                        SyncOptions(poll_interval=0.1, jobs_in_flight=3,
                                    import_profiles=int(sys.argv[6])))
    settings = KlaviyoSettings(name="klaviyo", api_key=key, base_url=base_url,
                               limits=limits_for(scale=10), limits_scale=10,
                               max_wait=30, timeout=10)

    def say(event):
        print(event.kind, flush=True)

    async def main():
        print("ready", flush=True)  # imports done
        with StateStore.open(url) as store:
            async with KlaviyoClient(settings) as client:
                result = await sync_list(client, store, spec, progress=say)
        print(result.status, flush=True)
        return 0 if result.status == "done" else 3

    sys.exit(asyncio.run(main()))
    """
)


def child(env: Env, run_id: str) -> subprocess.Popen[bytes]:
    url = f"sqlite:///{env.root / 'state.db'}"
    from herald.sandbox import DEFAULT_API_KEY

    args = [
        sys.executable,
        "-c",
        CHILD,
        url,
        str(env.root),
        run_id,
        env.server.url,
        DEFAULT_API_KEY,
        str(BATCH),
    ]
    log = (env.root / "child.log").open("ab")
    try:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, cwd=os.getcwd())
    finally:
        log.close()  # the child has its own copy
    assert proc.stdout is not None
    return proc


def kill_moment(rng: random.Random) -> tuple[str, int, float]:
    """The event to wait for, how many of it, and the seconds to wait after the last one."""
    anchor = rng.choice(["ready", "planned", "batch_sent", "batch_confirmed"])
    count = rng.randint(1, 2) if anchor.startswith("batch") else 1
    return anchor, count, rng.uniform(0.0, 0.1 if anchor.startswith("batch") else 0.5)


def live_until(proc: subprocess.Popen[bytes], anchor: str, count: int, delay: float) -> bool:
    """Let the child run to the moment, then kill it; whether it finished first."""
    assert proc.stdout is not None
    seen = 0
    while seen < count:
        line = proc.stdout.readline()
        if not line:
            proc.wait()
            return True  # EOF: it ended before the anchor came
        seen += line.strip().decode() == anchor
    try:
        proc.wait(timeout=delay)
        return True
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return False


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("sandbox_config", [SandboxConfig(limits="off", job_tick=0.05, seed=5)])
def test_a_sync_killed_at_random_moments_resumes_to_the_exact_list(env: Env) -> None:
    rng = random.Random(2026)
    run_id = env.new_run()
    env.delivery(run_id, "Crash_List", env.customers(range(PROFILES)))  # inputs, written once
    kills: list[str] = []
    seen: set[str] = set()  # batch statuses found right after a kill
    while len(kills) < KILLS:
        proc = child(env, run_id)
        anchor, count, delay = kill_moment(rng)
        try:
            finished = live_until(proc, anchor, count, delay)
        finally:
            proc.stdout.close()  # type: ignore[union-attr]
            seen.update(
                b.status for d in env.store.run_deliveries(run_id) for b in env.store.batches(d.id)
            )
        if finished:
            break
        kills.append(f"{anchor}×{count}+{delay:.2f}s")
    started = time.monotonic()
    proc = child(env, run_id)
    proc.communicate(timeout=300)
    assert proc.returncode == 0, (env.root / "child.log").read_text()[-3_000:]
    assert len(kills) >= KILLS, f"the sync finished after {len(kills)} kills: {kills}"
    assert {"planned", "confirmed"} <= seen  # killed while planning, sending and confirming

    assert env.members("Crash_List") == env.emails(range(PROFILES))
    [delivery] = env.store.run_deliveries(run_id)
    assert delivery.status == "done"
    assert delivery.counts["sent"] == PROFILES
    assert delivery.counts["ledger"] == PROFILES
    batches = env.store.batches(delivery.id)
    assert {b.status for b in batches} == {"confirmed"}
    # Every job of a batch was created before the batch was confirmed: never re-sent after.
    state = env.server.state
    by_first: dict[str, list[float]] = {}
    for job in state.jobs():
        if job.status == "complete" and job.profile_ids:
            by_first.setdefault(state.profile(job.profile_ids[0]).email, []).append(job.created_at)
    folder = env.root / "runs" / run_id / "Crash_List"
    adds = {
        r["row"]: r["email"] for r in env.rows(folder / "adds.parquet") if r["row"] % BATCH == 0
    }
    for batch in batches:
        created = by_first[adds[batch.first_row]]
        assert all(t <= batch.confirmed_at.timestamp() for t in created), batch.seq
    print(f"kills at {kills}; final resume {time.monotonic() - started:.1f} s")
