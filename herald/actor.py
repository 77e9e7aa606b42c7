"""Who is acting: every change, activation, schedule and run records it (the audit trail).

The CLI acts as the operating-system user; the web app as the signed-in user, for the
request; the scheduler as ``scheduler``. A context variable carries it, so it follows a
request or a task (and ``asyncio.to_thread``) without being passed through every call.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_ACTOR: ContextVar[str | None] = ContextVar("herald_actor", default=None)

SCHEDULER = "scheduler"
"""The actor of what ``herald scheduler`` starts."""


def current_actor() -> str:
    """Who acts now: the name set by `acting_as`, else the operating-system user."""
    named = _ACTOR.get()
    if named is not None:
        return named
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "unknown"


@contextmanager
def acting_as(name: str) -> Iterator[None]:
    """Record ``name`` as the actor of everything done inside the block (this context).

    >>> with acting_as("ana"):
    ...     current_actor()
    'ana'
    """
    token = _ACTOR.set(name)
    try:
        yield
    finally:
        _ACTOR.reset(token)
