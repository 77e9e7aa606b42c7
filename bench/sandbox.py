"""Capacity of the Klaviyo sandbox: bulk import requests of 10,000 profiles, and job throughput.

Three measurements, each on a fresh sandbox:

1. accept: the sandbox runs in its own process (the CLI, limits off, validation on) with its job
   worker parked; this process fires the requests over loopback from a few threads. This is the
   cost of taking a request in (HTTP, JSON, validation, queueing the job).
2. end to end: the same with the worker on (``--job-tick``); the clock runs from the first
   request until every job is complete.
3. worker: the job worker's throughput alone, in a child process (no HTTP): the jobs are queued
   through ``SandboxState.create_job`` and processed with ``SandboxState.work`` in slices of
   ``JOB_SLICE``, as the background worker does.

``--before DIR`` runs the same measurements against an earlier copy of the code (a directory
holding the ``herald`` package, e.g. a ``git worktree`` of an earlier revision) and reports both.

Usage: python bench/sandbox.py [--requests 101] [--threads 4] [--profiles 10000] [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, write_section

REPO = Path(__file__).resolve().parents[1]
KEY = "pk_sandbox_herald_0000000000000000"
HEADERS = {
    "Authorization": f"Klaviyo-API-Key {KEY}",
    "revision": "2026-07-15",
    "content-type": "application/vnd.api+json",
}
KLAVIYO_STEADY = 150 / 60  # the same endpoint's steady limit, per second
KLAVIYO_BURST = 10  # bulk_import_profiles: 10/s burst, 150/m steady (spec x-klaviyo-ratelimit)
PARKED = 10_000.0  # a job tick that keeps the worker from running during the accept test
TARGETS = {"accept": 30.0, "worker": 250_000.0, "e2e": 9.0}

#: The sandbox before its fast bulk-import path, measured with ``--before`` on 2026-11-28 on
#: the machine of docs/benchmarks.md: quoted (not re-measured) by runs without ``--before``.
EARLIER = {
    "label": "before (earlier run, 2026-11-28)",
    "accept_rate": 21.3,
    "accept_p50": 0.168,
    "accept_p95": 0.325,
    "accept_cpu": 0.046,
    "worker_rate": 110_087.0,
    "worker_best": 114_871.0,
    "e2e_seconds": 15.5,
    "e2e_accepted": 5.8,
    "e2e_cpu": 15.5,
    "peak_rss": 1_621_630_976.0,
}
#: The run ``EARLIER`` is from: requests, profiles per request, audience, worker test jobs.
EARLIER_SHAPE = (101, 10_000, 1_010_000, 30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(src: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(src)}


def start_server(src: Path, port: int, job_tick: float) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "herald.cli.sandbox", "klaviyo", "--port", str(port),
        "--limits", "off", "--log-level", "warning", "--job-tick", str(job_tick),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=src, env=_env(src))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/__sandbox__/state", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the sandbox did not start")


def make_profiles(r: int, size: int, audience: int) -> list[dict[str, object]]:
    """Request ``r``'s profiles: people ``r * size …`` of the audience (wrapping around)."""
    start = (r * size) % audience
    return [
        {
            "type": "profile",
            "attributes": {
                "email": f"customer{(start + i) % audience}@example.com",
                "external_id": f"C{(start + i) % audience:09d}",
                "first_name": "Alex",
                "last_name": "Doe",
                "properties": {"tier": "gold", "ltv": 123.45, "segment": "winback-2026"},
            },
        }
        for i in range(size)
    ]


def make_body(r: int, size: int, audience: int, list_id: str) -> bytes:
    doc = {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {"profiles": {"data": make_profiles(r, size, audience)}},
            "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}},
        }
    }
    return json.dumps(doc).encode()


class PeakRss:
    """Samples a process's resident memory every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


@dataclass
class Fired:
    """One burst of requests: when it started and ended, each latency, every status."""

    started: float
    accepted: float
    latencies: list[float]
    statuses: list[int]


def fire_all(base: str, bodies: list[bytes], threads: int) -> Fired:
    latencies: list[float] = []
    local = threading.local()

    def fire(body: bytes) -> int:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base, headers=HEADERS, timeout=120)
        t = time.perf_counter()
        status = local.client.post("/api/profile-bulk-import-jobs", content=body).status_code
        latencies.append(time.perf_counter() - t)
        return status

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        statuses = list(pool.map(fire, bodies))
    return Fired(t0, time.perf_counter(), sorted(latencies), statuses)


def wait_for_jobs(base: str, timeout: float = 300) -> float:
    """Poll until no job is queued or processing; returns when that was seen."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base, timeout=60) as c:
        while any(
            j["status"] in ("queued", "processing") for j in c.get("/__sandbox__/jobs").json()
        ):
            if time.monotonic() > deadline:
                raise SystemExit(f"jobs did not complete within {timeout:.0f} s")
            time.sleep(0.02)
    return time.perf_counter()


def serve_and_fire(
    src: Path, job_tick: float, requests: int, threads: int, size: int, audience: int
) -> dict[str, float]:
    """Start a sandbox from ``src``, fire the requests, wait for the jobs when the worker runs."""
    port = free_port()
    server = start_server(src, port, job_tick)
    base = f"http://127.0.0.1:{port}"
    try:
        rss = PeakRss(server.pid)
        with httpx.Client(base_url=base, headers=HEADERS) as c:
            list_id = c.post(
                "/api/lists", json={"data": {"type": "list", "attributes": {"name": "bench"}}}
            ).json()["data"]["id"]
        bodies = [make_body(r, size, audience, list_id) for r in range(requests)]
        cpu0 = sum(rss.proc.cpu_times()[:2])
        fired = fire_all(base, bodies, threads)
        done = wait_for_jobs(base) if job_tick != PARKED else fired.accepted
        cpu = sum(rss.proc.cpu_times()[:2]) - cpu0
        state = httpx.get(f"{base}/__sandbox__/state", timeout=60).json()
        peak = rss.stop()
    finally:
        server.terminate()
        server.wait(10)
    assert all(s == 202 for s in fired.statuses), sorted(set(fired.statuses))
    lat = fired.latencies
    expected = min(audience, requests * size)
    assert job_tick == PARKED or state["lists"][list_id]["members"] == expected, state["lists"]
    return {
        "rate": requests / (fired.accepted - fired.started),
        "accepted": fired.accepted - fired.started,
        "p50": statistics.median(lat),
        "p95": lat[int(0.95 * (len(lat) - 1))],
        "done": done - fired.started,
        "cpu": cpu,
        "profiles": state["profiles"],
        "peak_rss": peak,
        "mb": sum(map(len, bodies)) / len(bodies) / 1e6,
    }


# --- the worker alone, in a child process (so that --before can import the old code) ------


def worker_only(jobs: int, size: int, audience: int) -> dict[str, float]:
    """Queue ``jobs`` parsed bodies and run the worker's slices until all jobs are complete.

    As in the sandbox's own process (``herald.sandbox.server.serve``): its GC thresholds, and
    ``Sandbox.settle`` after each slice where the code has it; jobs made as the bulk import
    handler makes them (``owned`` payloads where the code has that).
    """
    import gc
    import inspect

    from herald.sandbox.app import JOB_SLICE, Sandbox
    from herald.sandbox.config import SandboxConfig

    try:  # parse as the handler does
        from herald.sandbox.decode import loads
    except ImportError:
        loads = json.loads  # type: ignore[assignment]

    gc.set_threshold(50_000, 20, 100)
    sandbox = Sandbox(SandboxConfig(job_tick=None))
    settle = getattr(sandbox, "settle", lambda: None)
    sandbox.freeze_gc = True
    state = sandbox.state
    owned = {"owned": True} if "owned" in inspect.signature(state.create_job).parameters else {}
    target = state.create_list("bench", None)
    for r in range(jobs):
        profiles = loads(make_body(r, size, audience, target.id))["data"]["attributes"]
        # Bodies over 100 KB make the job check each profile's size (see bulk_import_profiles).
        state.create_job(profiles["profiles"]["data"], [target.id], max_item_bytes=100_000, **owned)
    settle()  # the handler settles each parsed body
    t0 = time.perf_counter()
    while state.work(JOB_SLICE):
        settle()
    seconds = time.perf_counter() - t0
    assert len(target.members) == min(audience, jobs * size)
    return {"rate": jobs * size / seconds, "seconds": seconds}


def run_worker(src: Path, jobs: int, size: int, audience: int) -> dict[str, float]:
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--worker-only",
        "--requests", str(jobs), "--profiles", str(size), "--audience", str(audience),
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=src, env=_env(src), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure(src: Path, label: str, args: argparse.Namespace) -> dict[str, object]:
    shape = (args.requests, args.threads, args.profiles, args.audience)
    print(f"{label}: accept …", file=sys.stderr, flush=True)
    accept = serve_and_fire(src, PARKED, *shape)
    print(f"{label}: end to end …", file=sys.stderr, flush=True)
    e2e = serve_and_fire(src, args.job_tick, *shape)
    print(f"{label}: worker …", file=sys.stderr, flush=True)
    # Short and memory-bound, so the most sensitive to neighbours on a shared machine: repeat.
    rates = sorted(
        run_worker(src, args.worker_jobs, args.profiles, args.audience)["rate"]
        for _ in range(args.worker_runs)
    )
    result: dict[str, object] = {
        "label": label,
        "accept_rate": accept["rate"],
        "accept_p50": accept["p50"],
        "accept_p95": accept["p95"],
        "accept_cpu": accept["cpu"] / args.requests,
        "worker_rate": statistics.median(rates),
        "worker_best": rates[-1],
        "e2e_seconds": e2e["done"],
        "e2e_accepted": e2e["accepted"],
        "e2e_cpu": e2e["cpu"],
        "peak_rss": e2e["peak_rss"],
        "mb": accept["mb"],
        "profiles": e2e["profiles"],
    }
    print(json.dumps(result), file=sys.stderr, flush=True)
    return result


# --- the report -----------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def table(results: list[dict[str, object]], args: argparse.Namespace) -> list[str]:
    total = args.requests * args.profiles
    cols = " | ".join(str(r["label"]) for r in results)
    rows = [f"| metric | {cols} |", "|---" * (len(results) + 1) + "|"]

    def row(name: str, fmt: object) -> None:
        cells = " | ".join(fmt(r) if callable(fmt) else "" for r in results)  # type: ignore[operator]
        rows.append(f"| {name} | {cells} |")

    def num(r: dict[str, object], key: str) -> float:
        return float(r[key])  # type: ignore[arg-type]

    row("accepted (202), worker parked", lambda r: f"{num(r, 'accept_rate'):.1f} req/s")
    row(
        "accept latency p50 / p95",
        lambda r: f"{num(r, 'accept_p50') * 1000:.0f} ms / {num(r, 'accept_p95') * 1000:.0f} ms",
    )
    row("server CPU per accepted request", lambda r: f"{num(r, 'accept_cpu') * 1000:.0f} ms")
    row(
        f"ratio to Klaviyo's burst limit ({KLAVIYO_BURST}/s)",
        lambda r: f"{num(r, 'accept_rate') / KLAVIYO_BURST:.2f}x",
    )
    row(
        f"job worker alone (no HTTP), median (best) of {args.worker_runs}",
        lambda r: f"{num(r, 'worker_rate'):,.0f} ({num(r, 'worker_best'):,.0f}) profiles/s",
    )
    row(
        "end to end: all 202s received after",
        lambda r: f"{num(r, 'e2e_accepted'):.1f} s",
    )
    row(
        f"end to end: all {args.requests} jobs complete after",
        lambda r: (
            f"{num(r, 'e2e_seconds'):.1f} s ({total / num(r, 'e2e_seconds'):,.0f} profiles/s)"
        ),
    )
    row("end to end: server CPU", lambda r: f"{num(r, 'e2e_cpu'):.1f} s")
    row(
        f"end-to-end ratio to the steady limit ({KLAVIYO_STEADY * args.profiles:,.0f} profiles/s)",
        lambda r: f"{total / num(r, 'e2e_seconds') / (KLAVIYO_STEADY * args.profiles):.1f}x",
    )
    row("server peak RSS (end to end)", lambda r: f"{num(r, 'peak_rss') / 2**20:,.0f} MiB")
    return rows


def targets(now: dict[str, object], args: argparse.Namespace) -> list[str]:
    accept, worker, e2e = (float(now[k]) for k in ("accept_rate", "worker_rate", "e2e_seconds"))  # type: ignore[arg-type]
    return [
        "| target (this revision) | value | verdict |",
        "|---|---|---|",
        f"| accept ≥ {TARGETS['accept']:.0f} req/s | {accept:.1f} req/s | "
        f"{_verdict(accept >= TARGETS['accept'])} |",
        f"| worker ≥ {TARGETS['worker']:,.0f} profiles/s (median) | {worker:,.0f} profiles/s | "
        f"{_verdict(worker >= TARGETS['worker'])} |",
        f"| {args.requests} × {args.profiles:,} profiles complete ≤ {TARGETS['e2e']:.0f} s | "
        f"{e2e:.1f} s | {_verdict(e2e <= TARGETS['e2e'])} |",
    ]


def report(results: list[dict[str, object]], args: argparse.Namespace, measured: bool) -> str:
    now = results[0]
    new = args.audience >= args.requests * args.profiles
    audience = (
        "every profile new"
        if new
        else f"drawn from an audience of {args.audience:,}, so later jobs update earlier profiles"
    )
    before = (
        f"`before` ran the same measurements against {args.before_note or f'`{args.before}`'}."
        if measured
        else "`before` quotes an earlier run of this benchmark with `--before` (not re-measured)."
    )
    command = (
        f"python bench/sandbox.py --requests {args.requests} --threads {args.threads} "
        f"--profiles {args.profiles}" + (" --before DIR" if measured else "")
    )
    return "\n".join(
        [
            "## Klaviyo sandbox: bulk import capacity",
            "",
            f"Command: `{command}`",
            "",
            f"Machine: {machine()} (shared with other work: repeated runs vary by up to "
            "±20 %). Server: `herald sandbox klaviyo --limits off` in its own process (uvicorn, "
            f"one worker), request validation on, job tick {args.job_tick} s; client: httpx "
            f"over loopback, {args.threads} threads, in another process, requests fired back "
            "to back.",
            "",
            f"Data: {args.requests} `POST /api/profile-bulk-import-jobs` requests of "
            f"{args.profiles:,} profiles each ({now['mb']:.2f} MB per request; email, "
            f"external_id, names, 3 custom properties; {audience}), all to one list. The worker "
            f"test queues {args.worker_jobs} such jobs in process and times "
            "`SandboxState.work` until they are complete.",
            "",
            *table(results, args),
            "",
            *targets(now, args),
            "",
            f"{before} Accept: the job worker is parked, so this is the cost of taking requests "
            "in (HTTP, JSON, validation, queueing). End to end: from the first request until the "
            "sandbox reports every job complete (polled every 20 ms); the worker shares the one "
            f"GIL with the requests. Profiles in the sandbox at the end: {int(now['profiles']):,}.",  # type: ignore[call-overload]
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=101)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument(
        "--audience", type=int, default=0, help="distinct people (default: every profile new)"
    )
    parser.add_argument("--job-tick", type=float, default=0.05)
    parser.add_argument("--worker-jobs", type=int, default=30, help="jobs in the worker test")
    parser.add_argument("--worker-runs", type=int, default=5, help="repeats of the worker test")
    parser.add_argument("--before", type=Path, help="a directory with an earlier herald package")
    parser.add_argument("--before-note", help="what --before is, for the report")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--worker-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.audience = args.audience or args.requests * args.profiles
    if args.worker_only:
        print(json.dumps(worker_only(args.requests, args.profiles, args.audience)))
        return
    results = [measure(REPO, "this revision", args)]
    if args.before is not None:
        results.append(measure(args.before.resolve(), "before", args))
    elif (args.requests, args.profiles, args.audience, args.worker_jobs) == EARLIER_SHAPE:
        results.append(dict(EARLIER))  # the earlier figures hold for this shape only
    text = report(results, args, measured=args.before is not None)
    print(text)
    if not args.no_write:
        write_section("sandbox", text)


if __name__ == "__main__":
    main()
