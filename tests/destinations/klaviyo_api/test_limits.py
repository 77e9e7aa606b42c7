"""The rate-limit table matches Klaviyo's official spec, operation by operation."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from herald.destinations.klaviyo_api.limits import OPERATIONS, RateLimit, limits_for

REPO = Path(__file__).resolve().parents[3]
SPEC = Path(os.environ.get("HERALD_KLAVIYO_SPEC", REPO.parent / "shared/klaviyo/stable.json"))
_PER = {"s": 1, "m": 60, "d": 86_400}


@pytest.fixture(scope="module")
def spec_ops() -> dict[str, tuple[str, str, dict[str, Any]]]:
    spec = orjson.loads(SPEC.read_bytes())
    out = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                out[op["operationId"]] = (method.upper(), path, op)
    return out


def _rate(text: str, per: str) -> int:
    m = re.fullmatch(r"(\d+)/([smd])", text)
    assert m, text
    assert m.group(2) == per, text
    return int(m.group(1))


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_table_matches_the_spec(spec_ops: dict[str, Any], operation_id: str) -> None:
    method, path, op = spec_ops[operation_id]
    ours = OPERATIONS[operation_id]
    assert (ours.method, ours.path) == (method, path)
    limit = op["x-klaviyo-ratelimit"]
    expected = RateLimit(
        _rate(limit["burst"], "s"),
        _rate(limit["steady"], "m"),
        _rate(limit["daily"], "d") if "daily" in limit else None,
    )
    assert ours.limit == expected
    assert set(ours.scopes) == set(op["x-klaviyo-scopes"])


def test_scale_and_overrides() -> None:
    limits = limits_for({"get_lists": RateLimit(5, 50)}, scale=0.1)
    assert limits["create_list"] == RateLimit(1, 15, 15)
    assert limits["get_lists"] == RateLimit(5, 50)  # overrides are taken as given
