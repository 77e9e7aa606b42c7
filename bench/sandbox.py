"""Capacity of the Klaviyo sandbox: bulk import requests of 10,000 profiles per second.

The sandbox runs in its own process (the CLI, limits off, validation on); this process fires
the requests over loopback from a few threads, then waits for every job to complete.

Usage: python bench/sandbox.py [--requests 40] [--threads 4] [--profiles 10000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, write_section

KEY = "pk_sandbox_herald_0000000000000000"
HEADERS = {
    "Authorization": f"Klaviyo-API-Key {KEY}",
    "revision": "2026-07-15",
    "content-type": "application/vnd.api+json",
}
HAS_ORJSON = importlib.util.find_spec("orjson") is not None
ORJSON_NOTE = "installed (used for the per-profile size check)" if HAS_ORJSON else "not installed"
KLAVIYO_STEADY = 150 / 60  # the same endpoint's steady limit, per second
KLAVIYO_BURST = 10  # bulk_import_profiles: 10/s burst, 150/m steady (spec x-klaviyo-ratelimit)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, job_tick: float) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "herald.cli.sandbox",
        "klaviyo",
        "--port",
        str(port),
        "--limits",
        "off",
        "--log-level",
        "warning",
        "--job-tick",
        str(job_tick),
    ]
    proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[1])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/__sandbox__/state", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the sandbox did not start")


def make_bodies(n: int, size: int, list_id: str) -> list[bytes]:
    """n job bodies of ``size`` profiles drawn from an audience of 10 x size people."""
    audience = 10 * size
    bodies = []
    for r in range(n):
        start = (r * size) % audience
        profiles = [
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
        doc = {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": {"data": profiles}},
                "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}},
            }
        }
        bodies.append(json.dumps(doc).encode())
    return bodies


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


def run(requests: int, threads: int, size: int, job_tick: float = 0.05) -> str:
    port = free_port()
    server = start_server(port, job_tick)
    base = f"http://127.0.0.1:{port}"
    try:
        rss = PeakRss(server.pid)
        with httpx.Client(base_url=base, headers=HEADERS) as c:
            list_id = c.post(
                "/api/lists", json={"data": {"type": "list", "attributes": {"name": "bench"}}}
            ).json()["data"]["id"]
        bodies = make_bodies(requests, size, list_id)
        mb = sum(map(len, bodies)) / len(bodies) / 1e6
        latencies: list[float] = []
        local = threading.local()

        def fire(body: bytes) -> int:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=base, headers=HEADERS, timeout=60)
            t = time.perf_counter()
            status = local.client.post("/api/profile-bulk-import-jobs", content=body).status_code
            latencies.append(time.perf_counter() - t)
            return status

        t0 = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            statuses = list(pool.map(fire, bodies))
        accepted = time.perf_counter() - t0
        print(f"accepted {requests / accepted:.1f} req/s", file=sys.stderr)
        deadline = time.monotonic() + 120
        while any(
            j["status"] in ("queued", "processing")
            for j in httpx.get(f"{base}/__sandbox__/jobs", timeout=30).json()
        ):
            if time.monotonic() > deadline:
                raise SystemExit("jobs did not complete within 120 s")
            time.sleep(0.1)
        drained = time.perf_counter() - t0
        state = httpx.get(f"{base}/__sandbox__/state", timeout=30).json()
        peak = rss.stop()
    finally:
        server.terminate()
        server.wait(10)
    assert all(s == 202 for s in statuses), statuses
    lat = sorted(latencies)
    rate = requests / accepted
    return "\n".join(
        [
            "## Klaviyo sandbox: bulk import capacity",
            "",
            f"Command: `python bench/sandbox.py --requests {requests} --threads {threads} "
            f"--profiles {size}`",
            "",
            f"Machine: {machine()}. Server: `herald sandbox klaviyo --limits off` in its own "
            "process (uvicorn, one worker), request validation on; client: httpx over loopback, "
            f"{threads} threads, in another process. orjson "
            f"{ORJSON_NOTE}.",
            "",
            f"Data: {requests} `POST /api/profile-bulk-import-jobs` requests of {size:,} profiles "
            f"each ({mb:.2f} MB per request; email, external_id, names, 3 custom properties), "
            f"drawn from an audience of {10 * size:,}, so later jobs update earlier profiles.",
            "",
            "| metric | value |",
            "|---|---|",
            f"| accepted (202) | {rate:.1f} req/s ({rate * size:,.0f} profiles/s) |",
            f"| ratio to Klaviyo's burst limit for this endpoint ({KLAVIYO_BURST}/s) | "
            f"{rate / KLAVIYO_BURST:.2f}x |",
            f"| latency p50 / p95 | {statistics.median(lat) * 1000:.0f} ms / "
            f"{lat[int(0.95 * (len(lat) - 1))] * 1000:.0f} ms |",
            f"| all jobs complete after | {drained:.1f} s ({requests * size / drained:,.0f} "
            "profiles/s end to end) |",
            f"| end-to-end ratio to the steady limit (150/m = {KLAVIYO_STEADY * size:,.0f} "
            f"profiles/s) | {requests * size / drained / (KLAVIYO_STEADY * size):.1f}x |",
            f"| profiles in the sandbox at the end | {state['profiles']:,} |",
            f"| server peak RSS | {peak / 2**20:.0f} MiB |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--job-tick", type=float, default=0.05)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    report = run(args.requests, args.threads, args.profiles, args.job_tick)
    print(report)
    if not args.no_write:
        write_section("sandbox", report)


if __name__ == "__main__":
    main()
