"""Klaviyo's limits on the operations Herald calls (revision 2026-07-15): rate limits, scopes,
and the caps on what one call carries. Each is defined here and nowhere else in Herald.

The table is copied from the official spec's ``x-klaviyo-ratelimit`` and ``x-klaviyo-scopes``
extensions, the caps from its prose (FACTS.md §2.3);
``tests/destinations/klaviyo_api/test_limits.py`` checks both against the spec, so a revision
bump that changes a limit fails loudly instead of causing 429s or 400s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from herald.core.estimate import Caps

# --- caps -----------------------------------------------------------------------------------

#: Profiles per bulk import job.
MAX_IMPORT_PROFILES = 10_000
#: Bytes per bulk import request body (JSON:API envelope included).
MAX_IMPORT_BYTES = 5_000_000
#: Bytes of one profile in a bulk import; a larger one is never sent.
MAX_PROFILE_BYTES = 100_000
#: Profile ids per remove-from-list call.
MAX_REMOVE_IDS = 1_000
#: Values per ``any(...)`` filter.
MAX_FILTER_VALUES = 100
#: Items per page of a collection (list members, profiles, jobs, import errors).
PAGE_SIZE = 100
#: ``GET /api/lists`` pages hold at most 10.
LISTS_PAGE_SIZE = 10

#: The caps as the estimate takes them (core cannot import this module).
CAPS = Caps(
    import_profiles=MAX_IMPORT_PROFILES,
    import_bytes=MAX_IMPORT_BYTES,
    remove_ids=MAX_REMOVE_IDS,
    filter_values=MAX_FILTER_VALUES,
    page_size=PAGE_SIZE,
)

# --- rate limits and scopes -----------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """Klaviyo's limits for one operation, per account.

    Attributes:
        burst: requests per 1 s window.
        steady: requests per 60 s window.
        daily: requests per day, when the operation has a daily cap.
    """

    burst: int
    steady: int
    daily: int | None = None

    def scaled(self, factor: float) -> RateLimit:
        """These limits multiplied by ``factor``, rounded down but at least 1 (as the sandbox's
        ``--limits N`` does).

        >>> RateLimit(10, 150, 150).scaled(0.5)
        RateLimit(burst=5, steady=75, daily=75)
        """

        def scale(n: int) -> int:
            return max(1, int(n * factor))

        daily = None if self.daily is None else scale(self.daily)
        return RateLimit(scale(self.burst), scale(self.steady), daily)

    def windows(self) -> tuple[tuple[str, int, float], ...]:
        """``(name, limit, seconds)`` for each window, burst first."""
        out: list[tuple[str, int, float]] = [
            ("burst", self.burst, 1.0),
            ("steady", self.steady, 60.0),
        ]
        if self.daily is not None:
            out.append(("daily", self.daily, 86_400.0))
        return tuple(out)


@dataclass(frozen=True)
class Operation:
    """One Klaviyo operation Herald uses.

    Attributes:
        operation_id: the spec's ``operationId``.
        method: HTTP method.
        path: the spec's path template.
        limit: its rate limits.
        scopes: the scopes a key needs for it (all of them).
    """

    operation_id: str
    method: str
    path: str
    limit: RateLimit
    scopes: tuple[str, ...]


#: What a list sync calls: lists (find, create, members, remove), profiles (import, find).
NEEDED_SCOPES = ("lists:read", "lists:write", "profiles:read", "profiles:write")

_M = RateLimit(burst=10, steady=150)
_L = RateLimit(burst=75, steady=750)

#: Every operation the client sends, by operation id.
OPERATIONS: Mapping[str, Operation] = {
    op.operation_id: op
    for op in (
        Operation("get_lists", "GET", "/api/lists", _L, ("lists:read",)),
        Operation("create_list", "POST", "/api/lists", replace(_M, daily=150), ("lists:write",)),
        Operation(
            "bulk_import_profiles",
            "POST",
            "/api/profile-bulk-import-jobs",
            _M,
            ("lists:write", "profiles:write"),
        ),
        Operation(
            "get_bulk_import_profiles_job",
            "GET",
            "/api/profile-bulk-import-jobs/{job_id}",
            _M,
            ("lists:read", "profiles:read"),
        ),
        Operation(
            "get_bulk_import_profiles_jobs",
            "GET",
            "/api/profile-bulk-import-jobs",
            _M,
            ("lists:read", "profiles:read"),
        ),
        Operation(
            "get_errors_for_bulk_import_profiles_job",
            "GET",
            "/api/profile-bulk-import-jobs/{id}/import-errors",
            _M,
            ("profiles:read",),
        ),
        Operation(
            "get_profiles_for_list",
            "GET",
            "/api/lists/{id}/profiles",
            _L,
            ("lists:read", "profiles:read"),
        ),
        Operation(
            "remove_profiles_from_list",
            "DELETE",
            "/api/lists/{id}/relationships/profiles",
            _M,
            ("lists:write", "profiles:write"),
        ),
        Operation("get_profiles", "GET", "/api/profiles", _L, ("profiles:read",)),
        # Used only by check_scopes (``herald destination check``), to probe write scopes.
        Operation("update_list", "PATCH", "/api/lists/{id}", _M, ("lists:write",)),
        Operation("update_profile", "PATCH", "/api/profiles/{id}", _L, ("profiles:write",)),
    )
}


def limits_for(
    overrides: Mapping[str, RateLimit] | None = None, scale: float = 1.0
) -> dict[str, RateLimit]:
    """The limits to pace by: the table, with per-operation ``overrides`` and ``scale`` applied.

    An override replaces the table's value and is not scaled: it is what the user measured.
    """
    out = {op_id: op.limit.scaled(scale) for op_id, op in OPERATIONS.items()}
    out.update(overrides or {})
    return out
