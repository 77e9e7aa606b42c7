"""A run's lock: held while a process works on it, released when the process dies (kill -9)."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from herald.exceptions import StateError
from herald.runs.pipeline import resume_run
from herald.runs.resume import interrupted_runs, is_alive, run_lock
from herald.state import StateStore

HOLD = """
import sys, time
from pathlib import Path
from types import SimpleNamespace
from herald.runs.resume import run_lock
from herald.state import StateStore
root = Path(sys.argv[2])
ws = SimpleNamespace(state_dir=root, runs_dir=root / "runs", store=StateStore.open(sys.argv[1]))
with run_lock(ws, sys.argv[3]):
    print("locked", flush=True)
    time.sleep(60)
"""


@dataclass
class Env:
    """A workspace's ``.herald`` folder and its store, with a campaign to run."""

    store: StateStore
    root: Path
    url: str

    def new_run(self) -> str:
        as_of = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
        return self.store.create_run("spring", 1, as_of=as_of, pins={}).id


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    url = f"sqlite:///{tmp_path / '.herald' / 'state.db'}"
    store = StateStore.open(url)
    store.save_draft("campaign", "spring", {"v": 1})
    store.activate("campaign", "spring")
    yield Env(store, tmp_path / ".herald", url)
    store.close()


def test_a_running_run_with_a_dead_process_is_interrupted(tmp_path: Path, env: Any) -> None:
    ws = SimpleNamespace(state_dir=env.root, runs_dir=env.root / "runs", store=env.store)
    run_id = env.new_run()
    command = [sys.executable, "-c", HOLD, env.url, str(env.root), run_id]
    holder = subprocess.Popen(command, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"locked\n"
        assert is_alive(ws, run_id)  # type: ignore[arg-type]
        assert interrupted_runs(ws, "spring") == []  # type: ignore[arg-type]
        with pytest.raises(StateError, match="another process"), run_lock(ws, run_id):  # type: ignore[arg-type]
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 5
    while is_alive(ws, run_id) and time.monotonic() < deadline:  # type: ignore[arg-type]
        time.sleep(0.01)

    assert not is_alive(ws, run_id)  # type: ignore[arg-type]
    assert [r.id for r in interrupted_runs(ws, "spring")] == [run_id]  # type: ignore[arg-type]
    with run_lock(ws, run_id):  # type: ignore[arg-type]
        assert is_alive(ws, run_id)  # type: ignore[arg-type]


def test_only_a_running_run_can_be_resumed(env: Any) -> None:
    ws = SimpleNamespace(state_dir=env.root, runs_dir=env.root / "runs", store=env.store)
    run_id = env.new_run()
    env.store.finish_run(run_id, "delivered")

    with pytest.raises(StateError, match="nothing to resume"):
        resume_run(ws, run_id)  # type: ignore[arg-type]
