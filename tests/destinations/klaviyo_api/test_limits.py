"""The rate-limit table and the caps match Klaviyo's official spec, operation by operation."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from klaviyo_spec import full_spec

from herald.destinations.klaviyo_api import limits
from herald.destinations.klaviyo_api.limits import OPERATIONS, RateLimit, limits_for
from herald.sandbox._extract_spec import _prose_limits
from herald.sandbox.spec import operations

_PER = {"s": 1, "m": 60, "d": 86_400}


@pytest.fixture(scope="module")
def spec_ops() -> dict[str, tuple[str, str, dict[str, Any]]]:
    spec = orjson.loads(full_spec().read_bytes())
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


def test_caps_match_the_spec_and_the_sandboxs_own_copy(spec_ops: dict[str, Any]) -> None:
    # The sandbox lifts its caps from the spec on its own (it stands in for Klaviyo, so it
    # does not take them from the client it checks): all three must agree.
    bulk = {
        "max_items": limits.MAX_IMPORT_PROFILES,
        "max_payload_bytes": limits.MAX_IMPORT_BYTES,
        "max_item_bytes": limits.MAX_PROFILE_BYTES,
    }
    remove = {"max_items": limits.MAX_REMOVE_IDS}
    for operation_id, ours in (
        ("bulk_import_profiles", bulk),
        ("remove_profiles_from_list", remove),
    ):
        assert _prose_limits(spec_ops[operation_id][2]["description"]) == ours
        assert operations()[operation_id].limits == ours


@pytest.mark.parametrize(
    ("operation_id", "size"),
    [
        ("get_lists", limits.LISTS_PAGE_SIZE),
        ("get_profiles", limits.PAGE_SIZE),
        ("get_profiles_for_list", limits.PAGE_SIZE),
        ("get_bulk_import_profiles_jobs", limits.PAGE_SIZE),
        ("get_errors_for_bulk_import_profiles_job", limits.PAGE_SIZE),
    ],
)
def test_page_sizes_are_the_specs_largest(
    spec_ops: dict[str, Any], operation_id: str, size: int
) -> None:
    [page] = [p for p in spec_ops[operation_id][2]["parameters"] if p.get("name") == "page[size]"]
    assert page["schema"]["maximum"] == size
