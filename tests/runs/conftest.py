"""Klaviyo sandboxes the run tests share, over loopback HTTP (a test file may override one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from herald.sandbox import SandboxConfig, SandboxServer


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A sandbox without rate limits whose import jobs finish almost at once."""
    with SandboxServer(SandboxConfig(limits="off", job_tick=0.01)) as server:
        yield server


@pytest.fixture
def stalled() -> Iterator[SandboxServer]:
    """A sandbox whose import jobs only move when the test steps them (`stepping_jobs`): a
    run's sent batches wait, so it stays mid-sync."""
    with SandboxServer(SandboxConfig(limits="off", job_tick=None)) as server:
        yield server


@pytest.fixture
def sandboxes() -> Iterator[dict[str, SandboxServer]]:
    """Two sandboxes, two Klaviyo accounts, for the groups ``East`` and ``West``."""
    config = {"limits": "off", "job_tick": 0.01}
    with (
        SandboxServer(SandboxConfig(**config)) as east,
        SandboxServer(SandboxConfig(**config)) as west,
    ):
        yield {"East": east, "West": west}
