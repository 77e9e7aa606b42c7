"""The operations the sandbox serves, read from the checked-in ``spec_subset.json``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

SUBSET_PATH = Path(__file__).with_name("spec_subset.json")


@dataclass(frozen=True)
class Operation:
    """One operation of Klaviyo's spec, as the sandbox needs it.

    Attributes:
        operation_id: Klaviyo's ``operationId``, e.g. ``bulk_import_profiles``.
        method: the HTTP method, upper case.
        path: the spec's path template, e.g. ``/api/lists/{id}``.
        ratelimit: ``x-klaviyo-ratelimit`` (``burst``, ``steady``, optional ``daily``).
        scopes: ``x-klaviyo-scopes``; a key needs all of them.
        parameters: query and header parameters by name.
        filters: allowed filter fields and their operators, or None when ``filter`` is absent.
        limits: limits Klaviyo states in prose (``max_items``, ``max_payload_bytes``, …).
        request_body: the body schema and content type, or None.
        responses: success response schemas by status.
    """

    operation_id: str
    method: str
    path: str
    ratelimit: dict[str, str]
    scopes: tuple[str, ...]
    parameters: dict[str, dict[str, Any]]
    filters: dict[str, list[str]] | None
    limits: dict[str, Any]
    request_body: dict[str, Any] | None
    responses: dict[str, Any] = field(repr=False)

    @property
    def route(self) -> str:
        """The Starlette route for this operation (the spec's path, any id named ``id``)."""
        return re.sub(r"\{[a-z_]+\}", "{id}", self.path)


@cache
def load_subset() -> dict[str, Any]:
    """Return the parsed ``spec_subset.json`` (read once per process)."""
    return json.loads(SUBSET_PATH.read_text())  # type: ignore[no-any-return]


@cache
def operations() -> dict[str, Operation]:
    """Return every served operation by ``operationId``."""
    ops = {}
    for op_id, raw in load_subset()["operations"].items():
        ops[op_id] = Operation(
            operation_id=op_id,
            method=raw["method"],
            path=raw["path"],
            ratelimit=raw["ratelimit"],
            scopes=tuple(raw["scopes"]),
            parameters={p["name"]: p for p in raw["parameters"] if p["in"] != "path"},
            filters=raw["filters"],
            limits=raw["limits"],
            request_body=raw["request_body"],
            responses=raw["responses"],
        )
    return ops


def revision() -> str:
    """The API revision the subset was extracted from (e.g. ``2026-07-15``)."""
    return str(load_subset()["source"]["revision"])


def all_scopes() -> frozenset[str]:
    """Every scope any served operation needs."""
    return frozenset(s for op in operations().values() for s in op.scopes)
