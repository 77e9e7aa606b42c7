"""A local Klaviyo that follows Klaviyo's official spec (revision 2026-07-15) for the endpoints
Herald uses: lists, list members, bulk profile import jobs and profiles.

Start it in-process with ``SandboxServer`` (tests, demo) or with ``herald sandbox klaviyo``::

    from herald.sandbox import ApiKey, ManualClock, SandboxConfig, SandboxServer

    config = SandboxConfig(limits="10", faults="5xx=0.05,429=0.02", seed=7, job_tick=None)
    with SandboxServer(config) as server, server.client() as http:
        http.post("/api/lists", json={"data": {"type": "list", "attributes": {"name": "VIP"}}})
        server.state.run_jobs()              # step bulk import jobs by hand (job_tick=None)
        server.state.lists()                 # inspect: lists, list_members(id), profiles(),
        server.state.request_counts()        # jobs(), requests(), snapshot()
        server.state.violations()            # requests that broke the spec

The same inspection is served over HTTP under ``/__sandbox__/`` (``state``, ``lists``,
``lists/{id}/members``, ``profiles``, ``jobs``, ``requests``, ``violations``;
``POST jobs/advance``). Every request the sandbox refuses for breaking the spec (a body
against its schema, a bad query parameter or header, a path the spec lacks) is recorded
as a violation, besides being answered as Klaviyo would.

The stand-in for Klaviyo's SFTP import server is ``herald.sandbox.sftp.SftpSandbox`` (imported
from its module: it needs paramiko), which imports uploaded profile CSVs into a sandbox above.
"""

from __future__ import annotations

from herald.sandbox.app import Sandbox, create_app
from herald.sandbox.config import DEFAULT_API_KEY, ApiKey, ManualClock, SandboxConfig
from herald.sandbox.faults import FaultSpec
from herald.sandbox.ratelimit import FixedWindowLimiter
from herald.sandbox.server import SandboxServer
from herald.sandbox.state import RequestRecord, SandboxState, Violation

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
    "Violation",
    "create_app",
]
