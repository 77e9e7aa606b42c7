"""Alembic environment for the state store: runs migrations on a connection it is given.

Herald drives Alembic from code (see ``herald.state._migrate``): the caller opens the
connection and its transaction and passes the connection in ``config.attributes``.
"""

from __future__ import annotations

from alembic import context


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        msg = (
            "herald's state migrations run on a connection passed in config.attributes; "
            "use herald.state.StateStore.open(url) instead of the alembic command line"
        )
        raise RuntimeError(msg)
    # The transaction belongs to the caller, so a failed migration rolls back as a whole
    # where the database supports transactional DDL.
    context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


# Collectors such as pytest --doctest-modules import this file outside Alembic; only run
# when Alembic is loading it as the environment script.
if hasattr(context, "config"):
    _run()
