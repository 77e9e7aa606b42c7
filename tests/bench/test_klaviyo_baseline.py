"""The per-profile baseline of the list-sync benchmark, through the official SDK, against the
sandbox (limits off)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from herald.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxServer

BASELINE = Path(__file__).resolve().parents[2] / "bench" / "_klaviyo_baseline.py"


def load_baseline() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_klaviyo_baseline", BASELINE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(20)
def test_twenty_profiles_become_list_members_through_the_sdk() -> None:
    baseline = load_baseline()
    people = [{"email": f"person{i}@example.com", "first_name": f"P{i}"} for i in range(20)]
    with SandboxServer(SandboxConfig(limits="off")) as server:
        with server.client() as http:
            r = http.post(
                "/api/lists", json={"data": {"type": "list", "attributes": {"name": "Baseline"}}}
            )
            assert r.status_code == 201, r.text
            list_id = r.json()["data"]["id"]

        result = baseline.per_profile_sync(server.url, DEFAULT_API_KEY, list_id, people)

        members = server.state.list_members(list_id)
        emails = {p.email for p in server.state.profiles() if p.id in set(members)}
        ops = [(rec.operation, rec.status) for rec in server.state.requests()]

    assert len(members) == 20
    assert emails == {p["email"] for p in people}
    # The SDK path: one upsert and one single-profile add per profile, nothing else.
    assert ops.count(("create_or_update_profile", 201)) == 20
    assert ops.count(("add_profiles_to_list", 204)) == 20
    assert result.profiles == 20
    assert result.requests == 40
    assert result.status_counts == {201: 20, 204: 20}
    assert result.revision == "2026-07-15"
    assert result.sdk_version
    assert result.profiles_per_second > 0
