"""Scopes: a sync never probes, a missing scope is named from the first 403, and
``check_scopes`` (``herald destination check``) probes each scope once with requests that
are valid per Klaviyo's spec and change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from klaviyo_spec import full_spec

from herald.destinations.klaviyo_api import _protocol as P
from herald.destinations.klaviyo_api._errors import ApiProblem, missing_scope
from herald.destinations.klaviyo_api.client import KlaviyoClient
from herald.destinations.klaviyo_api.limits import NEEDED_SCOPES, OPERATIONS
from herald.exceptions import FatalSyncError
from herald.sandbox import ApiKey, SandboxConfig, SandboxServer
from herald.sandbox.spec import operations

FULL = "pk_full_scopes_0000000000000"
KEYS = {
    FULL: frozenset(NEEDED_SCOPES),
    "pk_read_only_00000000000000": frozenset({"lists:read", "profiles:read"}),
    "pk_lists_only_000000000000": frozenset({"lists:write"}),
    "pk_no_profiles_write_00000": frozenset({"lists:write", "profiles:read"}),
    "pk_no_lists_write_0000000": frozenset({"lists:read", "profiles:write"}),
}


@pytest.fixture(scope="module")
def server() -> Any:
    keys = [ApiKey(k, scopes=s) for k, s in KEYS.items()]
    with SandboxServer(SandboxConfig(api_keys=keys, limits="off", job_tick=0.01)) as running:
        yield running


def test_every_request_the_client_sends_is_served_and_validated_by_the_sandbox() -> None:
    served = {(op.method, op.path, op.operation_id) for op in operations().values()}
    for op in OPERATIONS.values():
        assert (op.method, op.path, op.operation_id) in served, op.operation_id


@pytest.mark.parametrize("key", sorted(KEYS))
def test_check_scopes_probes_each_scope_once_validly_and_writes_nothing(
    server: SandboxServer, settings: Any, run: Any, key: str
) -> None:
    async def check() -> Any:
        async with KlaviyoClient(settings(server.url, key=key)) as client:
            return await client.check_scopes(), client.request_counts()

    before = dict(server.state.request_counts())
    result, counts = run(check())

    granted = KEYS[key] | {s.replace(":write", ":read") for s in KEYS[key]}
    assert result.key_valid
    assert result.missing == tuple(s for s in NEEDED_SCOPES if s not in granted)
    assert sum(counts.values()) == len(NEEDED_SCOPES)  # one request per scope
    probes = {"get_lists", "get_profiles", "update_list", "update_profile"}
    assert {op for op, _ in counts} == probes
    after = server.state.request_counts()
    assert sum(after.values()) - sum(before.values()) == len(NEEDED_SCOPES)
    assert server.violations() == []  # every probe is valid per the spec
    assert server.state.lists() == []
    assert server.state.profiles() == []
    assert server.state.jobs() == []


def test_write_probes_patch_nothing_that_exists() -> None:
    for scope, kind in (("lists:write", "list"), ("profiles:write", "profile")):
        request = P.scope_probe(scope)
        assert request is not None
        assert (request.method, request.path) == ("PATCH", f"/api/{kind}s/{P.PROBE_ID}")
        assert request.json == {"data": {"type": kind, "id": P.PROBE_ID, "attributes": {}}}
    assert not P.PROBE_ID.isalnum()  # Klaviyo's ids are letters and digits only


def test_a_missing_scope_is_named_from_the_first_403(
    server: SandboxServer, settings: Any, run: Any
) -> None:
    async def create(key: str) -> FatalSyncError:
        async with KlaviyoClient(settings(server.url, key=key)) as client:
            assert await client.find_list("Scoped") is None
            with pytest.raises(FatalSyncError) as caught:
                await client.create_list("Scoped")
            return caught.value

    error = run(create("pk_read_only_00000000000000"))
    assert str(error) == (
        "destination 'test': the API key lacks the lists:write scope (needed to create "
        "lists): give the key that scope in Klaviyo"
    )
    assert "pk_read_only" not in str(error)


def test_a_scope_proved_by_an_earlier_success_is_not_blamed(
    server: SandboxServer, settings: Any, run: Any
) -> None:
    """Bulk import needs lists:write and profiles:write; the list was just created, so the
    key has lists:write and the 403 can only mean profiles:write."""

    async def go(key: str) -> FatalSyncError:
        async with KlaviyoClient(settings(server.url, key=key)) as client:
            list_id = await client.create_list("Proved")
            with pytest.raises(FatalSyncError) as caught:
                await client.start_import([{"email": "a@example.com"}], list_id)
            return caught.value

    error = run(go("pk_no_profiles_write_00000"))
    assert str(error) == (
        "destination 'test': the API key lacks the profiles:write scope (needed to import "
        "profiles into lists): give the key that scope in Klaviyo"
    )


def test_without_proof_both_scopes_of_the_operation_are_named(
    server: SandboxServer, settings: Any, run: Any
) -> None:
    async def go(key: str) -> FatalSyncError:
        async with KlaviyoClient(settings(server.url, key=key)) as client:
            with pytest.raises(FatalSyncError) as caught:
                await client.remove_from_list("ANYLIST", ["P1"])
            return caught.value

    error = run(go("pk_read_only_00000000000000"))
    assert str(error) == (
        "destination 'test': the API key lacks the lists:write or profiles:write scope "
        "(needed to remove profiles from lists): give the key those scopes in Klaviyo"
    )


def test_a_scope_named_in_klaviyos_message_wins() -> None:
    problem = ApiProblem(
        "bulk_import_profiles",
        403,
        "permission_denied",
        detail="This API key is missing the required scope: profiles:write.",
    )
    error = missing_scope("klaviyo", problem)
    assert error is not None
    assert "lacks the profiles:write scope (needed to import profiles into lists)" in str(error)


def test_a_403_that_is_not_klaviyos_scope_refusal_keeps_the_generic_error() -> None:
    # A proxy's bot challenge (FACTS.md §2: intermittent 403s on AWS Lambda) names no scope.
    assert missing_scope("klaviyo", ApiProblem("get_lists", 403, "", "<html>")) is None
    assert missing_scope("klaviyo", ApiProblem("get_lists", 400, "invalid")) is None


def test_every_probe_is_valid_per_the_full_spec_by_an_independent_validator() -> None:
    """openapi-core, not the sandbox's own converter, checks each probe against stable.json."""
    from openapi_core import Config, OpenAPI
    from openapi_core.testing import MockRequest
    from openapi_core.validation.request.exceptions import InvalidRequestBody

    spec = OpenAPI.from_file_path(str(full_spec()), config=Config(spec_validator_cls=None))
    for scope in NEEDED_SCOPES:
        request = P.scope_probe(scope)
        assert request is not None, scope
        spec.validate_request(
            MockRequest(
                "https://a.klaviyo.com",
                request.method.lower(),
                request.path,
                args=dict(request.params),
                headers={"revision": "2026-07-15", "Authorization": "Klaviyo-API-Key pk_x"},
                data=request.encoded(),
                content_type="application/vnd.api+json",
            )
        )
    # And the probe every run used to send is not.
    old = P.Request("create_list", "POST", "/api/lists", json={"data": {"type": "list"}})
    with pytest.raises(InvalidRequestBody):
        spec.validate_request(
            MockRequest(
                "https://a.klaviyo.com",
                "post",
                old.path,
                headers={"revision": "2026-07-15", "Authorization": "Klaviyo-API-Key pk_x"},
                data=old.encoded(),
                content_type="application/vnd.api+json",
            )
        )
