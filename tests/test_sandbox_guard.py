"""The zero-violations check of tests/conftest.py fails a test whose sandbox saw a request that
breaks Klaviyo's spec, and lets a test marked ``sandbox_violations`` through."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).with_name("conftest.py")

TESTS = """
import pytest
from herald.sandbox import SandboxConfig, SandboxServer

BAD = b'{"data": {"type": "list"}}'  # the scope probe every run used to send


@pytest.fixture
def server():
    with SandboxServer(SandboxConfig(limits="off", job_tick=None)) as running:
        yield running


def test_sends_a_bad_body(server):
    with server.client() as c:
        assert c.post("/api/lists", content=BAD).status_code == 400


@pytest.mark.sandbox_violations
def test_sends_a_bad_body_on_purpose(server):
    with server.client() as c:
        assert c.post("/api/lists", content=BAD).status_code == 400


def test_sends_nothing_bad(server):
    with server.client() as c:
        assert c.get("/api/lists").status_code == 200
"""


def test_a_violation_fails_the_test_that_caused_it(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    for helper in ("postgres_server.py", "ports.py"):  # the conftest imports them
        shutil.copy(CONFTEST.parent / helper, tmp_path)
    (tmp_path / "test_guarded.py").write_text(TESTS)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 1, out
    assert "3 passed, 1 error" in out, out
    assert "ERROR at teardown of test_sends_a_bad_body " in out, out
    assert "the sandbox recorded 1 request(s) that break Klaviyo's spec" in out
    assert "POST /api/lists 400 at '/data/attributes': 'attributes' is a required field." in out
