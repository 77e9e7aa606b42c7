"""Each endpoint: valid requests get responses that openapi-core validates against Klaviyo's full
spec; each kind of invalid request gets Klaviyo's error shape and status."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from herald.sandbox import SandboxServer


@pytest.fixture(scope="module")
def world(server: SandboxServer) -> dict[str, Any]:
    """A list with members and a completed job with one import error."""
    with server.client() as c:
        r = c.post("/api/lists", json={"data": {"type": "list", "attributes": {"name": "VIP"}}})
        list_id = r.json()["data"]["id"]
        profiles = [
            {
                "type": "profile",
                "attributes": {"email": f"c{i}@example.com", "external_id": f"x{i}"},
            }
            for i in range(30)
        ]
        profiles.append({"type": "profile", "attributes": {"email": "not-an-email"}})
        job = {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": {"data": profiles}},
                "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}},
            }
        }
        job_id = c.post("/api/profile-bulk-import-jobs", json=job).json()["data"]["id"]
    server.state.run_jobs()
    member = server.state.list_members(list_id)[0]
    return {"list": list_id, "job": job_id, "profile": member}


VALID_GETS = [
    "/api/lists",
    "/api/lists?page[size]=10&sort=-created&fields[list]=name,created",
    '/api/lists?filter=equals(name,"VIP")',
    "/api/lists/{list}",
    "/api/lists/{list}?additional-fields[list]=profile_count",
    "/api/lists/{list}/profiles?page[size]=5",
    "/api/lists/{list}/profiles?additional-fields[profile]=subscriptions",
    "/api/lists/{list}/relationships/profiles?page[size]=100",
    '/api/lists/{list}/profiles?filter=any(email,["c1@example.com","c2@example.com"])',
    "/api/profile-bulk-import-jobs",
    '/api/profile-bulk-import-jobs?filter=equals(status,"complete")&sort=-created_at',
    "/api/profile-bulk-import-jobs/{job}",
    "/api/profile-bulk-import-jobs/{job}?include=lists",
    "/api/profile-bulk-import-jobs/{job}/import-errors",
    "/api/profile-bulk-import-jobs/{job}/profiles?page[size]=3",
    "/api/profile-bulk-import-jobs/{job}/relationships/profiles",
    "/api/profile-bulk-import-jobs/{job}/lists",
    "/api/profiles",
    '/api/profiles?filter=equals(email,"c3@example.com")',
    '/api/profiles?filter=any(external_id,["x1","x2"])&sort=-created',
    '/api/profiles?filter=equals(id,"{profile}")&additional-fields[profile]=subscriptions',
    "/api/profiles?filter=greater-than(created,2020-01-01T00:00:00Z)",
]


@pytest.mark.parametrize("url", VALID_GETS)
def test_valid_get_matches_spec(
    client: httpx.Client, world: dict[str, Any], kit: Any, openapi: Any, url: str
) -> None:
    r = client.get(url.format(**world))
    assert r.status_code == 200, r.text
    kit.assert_matches_spec(openapi, r)


def test_list_write_operations_match_spec(
    client: httpx.Client, kit: Any, openapi: Any, server: SandboxServer
) -> None:
    r = client.post(
        "/api/lists",
        content=kit.body(
            {"type": "list", "attributes": {"name": "Rehearsal", "opt_in_process": "single_opt_in"}}
        ),
    )
    assert r.status_code == 201
    kit.assert_matches_spec(openapi, r)
    list_id = r.json()["data"]["id"]
    r = client.patch(
        f"/api/lists/{list_id}",
        content=kit.body({"type": "list", "id": list_id, "attributes": {"name": "Renamed"}}),
    )
    assert r.status_code == 200
    kit.assert_matches_spec(openapi, r)
    assert server.state.get_list(list_id).name == "Renamed"
    r = client.delete(f"/api/lists/{list_id}")
    assert r.status_code == 204
    assert r.content == b""
    kit.assert_matches_spec(openapi, r)
    assert client.get(f"/api/lists/{list_id}").status_code == 404


def test_membership_calls_match_spec(
    client: httpx.Client, kit: Any, openapi: Any, server: SandboxServer
) -> None:
    list_id = kit.new_list(client)
    r = client.post("/api/profiles", content=kit.body(kit.profile("m@example.com")))
    assert r.status_code == 201
    kit.assert_matches_spec(openapi, r)
    pid = r.json()["data"]["id"]
    ids = kit.body([{"type": "profile", "id": pid}])
    r = client.post(f"/api/lists/{list_id}/relationships/profiles", content=ids)
    assert r.status_code == 204
    kit.assert_matches_spec(openapi, r)
    assert server.state.list_members(list_id) == [pid]
    r = client.request("DELETE", f"/api/lists/{list_id}/relationships/profiles", content=ids)
    assert r.status_code == 204
    kit.assert_matches_spec(openapi, r)
    assert server.state.list_members(list_id) == []


def test_profile_import_and_job_creation_match_spec(
    client: httpx.Client, kit: Any, openapi: Any
) -> None:
    r = client.post("/api/profile-import", content=kit.body(kit.profile("u@example.com")))
    assert r.status_code == 201
    kit.assert_matches_spec(openapi, r)
    r = client.post(
        "/api/profile-import", content=kit.body(kit.profile("u@example.com", first_name="U"))
    )
    assert r.status_code == 200
    kit.assert_matches_spec(openapi, r)
    r = client.post(
        "/api/profile-bulk-import-jobs", content=kit.import_job([kit.profile("j@example.com")])
    )
    assert r.status_code == 202
    kit.assert_matches_spec(openapi, r)
    assert r.json()["data"]["attributes"]["status"] == "queued"


# --- invalid requests -------------------------------------------------------------------


def _error(kit: Any, openapi: Any, r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err: dict[str, Any] = kit.error_of(r)
    assert err["code"] == code
    kit.assert_matches_spec(openapi, r)  # 4XX responses use the spec's ClientError schema
    return err


def test_missing_and_unknown_key_are_401(server: SandboxServer, kit: Any, openapi: Any) -> None:
    headers = server.headers()
    del headers["Authorization"]
    _error(
        kit,
        openapi,
        httpx.get(f"{server.url}/api/lists", headers=headers),
        401,
        "not_authenticated",
    )
    headers["Authorization"] = "Klaviyo-API-Key pk_wrong_key_123456789"
    err = _error(
        kit,
        openapi,
        httpx.get(f"{server.url}/api/lists", headers=headers),
        401,
        "authentication_failed",
    )
    assert "pk_wrong" not in json.dumps(err)


def test_key_without_scope_is_403(kit: Any, openapi: Any) -> None:
    from herald.sandbox import ApiKey, SandboxConfig

    reader = ApiKey("pk_reader_only_000000000", frozenset({"lists:read"}))
    writer = ApiKey("pk_lists_writer_0000000", frozenset({"lists:write"}))
    config = SandboxConfig(api_keys=[reader, writer], limits="off", job_tick=None)
    with SandboxServer(config) as s:
        ok = httpx.get(f"{s.url}/api/lists", headers=s.headers(reader.key))
        assert ok.status_code == 200
        r = httpx.post(
            f"{s.url}/api/lists",
            headers=s.headers(reader.key),
            content=kit.body({"type": "list", "attributes": {"name": "n"}}),
        )
        _error(kit, openapi, r, 403, "permission_denied")
        # lists:write implies lists:read, but bulk import also needs profiles:write.
        assert httpx.get(f"{s.url}/api/lists", headers=s.headers(writer.key)).status_code == 200
        r = httpx.post(
            f"{s.url}/api/profile-bulk-import-jobs",
            headers=s.headers(writer.key),
            content=kit.import_job([kit.profile("a@example.com")]),
        )
        _error(kit, openapi, r, 403, "permission_denied")


@pytest.mark.parametrize("revision", [None, "July 2026"])
def test_revision_header_is_required(
    server: SandboxServer, kit: Any, openapi: Any, revision: str | None
) -> None:
    headers = server.headers()
    del headers["revision"]
    if revision:
        headers["revision"] = revision
    err = _error(
        kit, openapi, httpx.get(f"{server.url}/api/lists", headers=headers), 400, "invalid"
    )
    assert err["source"] == {"parameter": "revision"}


def test_wrong_content_type_is_415(client: httpx.Client, kit: Any, openapi: Any) -> None:
    r = client.post(
        "/api/lists",
        headers={"content-type": "text/plain"},
        content=kit.body({"type": "list", "attributes": {"name": "n"}}),
    )
    _error(kit, openapi, r, 415, "unsupported_media_type")


def test_plain_json_content_type_is_accepted(client: httpx.Client, kit: Any) -> None:
    # Segment's integration sends application/json and Klaviyo accepts it (FACTS.md §1).
    r = client.post(
        "/api/lists",
        headers={"content-type": "application/json"},
        content=kit.body({"type": "list", "attributes": {"name": "n"}}),
    )
    assert r.status_code == 201


@pytest.mark.parametrize(
    ("data", "pointer"),
    [
        ({"type": "list", "attributes": {}}, "/data/attributes/name"),
        ({"type": "segment", "attributes": {"name": "n"}}, "/data/type"),
        ({"type": "list", "attributes": {"name": 5}}, "/data/attributes/name"),
        (
            {"type": "list", "attributes": {"name": "n", "opt_in_process": "maybe"}},
            "/data/attributes/opt_in_process",
        ),
    ],
)
def test_invalid_body_is_400_with_pointer(
    client: httpx.Client, kit: Any, openapi: Any, data: Any, pointer: str
) -> None:
    err = _error(kit, openapi, client.post("/api/lists", content=kit.body(data)), 400, "invalid")
    assert err["source"] == {"pointer": pointer}


def test_invalid_profile_in_bulk_body_points_into_the_array(
    client: httpx.Client, kit: Any, openapi: Any
) -> None:
    profiles = [kit.profile("a@example.com"), {"type": "profile", "attributes": {"email": 7}}]
    r = client.post("/api/profile-bulk-import-jobs", content=kit.import_job(profiles))
    err = _error(kit, openapi, r, 400, "invalid")
    assert err["source"]["pointer"] == "/data/attributes/profiles/data/1/attributes/email"


def test_malformed_json_is_400(client: httpx.Client, kit: Any, openapi: Any) -> None:
    _error(kit, openapi, client.post("/api/lists", content=b"{nope"), 400, "invalid")


def test_payload_over_5mb_is_413(client: httpx.Client, kit: Any) -> None:
    big = [kit.profile(f"p{i}@example.com", properties={"pad": "x" * 600}) for i in range(8000)]
    r = client.post("/api/profile-bulk-import-jobs", content=kit.import_job(big))
    assert r.status_code == 413
    assert kit.error_of(r)["code"] == "payload_too_large"


def test_profile_endpoint_payload_over_100kb_is_413(client: httpx.Client, kit: Any) -> None:
    r = client.post(
        "/api/profiles",
        content=kit.body(kit.profile("big@example.com", properties={"pad": "x" * 100_001})),
    )
    assert r.status_code == 413


def test_more_than_10000_profiles_is_400(client: httpx.Client, kit: Any, openapi: Any) -> None:
    small = [{"type": "profile", "attributes": {"external_id": str(i)}} for i in range(10_001)]
    err = _error(
        kit,
        openapi,
        client.post("/api/profile-bulk-import-jobs", content=kit.import_job(small)),
        400,
        "invalid",
    )
    assert err["source"] == {"pointer": "/data/attributes/profiles/data"}


def test_more_than_1000_ids_is_400(client: httpx.Client, kit: Any, openapi: Any) -> None:
    list_id = kit.new_list(client)
    ids = kit.body([{"type": "profile", "id": f"P{i}"} for i in range(1001)])
    r = client.post(f"/api/lists/{list_id}/relationships/profiles", content=ids)
    assert _error(kit, openapi, r, 400, "invalid")["source"] == {"pointer": "/data"}


def test_unknown_profile_id_in_add_is_400(client: httpx.Client, kit: Any, openapi: Any) -> None:
    list_id = kit.new_list(client)
    r = client.post(
        f"/api/lists/{list_id}/relationships/profiles",
        content=kit.body([{"type": "profile", "id": "NOPE"}]),
    )
    assert _error(kit, openapi, r, 400, "invalid")["source"] == {"pointer": "/data/0/id"}


@pytest.mark.parametrize(
    "url",
    [
        "/api/lists/XXXXXX",
        "/api/profile-bulk-import-jobs/NOPE",
        "/api/lists/XXXXXX/profiles",
        "/api/nothing-here",
    ],
)
def test_unknown_resource_is_404(client: httpx.Client, kit: Any, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 404
    assert kit.error_of(r)["code"] == "not_found"


def test_unsupported_method_is_405(client: httpx.Client, kit: Any) -> None:
    r = client.put("/api/lists")
    assert r.status_code == 405
    assert kit.error_of(r)["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/lists?page[size]=11", "page[size]"),
        ("/api/profiles?page[size]=101", "page[size]"),
        ("/api/profiles?page[size]=0", "page[size]"),
        ("/api/lists?sort=banana", "sort"),
        ("/api/lists?fields[list]=secret", "fields[list]"),
        ("/api/lists?include=profiles", "include"),
        ("/api/lists?colour=blue", "colour"),
        ("/api/lists?page[cursor]=zzz", "page[cursor]"),
        ('/api/profiles?filter=equals(email,"a@b.co"', "filter"),
        ('/api/profiles?filter=contains(email,"x")', "filter"),
        ('/api/profiles?filter=or(equals(email,"a@b.co"),equals(email,"c@d.co"))', "filter"),
        ('/api/profiles?filter=equals(first_name,"Ann")', "filter"),
        ('/api/profiles?filter=greater-than(email,"a")', "filter"),
        ('/api/profiles?filter=equals(_kx,"abc")', "filter"),
        ('/api/profiles?filter=equals(email,["a@b.co"])', "filter"),
        ('/api/lists?filter=equals(email,"a@b.co")', "filter"),
    ],
)
def test_bad_query_parameter_is_400(
    client: httpx.Client, kit: Any, openapi: Any, url: str, parameter: str
) -> None:
    r = client.get(url)
    assert r.status_code == 400, r.text
    err = kit.error_of(r)
    assert err["source"] == {"parameter": parameter}
    assert "a@b.co" not in err["detail"]


def test_errors_never_echo_emails_or_phones(client: httpx.Client, kit: Any) -> None:
    r = client.post("/api/profiles", content=kit.body(kit.profile("broken@@example")))
    assert "broken" not in r.text
    r = client.post(
        "/api/profiles",
        content=kit.body({"type": "profile", "attributes": {"phone_number": "555-1234"}}),
    )
    assert r.status_code == 400
    assert kit.error_of(r)["source"] == {"pointer": "/data/attributes/phone_number"}
    assert "555-1234" not in r.text  # not just "555": the error's random id may hold that


def test_gzip_body_is_accepted_and_other_encodings_are_415(client: httpx.Client, kit: Any) -> None:
    import gzip

    raw = kit.body({"type": "list", "attributes": {"name": "zipped"}})
    r = client.post("/api/lists", content=gzip.compress(raw), headers={"content-encoding": "gzip"})
    assert r.status_code == 201
    assert r.json()["data"]["attributes"]["name"] == "zipped"
    r = client.post("/api/lists", content=raw, headers={"content-encoding": "br"})
    assert r.status_code == 415


def test_profile_over_100kb_in_a_job_is_an_import_error(
    client: httpx.Client, kit: Any, server: SandboxServer
) -> None:
    profiles = [
        kit.profile("small@example.com"),
        kit.profile("huge@example.com", properties={"pad": "x" * 100_001}),
    ]
    job_id = client.post("/api/profile-bulk-import-jobs", content=kit.import_job(profiles)).json()[
        "data"
    ]["id"]
    server.state.run_jobs()
    job = server.state.job(job_id)
    assert (job.completed_count, job.failed_count) == (1, 1)
    assert job.errors[0].pointer == "/data/attributes/profiles/data/1"
    assert "100 KB" in job.errors[0].detail
