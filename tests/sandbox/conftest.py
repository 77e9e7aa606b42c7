"""Fixtures for the sandbox tests: the full Klaviyo spec for openapi-core, and running servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from klaviyo_spec import full_spec

from herald.sandbox import SandboxConfig, SandboxServer

JSONAPI = "application/vnd.api+json"


@pytest.fixture(scope="session")
def openapi() -> Any:
    """Klaviyo's full spec, loaded once (about 2 s), for independent response validation."""
    from openapi_core import Config, OpenAPI

    return OpenAPI.from_file_path(str(full_spec()), config=Config(spec_validator_cls=None))


def assert_matches_spec(openapi: Any, response: httpx.Response) -> None:
    """Validate a real response against the full spec with openapi-core (raises on mismatch)."""
    from openapi_core.testing import MockRequest, MockResponse

    req = response.request
    query = dict(httpx.QueryParams(req.url.query))
    mock_req = MockRequest(
        "https://a.klaviyo.com",
        req.method.lower(),
        req.url.path.rstrip("/"),
        args=query,
        headers=dict(req.headers),
        data=req.content or None,
        content_type=JSONAPI,
    )
    mock_resp = MockResponse(
        response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=response.headers.get("content-type", JSONAPI),
    )
    openapi.validate_response(mock_req, mock_resp)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The single error of a Klaviyo error document, with its shape checked."""
    body = response.json()
    assert response.headers["content-type"].startswith(JSONAPI)
    assert len(body["errors"]) == 1
    err = body["errors"][0]
    assert {"id", "code", "title", "detail", "status", "source"} <= set(err)
    assert err["status"] == response.status_code
    return err  # type: ignore[no-any-return]


@pytest.fixture
def sandbox_violations_allowed() -> bool:
    """The sandbox's own tests send requests that break the spec on purpose: exempt from the
    zero-violations check of tests/conftest.py."""
    return True


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """A sandbox with limits off and jobs stepped by hand, shared by a module's tests."""
    with SandboxServer(SandboxConfig(limits="off", job_tick=None)) as running:
        yield running


@pytest.fixture
def client(server: SandboxServer) -> Iterator[httpx.Client]:
    """An httpx client with valid auth and revision headers for ``server``."""
    with server.client(timeout=10) as c:
        yield c


def body(data: Any) -> bytes:
    """Encode a request body."""
    return json.dumps({"data": data}).encode()


def new_list(client: httpx.Client, name: str = "Audience") -> str:
    """Create a list and return its id."""
    r = client.post("/api/lists", content=body({"type": "list", "attributes": {"name": name}}))
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


def profile(email: str | None = None, **attrs: Any) -> dict[str, Any]:
    """A profile resource for request bodies."""
    if email is not None:
        attrs["email"] = email
    return {"type": "profile", "attributes": attrs}


def import_job(profiles: list[dict[str, Any]], list_id: str | None = None) -> bytes:
    """A bulk import job body."""
    data: dict[str, Any] = {
        "type": "profile-bulk-import-job",
        "attributes": {"profiles": {"data": profiles}},
    }
    if list_id:
        data["relationships"] = {"lists": {"data": [{"type": "list", "id": list_id}]}}
    return body(data)


class Kit:
    """Helpers for the tests, handed out by the ``kit`` fixture (tests cannot import conftest)."""

    body = staticmethod(body)
    new_list = staticmethod(new_list)
    profile = staticmethod(profile)
    import_job = staticmethod(import_job)
    error_of = staticmethod(error_of)
    assert_matches_spec = staticmethod(assert_matches_spec)


@pytest.fixture
def kit() -> type[Kit]:
    """The helper namespace."""
    return Kit
