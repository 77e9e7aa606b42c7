"""Schema migrations with Alembic, driven from code: no alembic.ini is needed at run time."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Engine

from herald.exceptions import StateError
from herald.state._engine import WRITE_OPTION, safe_url
from herald.state._store_base import database_errors

SCRIPT_LOCATION = "herald.state:migrations"
"""The migration scripts, found inside the installed package."""

# Any fixed 64-bit number: PostgreSQL advisory locks are keyed by it. It makes two processes
# that open the same fresh database migrate one after the other.
_PG_MIGRATION_LOCK = 0x4E52414C44_0001


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Build the Alembic configuration for the state store, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of Herald."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "herald/state/migrations has no revisions"
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The revision a database is at, None for an empty database."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: sa.Connection, revision: str = "head") -> None:
    """Upgrade the database behind ``connection`` to ``revision`` inside its transaction.

    The caller owns the transaction (on SQLite a ``BEGIN IMMEDIATE`` one), so concurrent
    openers of one new database do not both try to create the tables.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
    command.upgrade(alembic_config(connection), revision)


def downgrade(connection: sa.Connection, revision: str) -> None:
    """Downgrade the database behind ``connection`` to ``revision`` (used by tests)."""
    command.downgrade(alembic_config(connection), revision)


def upgrade_to_head(engine: Engine, *, create: bool = True) -> None:
    """Bring the database behind ``engine`` to the newest revision (see `StateStore.open`).

    Raises:
        StateError: the database has no Herald tables and ``create`` is false, or it was
            written by a newer Herald.
    """
    with database_errors(), engine.connect() as conn:
        current = current_revision(conn)
        conn.rollback()
        if current == head_revision():
            return
        if current is None and not create:
            msg = (
                f"the state database {safe_url(engine.url)} has no Herald tables: create them "
                "with `herald init`, or fix [state] url in herald.toml"
            )
            raise StateError(msg)
        _check_known_revision(engine, current)
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            upgrade(conn)


def _check_known_revision(engine: Engine, current: str | None) -> None:
    if current is None:
        return
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(current)
    except CommandError as err:
        msg = (
            f"the state database {safe_url(engine.url)} is at schema revision {current!r}, "
            "which this version of Herald does not know; it was written by a newer Herald: "
            "upgrade Herald to use it"
        )
        raise StateError(msg) from err
