"""The checked-in spec subset matches Klaviyo's full spec and holds what the sandbox needs."""

from __future__ import annotations

import json

from klaviyo_spec import full_spec

from herald.sandbox import _extract_spec
from herald.sandbox.spec import SUBSET_PATH, load_subset, operations, revision
from herald.sandbox.validation import body_validator


def test_subset_is_what_the_extractor_makes_from_the_full_spec() -> None:
    fresh = _extract_spec.render(_extract_spec.extract(full_spec()))
    assert json.loads(fresh) == json.loads(SUBSET_PATH.read_text()), (
        "spec_subset.json is stale: run python -m herald.sandbox._extract_spec"
    )


def test_subset_covers_every_served_operation() -> None:
    assert revision() == "2026-07-15"
    assert len(operations()) == len(_extract_spec.OPERATIONS) == 20
    for op in operations().values():
        assert op.scopes
        assert op.ratelimit["burst"]
        assert op.ratelimit["steady"]
        assert op.responses, op.operation_id
        if op.request_body:
            assert op.request_body["content_type"] == "application/vnd.api+json"
            body_validator(op.operation_id)  # every body schema compiles


def test_limits_stated_in_prose_are_lifted() -> None:
    ops = operations()
    assert ops["bulk_import_profiles"].limits == {
        "max_items": 10_000,
        "max_payload_bytes": 5_000_000,
        "max_item_bytes": 100_000,
    }
    assert ops["add_profiles_to_list"].limits["max_items"] == 1000
    assert ops["remove_profiles_from_list"].limits["max_items"] == 1000
    assert ops["create_profile"].limits["max_payload_bytes"] == 100_000
    assert ops["get_list"].limits["param_ratelimits"] == [
        {
            "parameter": "additional-fields[list]",
            "value": "profile_count",
            "burst": "1/s",
            "steady": "15/m",
        }
    ]
    assert ops["create_list"].ratelimit == {"burst": "10/s", "steady": "150/m", "daily": "150/d"}
    assert ops["get_profiles"].filters is not None
    assert ops["get_profiles"].filters["email"] == ["any", "equals"]
    assert ops["get_lists"].parameters["page[size]"]["schema"]["maximum"] == 10
    assert ops["get_profiles"].parameters["page[size]"]["schema"]["maximum"] == 100


def test_subset_has_no_refs_and_no_prose() -> None:
    text = SUBSET_PATH.read_text()
    assert '"$ref"' not in text
    assert '"description"' not in text
    assert len(text) < 400_000
    assert load_subset()["source"]["revision"] == "2026-07-15"
