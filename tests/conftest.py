"""Shared fixtures: a small demo database, made once per test session; a PostgreSQL server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from postgres_server import postgres_database_url, postgres_server_url, postgres_url

AS_OF = dt.date(2026, 6, 30)

__all__ = ["postgres_database_url", "postgres_server_url", "postgres_url"]  # fixtures for all


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3,000-customer demo database (seed 11, as of 2026-06-30), read-only for tests."""
    from herald.demo.generate import generate_demo_database

    path = tmp_path_factory.mktemp("demo") / "customers.duckdb"
    generate_demo_database(path, customers=3_000, seed=11, as_of=AS_OF)
    return path


# --- no request a test makes Herald send may break Klaviyo's spec ---------------------------

#: Sandboxes started during the session that may still record violations.
_SANDBOXES: list[Any] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sandbox_violations: the test sends requests that break Klaviyo's spec to a sandbox on "
        "purpose, so its sandboxes' violations are not checked",
    )


@pytest.fixture(scope="session", autouse=True)
def _track_sandboxes() -> Iterator[list[Any]]:
    """Note every ``SandboxServer`` started in this session, by a fixture or by Herald itself
    (``herald demo`` starts one in-process)."""
    from herald.sandbox import SandboxServer

    start = SandboxServer.start

    def tracked(self: SandboxServer, *args: Any, **kwargs: Any) -> SandboxServer:
        _SANDBOXES.append(self)
        return start(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SandboxServer, "start", tracked)
        yield _SANDBOXES


@pytest.fixture
def sandbox_violations_allowed() -> bool:
    """Whether this test's sandboxes may record spec violations (tests/sandbox/ says yes)."""
    return False


@pytest.fixture
def started_sandboxes(_track_sandboxes: list[Any]) -> list[Any]:
    """The ``SandboxServer``s started so far in the session (the last is the newest)."""
    return _track_sandboxes


@pytest.fixture(autouse=True)
def _no_spec_violations(
    request: pytest.FixtureRequest,
    _track_sandboxes: list[Any],
    sandbox_violations_allowed: bool,
) -> Iterator[None]:
    """Fail a test whose sandboxes recorded a request that breaks Klaviyo's spec (a body
    against its schema, a bad parameter, a path the spec lacks), checked at its teardown."""
    seen = {id(s): len(s.violations()) for s in _track_sandboxes if s.sandbox is not None}
    yield
    found = [
        v
        for s in _track_sandboxes
        if s.sandbox is not None
        for v in s.violations()[seen.get(id(s), 0) :]
    ]
    _track_sandboxes[:] = [s for s in _track_sandboxes if s.running]
    if found and not (
        sandbox_violations_allowed or request.node.get_closest_marker("sandbox_violations")
    ):
        lines = [f"{v.method} {v.path} {v.status} at {v.pointer!r}: {v.message}" for v in found]
        pytest.fail(
            f"the sandbox recorded {len(found)} request(s) that break Klaviyo's spec:\n"
            + "\n".join(lines[:20]),
            pytrace=False,
        )
