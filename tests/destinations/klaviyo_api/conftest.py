"""Fixtures for the Klaviyo client tests: settings for a sandbox, a fake clock, a runner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from herald.destinations.klaviyo_api.configuration import KlaviyoSettings
from herald.destinations.klaviyo_api.limits import limits_for
from herald.sandbox import DEFAULT_API_KEY

T = TypeVar("T")


class FakeTime:
    """A clock and an async sleep that advances it instead of sleeping."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


@pytest.fixture
def fake_time() -> FakeTime:
    """A fresh fake clock at t = 1000 s."""
    return FakeTime()


def make_settings(
    base_url: str = "https://a.klaviyo.com", key: str = DEFAULT_API_KEY, **kw: Any
) -> KlaviyoSettings:
    """Settings for tests; ``limits_scale`` scales the spec's limits like the sandbox."""
    scale = kw.pop("limits_scale", 1.0)
    return KlaviyoSettings(
        name="test",
        api_key=key,
        base_url=base_url,
        limits=limits_for(scale=scale),
        limits_scale=scale,
        **kw,
    )


@pytest.fixture
def settings() -> Callable[..., KlaviyoSettings]:
    """``settings(base_url, key=…, **fields)`` → KlaviyoSettings."""
    return make_settings


@pytest.fixture
def run() -> Callable[[Coroutine[Any, Any, T]], T]:
    """Run a coroutine to completion (each test gets its own event loop)."""
    return asyncio.run
