"""Inspection routes under ``/__sandbox__``: lists, members, profiles, jobs, request counts,
spec violations.

They are unauthenticated, never faulted, never rate-limited and not logged: the sandbox
listens on loopback and these routes exist for tests and demos.
"""

from __future__ import annotations

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

    def guarded(fn: Any) -> Any:
        async def endpoint(request: Request) -> JSONResponse:
            try:
                return JSONResponse(fn(request))
            except ApiError as err:
                return JSONResponse(err.document(), status_code=err.status)

        return endpoint

    def summary(_: Request) -> Any:
        return state.snapshot()

    def lists(_: Request) -> Any:
        return [
            {
                "id": k.id,
                "name": k.name,
                "opt_in_process": k.opt_in_process,
                "created": iso(k.created),
                "members": len(k.members),
            }
            for k in state.lists()
        ]

    def members(request: Request) -> Any:
        return state.list_members(request.path_params["id"])

    def profiles(_: Request) -> Any:
        return [
            {
                "id": p.id,
                "email": p.email,
                "phone_number": p.phone_number,
                "external_id": p.external_id,
                "suppressions": p.suppressions,
            }
            for p in state.profiles()
        ]

    def jobs(_: Request) -> Any:
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
            for j in state.jobs()
        ]

    def requests(_: Request) -> Any:
        return [asdict(r) for r in state.requests()]

    def violations(_: Request) -> Any:
        return [asdict(v) for v in state.violations()]

    def advance(_: Request) -> Any:
        return {"changed": state.advance_jobs()}

    return [
        Route(f"{PREFIX}/state", guarded(summary)),
        Route(f"{PREFIX}/lists", guarded(lists)),
        Route(f"{PREFIX}/lists/{{id}}/members", guarded(members)),
        Route(f"{PREFIX}/profiles", guarded(profiles)),
        Route(f"{PREFIX}/jobs", guarded(jobs)),
        Route(f"{PREFIX}/requests", guarded(requests)),
        Route(f"{PREFIX}/violations", guarded(violations)),
        Route(f"{PREFIX}/jobs/advance", guarded(advance), methods=["POST"]),
    ]
