"""Inspection routes under ``/__sandbox__``: lists, members, profiles, jobs, request counts,
spec violations.

They are unauthenticated, never faulted, never rate-limited and not logged: the sandbox
listens on loopback and these routes exist for tests and demos.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from herald.sandbox.errors import ApiError
from herald.sandbox.models import iso
from herald.sandbox.state import SandboxState

PREFIX = "/__sandbox__"


def routes(state: SandboxState) -> list[Route]:
    """The admin routes over ``state``."""
    views = _Views(state)
    get = {
        "state": views.summary,
        "lists": views.lists,
        "lists/{id}/members": views.members,
        "profiles": views.profiles,
        "jobs": views.jobs,
        "requests": views.requests,
        "violations": views.violations,
    }
    return [
        *(Route(f"{PREFIX}/{path}", _guarded(view)) for path, view in get.items()),
        Route(f"{PREFIX}/jobs/advance", _guarded(views.advance), methods=["POST"]),
    ]


def _guarded(view: Callable[[Request], Any]) -> Callable[[Request], Awaitable[JSONResponse]]:
    """A view's answer as JSON; the sandbox's own API errors as their documents."""

    async def endpoint(request: Request) -> JSONResponse:
        try:
            return JSONResponse(view(request))
        except ApiError as err:
            return JSONResponse(err.document(), status_code=err.status)

    return endpoint


class _Views:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def summary(self, _: Request) -> Any:
        return self.state.snapshot()

    def lists(self, _: Request) -> Any:
        return [
            {
                "id": k.id,
                "name": k.name,
                "opt_in_process": k.opt_in_process,
                "created": iso(k.created),
                "members": len(k.members),
            }
            for k in self.state.lists()
        ]

    def members(self, request: Request) -> Any:
        return self.state.list_members(request.path_params["id"])

    def profiles(self, _: Request) -> Any:
        return [
            {
                "id": p.id,
                "email": p.email,
                "phone_number": p.phone_number,
                "external_id": p.external_id,
                "suppressions": p.suppressions,
            }
            for p in self.state.profiles()
        ]

    def jobs(self, _: Request) -> Any:
        return [
            {
                "id": j.id,
                "status": j.status,
                "total_count": j.total_count,
                "completed_count": j.completed_count,
                "failed_count": j.failed_count,
                "list_ids": j.list_ids,
                "created_at": j.created_at,
                "started_at": j.started_at,
                "completed_at": j.completed_at,
            }
            for j in self.state.jobs()
        ]

    def requests(self, _: Request) -> Any:
        return [asdict(r) for r in self.state.requests()]

    def violations(self, _: Request) -> Any:
        return [asdict(v) for v in self.state.violations()]

    def advance(self, _: Request) -> Any:
        return {"changed": self.state.advance_jobs()}
