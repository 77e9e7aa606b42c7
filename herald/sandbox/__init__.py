"""A local Klaviyo that follows Klaviyo's official spec (revision 2026-07-15) for the endpoints
Herald uses: lists, list members, bulk profile import jobs and profiles.

Start it in-process with ``SandboxServer`` (tests, demo) or with ``herald sandbox klaviyo``.
"""

from __future__ import annotations

from herald.sandbox.app import Sandbox, create_app
from herald.sandbox.config import DEFAULT_API_KEY, ApiKey, ManualClock, SandboxConfig
from herald.sandbox.faults import FaultSpec
from herald.sandbox.ratelimit import FixedWindowLimiter
from herald.sandbox.server import SandboxServer
from herald.sandbox.state import RequestRecord, SandboxState

__all__ = [
    "DEFAULT_API_KEY",
    "ApiKey",
    "FaultSpec",
    "FixedWindowLimiter",
    "ManualClock",
    "RequestRecord",
    "Sandbox",
    "SandboxConfig",
    "SandboxServer",
    "SandboxState",
    "create_app",
]
