"""Several stores writing the same database at once never break the lifecycle."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from herald.exceptions import StateError
from herald.state import StateStore
from herald.state import _lifecycle as lc

ROUNDS = 12


def check_invariants(store: StateStore) -> None:
    """Versions are numbered 1..n with no gap, with at most one draft and one active."""
    for summary in store.list("segment"):
        versions = store.versions("segment", summary.name)
        assert [v.version for v in versions] == list(range(1, len(versions) + 1)), summary.name
        counts = Counter(v.status for v in versions)
        assert counts["draft"] <= 1, summary.name
        assert counts["active"] <= 1, summary.name
        assert summary.draft_version == next(
            (v.version for v in versions if v.status == "draft"), None
        )


def worker(
    store: StateStore, me: int, barrier: threading.Barrier, errors: list[BaseException]
) -> None:
    try:
        for n in range(ROUNDS):
            barrier.wait(timeout=60)
            # Both writers create the same new name at the same moment...
            store.save_draft("segment", f"race_{n}", {"by": me})
            # ...and edit and activate one shared name.
            store.save_draft("segment", "shared", {"by": me, "n": n})
            try:
                store.activate("segment", "shared")
            except StateError as err:  # the other writer activated our draft first
                if "no draft to activate" not in str(err):
                    raise
            store.apply("segment", "declared", {"same": True}, status="active")
    except BaseException as err:  # reported by the test, in the main thread
        errors.append(err)


def test_two_stores_writing_at_once(store, open_store):
    other = open_store()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=worker, args=(each, me, barrier, errors))
        for me, each in enumerate((store, other))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    check_invariants(store)
    assert len(store.versions("segment", "declared")) == 1
    assert all(len(store.versions("segment", f"race_{n}")) == 1 for n in range(ROUNDS))
    assert store.get("segment", "shared", "active").definition["n"] in (ROUNDS - 1, ROUNDS - 2)


_CHILD = """
import sys
from herald.state import StateStore
from herald.exceptions import StateError
with StateStore.open(sys.argv[1]) as store:
    for n in range(int(sys.argv[3])):
        store.save_draft("segment", "shared", {"by": sys.argv[2], "n": n})
        try:
            store.activate("segment", "shared")
        except StateError:
            pass
"""


def test_two_processes_on_one_sqlite_file(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    # Both processes also race to create the schema of the new file.
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD, url, str(me), "25"], stderr=subprocess.PIPE)
        for me in range(2)
    ]
    outcomes = [(child.communicate(timeout=120)[1], child.returncode) for child in children]

    assert outcomes == [(b"", 0), (b"", 0)]
    with StateStore.open(url) as store:
        check_invariants(store)
        assert store.get("segment", "shared", "active").status == "active"


@pytest.mark.postgres
def test_an_apply_that_finds_no_name_and_loses_the_race_keeps_one_version(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL each statement sees what committed before it: another writer can create
    # the name between apply's first look (none) and its save. The save must not add a
    # second, identical version beside the other writer's.
    first, second = StateStore.open(postgres_url), StateStore.open(postgres_url)
    original = lc.q.find_definition
    looks = []

    def racing(conn, kind, name, *, lock=False):  # type: ignore[no-untyped-def]
        found = original(conn, kind, name, lock=lock)
        looks.append(found)
        if len(looks) == 1:  # apply's first look: the other writer commits now
            other = threading.Thread(
                target=second.apply,
                args=("segment", "declared", {"same": True}),
                kwargs={"status": "active"},
            )
            other.start()
            other.join(timeout=60)
        return found

    monkeypatch.setattr(lc.q, "find_definition", racing)
    try:
        first.apply("segment", "declared", {"same": True}, status="active")
        monkeypatch.undo()
        assert looks[0] is None
        assert [v.version for v in first.versions("segment", "declared")] == [1]
    finally:
        first.close()
        second.close()
