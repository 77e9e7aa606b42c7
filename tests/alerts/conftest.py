"""Fixtures of the alerts tests: a webhook receiver, a dead port, quick retries, a notice."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from alert_receiver import Receiver, notice, serve

from herald.alerts import Backoff, RunNotice


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve() as box:
        yield box


@pytest.fixture
def dead_url() -> str:
    """A loopback URL where nothing listens: the port was bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture
def quick() -> Backoff:
    """Retry waits of a few milliseconds, so retry tests take no time."""
    return Backoff(base=0.01, cap=0.05)


@pytest.fixture
def make_notice() -> Callable[..., RunNotice]:
    return notice
