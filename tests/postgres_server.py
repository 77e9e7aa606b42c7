"""A real PostgreSQL server for the tests (the state store's, the scheduler's).

PostgreSQL comes from ``HERALD_TEST_POSTGRES_URL`` when set (its role needs CREATEDB: the
session makes one database, and each test a fresh schema in it), or else from a throwaway
cluster that this file starts with the server binaries (``initdb``/``pg_ctl`` on PATH or in
/usr/lib/postgresql/*/bin; Debian package ``postgresql``). Without binaries the PostgreSQL
tests skip, except in CI (``CI=true``), where they fail so that a missing server cannot hide.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg
import pytest
from ports import free_port
from psycopg import sql
from sqlalchemy.engine import make_url

_SERVER_USER = "postgres"  # Debian's postgresql package creates it; initdb refuses root.


class Unavailable(Exception):
    """No PostgreSQL server can be started here; the message says why."""


# --- finding and running a throwaway PostgreSQL cluster (also used by bench/) ---------------


def _find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: PATH first, then the newest Debian install."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    candidates.sort(key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


def _runner() -> tuple[list[str], str]:
    """The command prefix that runs the server as a non-root user, and that user's name."""
    if os.geteuid() != 0:
        return [], pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam(_SERVER_USER)
    except KeyError:
        msg = (
            f"running as root and there is no {_SERVER_USER!r} user to run PostgreSQL as "
            "(apt-get install postgresql creates it)"
        )
        raise Unavailable(msg) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        msg = "running as root and `runuser` is missing to drop privileges for PostgreSQL"
        raise Unavailable(msg)
    return [runuser, "-u", _SERVER_USER, "--"], _SERVER_USER


def _run(cmd: list[str], cwd: Path) -> None:
    # cwd: the server user may not be allowed into the folder the caller runs from.
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, cwd=cwd)
    if done.returncode != 0:
        msg = f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
        raise RuntimeError(msg)


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a PostgreSQL cluster in a temporary folder; its server URL, for the block.

    Raises:
        Unavailable: no server binaries, or no user to run them as.
    """
    bindir = _find_binaries()
    if bindir is None:
        msg = "PostgreSQL server binaries (initdb, pg_ctl) not found; apt-get install postgresql"
        raise Unavailable(msg)
    prefix, user = _runner()
    root = Path(tempfile.mkdtemp(prefix="herald-pg-"))  # not tmp_path: root-only 0700 parents
    data, sockets, port = root / "data", root / "sockets", free_port()
    sockets.mkdir()
    if prefix:
        shutil.chown(root, user=_SERVER_USER)
        shutil.chown(sockets, user=_SERVER_USER)
    pg_ctl = [*prefix, str(bindir / "pg_ctl"), "-D", str(data)]
    try:
        _run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", user, "-A", "trust",
              "-E", "UTF8", "--locale=C", "--no-sync"], cwd=root)  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off"
        _run(
            [*pg_ctl, "-l", str(root / "server.log"), "-o", options, "-w", "-t", "60", "start"],
            cwd=root,
        )
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres"
    finally:
        stop = [*pg_ctl, "-m", "fast", "-w", "stop"]
        subprocess.run(stop, capture_output=True, check=False, cwd=root, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A URL for a PostgreSQL server on which the tests may create databases.

    Without one the tests skip, except in CI (``CI=true``), where they fail so that a missing
    server cannot hide.
    """
    given = os.environ.get("HERALD_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    with ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_cluster())
        except (Unavailable, RuntimeError) as why:
            if os.environ.get("CI") == "true":
                pytest.fail(f"PostgreSQL tests cannot run in CI: {why}", pytrace=False)
            pytest.skip(str(why))
        yield url


@pytest.fixture(scope="session")
def postgres_database_url(postgres_server_url: str) -> Iterator[str]:
    """One PostgreSQL database for the session, dropped at the end; tests get schemas in it."""
    server = make_url(postgres_server_url)
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"herald_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield server.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def postgres_url(postgres_database_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL schema for one test, dropped afterwards.

    The URL makes the schema the connection's whole search_path, so to the state store it is
    an empty database. (CREATE DATABASE per test took ~0.3 s, most of the suite's time; a
    schema takes milliseconds.)
    """
    database = make_url(postgres_database_url)
    admin = database.set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    options = " ".join(filter(None, [database.query.get("options"), f"-csearch_path={schema}"]))
    yield database.update_query_dict({"options": options}).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        # A connection a test leaked must not hang the suite: stop waiting, end it, retry.
        conn.execute("SET lock_timeout = '10s'")
        drop = sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema))
        try:
            conn.execute(drop)
        except psycopg.errors.LockNotAvailable:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            conn.execute(drop)
