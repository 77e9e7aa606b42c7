"""Tasks run together whose first error is raised as it is (not in an ExceptionGroup)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


@contextlib.asynccontextmanager
async def task_group() -> AsyncIterator[asyncio.TaskGroup]:
    """A TaskGroup whose first error cancels the other tasks and is raised as it is.

    TaskGroup wraps errors in an ExceptionGroup, which ``except SyncError`` does not catch:
    the delivery would stay ``running`` with its ledger unmerged. The later errors are the
    first one's echoes (or were cut short by it). KeyboardInterrupt, SystemExit and the
    caller's own cancellation are never wrapped, so they still propagate as they are.
    """
    try:
        async with asyncio.TaskGroup() as group:
            yield group
    except BaseExceptionGroup as grouped:
        raise _first_error(grouped) from None


def _first_error(grouped: BaseExceptionGroup[BaseException]) -> BaseException:
    first = grouped.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first


async def run_all(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run coroutines together; their results in order. The first error cancels the rest (none
    is left running on a client about to close) and is raised."""
    async with task_group() as group:
        tasks = [group.create_task(coroutine) for coroutine in coroutines]
    return [task.result() for task in tasks]
