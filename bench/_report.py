"""Write one benchmark's section of docs/benchmarks.md, leaving the other sections alone."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\nEach section is rewritten by the benchmark named in it. "
    "Numbers are from one run.\n"
)


def machine() -> str:
    """A one-line description of this machine: CPU model, cores, memory, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, Python {platform.python_version()}"


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``name`` of docs/benchmarks.md with ``body``."""
    text = REPORT.read_text() if REPORT.exists() else HEADER
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    section = f"{begin}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else f"{text.rstrip()}\n\n{section}\n"
    )
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text)


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Min and median of wall and CPU seconds over the rounds, and the highest peak RSS."""
    walls, cpus = [r["wall"] for r in runs], [r["cpu"] for r in runs]
    return {
        "wall_min": min(walls),
        "wall_median": statistics.median(walls),
        "cpu_min": min(cpus),
        "cpu_median": statistics.median(cpus),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
    }


DATA = Path(__file__).resolve().parent / ".data"


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_peak_rss_mb(pid: int) -> float | None:
    """The peak resident memory of a running process (``VmHWM``), None once it has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def demo_database(customers: int, as_of: object, *, seed: int = 7, items: bool = False) -> Path:
    """A demo database for benchmarks, generated once into bench/.data/ and reused.

    It is generated in a child process: Linux carries a process's peak RSS over to the
    children it forks, so generating in the benchmark's own process would make every side it
    later measures in a child report the generator's peak.
    """
    path = DATA / f"bench-{customers}-seed{seed}-{as_of}.duckdb"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        print(f"generating {customers:,} customers into {path} …", flush=True)
        script = (
            "import datetime as dt, sys\n"
            "from herald.demo.generate import generate_demo_database\n"
            "s = generate_demo_database(sys.argv[1], customers=int(sys.argv[2]), "
            "seed=int(sys.argv[3]), as_of=dt.date.fromisoformat(sys.argv[4]), "
            "items=sys.argv[5] == '1')\n"
            "print(f'  done in {s.seconds:.0f} s: {dict(s.rows)}')\n"
        )
        arguments = [str(path), str(customers), str(seed), str(as_of), "1" if items else "0"]
        subprocess.run([sys.executable, "-c", script, *arguments], check=True)
    return path


def run_child(script: str, *arguments: str) -> dict[str, Any]:
    """Run ``script`` (a bench) again in a fresh process with ``arguments``; the JSON object
    its last line of output prints. A fresh process has a peak RSS of its own: Linux carries
    a process's peak over to the children it forks, so the parent stays small."""
    done = subprocess.run(
        [sys.executable, script, *arguments], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(arguments[:2])} failed:\n{done.stderr[-3000:]}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found
