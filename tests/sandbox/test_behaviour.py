"""Klaviyo's behaviour beyond shapes: identity and 409s, jobs, membership vs consent, bounces,
pagination, inspection."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from herald.sandbox import SandboxConfig, SandboxServer


def _data(r: httpx.Response) -> Any:
    return r.json()["data"]


# --- identity ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "clash",
    [
        {"email": "DUP@Example.com"},
        {"phone_number": "+15005550006"},
        {"external_id": "ext-1"},
    ],
)
def test_create_profile_409_duplicate_profile(
    client: httpx.Client, kit: Any, clash: dict[str, str]
) -> None:
    first = {"email": "dup@example.com", "phone_number": "+15005550006", "external_id": "ext-1"}
    r = client.post("/api/profile-import", content=kit.body(kit.profile(**first)))
    existing = _data(r)["id"]
    r = client.post("/api/profiles", content=kit.body(kit.profile(**clash)))
    assert r.status_code == 409
    err = kit.error_of(r)
    assert err["code"] == "duplicate_profile"
    assert err["meta"] == {"duplicate_profile_id": existing}
    assert "example.com" not in err["detail"]


def test_profile_import_upserts_and_null_clears(client: httpx.Client, kit: Any) -> None:
    r = client.post(
        "/api/profile-import",
        content=kit.body(kit.profile("ann@example.com", first_name="Ann", last_name="Lee")),
    )
    assert r.status_code == 201
    pid = _data(r)["id"]
    r = client.post(
        "/api/profile-import",
        content=kit.body(kit.profile("ANN@example.com", first_name="Anne", last_name=None)),
    )
    assert r.status_code == 200
    attrs = _data(r)["attributes"]
    assert (_data(r)["id"], attrs["first_name"], attrs["last_name"]) == (pid, "Anne", None)
    r = client.post(
        "/api/profile-import",
        content=kit.body({"type": "profile", "id": pid, "attributes": {"external_id": "ann-1"}}),
    )
    assert r.status_code == 200
    assert _data(r)["attributes"]["email"] == "ann@example.com"


def test_profile_import_409_when_identifiers_belong_to_two_profiles(
    client: httpx.Client, kit: Any
) -> None:
    client.post("/api/profiles", content=kit.body(kit.profile("one@example.com")))
    r = client.post("/api/profiles", content=kit.body(kit.profile(phone_number="+15005550099")))
    r = client.post(
        "/api/profile-import",
        content=kit.body(kit.profile("one@example.com", phone_number="+15005550099")),
    )
    assert r.status_code == 409
    assert kit.error_of(r)["code"] == "duplicate_profile"


def test_profile_import_unknown_id_is_404(client: httpx.Client, kit: Any) -> None:
    r = client.post(
        "/api/profile-import",
        content=kit.body({"type": "profile", "id": "01NOPE", "attributes": {"first_name": "X"}}),
    )
    assert r.status_code == 404


def test_get_profiles_filters_by_every_identifier(client: httpx.Client, kit: Any) -> None:
    r = client.post(
        "/api/profiles",
        content=kit.body(
            kit.profile("find@example.com", phone_number="+447700900123", external_id="F-1")
        ),
    )
    pid = _data(r)["id"]
    for flt in [
        'equals(email,"FIND@example.com")',
        'equals(phone_number,"+447700900123")',
        'any(external_id,["F-1","F-2"])',
        f'equals(id,"{pid}")',
        f'and(equals(email,"find@example.com"),equals(id,"{pid}"))',
    ]:
        found = _data(client.get("/api/profiles", params={"filter": flt}))
        assert [p["id"] for p in found] == [pid], flt


# --- bulk import jobs -------------------------------------------------------------------


def test_job_lifecycle_import_errors_and_membership(
    client: httpx.Client, kit: Any, server: SandboxServer
) -> None:
    list_id = kit.new_list(client)
    known = _data(
        client.post("/api/profiles", content=kit.body(kit.profile(phone_number="+15005550100")))
    )["id"]
    profiles = [
        kit.profile("a1@example.com", external_id="A1"),
        kit.profile("bad@", first_name="B"),
        kit.profile("a3@example.com", phone_number="+15005550100"),  # matches `known` by phone
        kit.profile(phone_number="12345"),
        {"type": "profile", "attributes": {"first_name": "nobody"}},
        kit.profile("A1@EXAMPLE.COM", last_name="Again"),  # the same person as the first
    ]
    job = _data(
        client.post("/api/profile-bulk-import-jobs", content=kit.import_job(profiles, list_id))
    )
    url = f"/api/profile-bulk-import-jobs/{job['id']}"
    assert job["attributes"]["status"] == "queued"
    server.state.advance_jobs()
    assert _data(client.get(url))["attributes"]["status"] == "processing"
    server.state.advance_jobs()
    attrs = _data(client.get(url))["attributes"]
    assert (
        attrs["status"],
        attrs["total_count"],
        attrs["completed_count"],
        attrs["failed_count"],
    ) == ("complete", 6, 3, 3)
    assert attrs["started_at"]
    assert attrs["completed_at"]

    errors = _data(client.get(f"{url}/import-errors"))
    assert [e["attributes"]["source"]["pointer"] for e in errors] == [
        "/data/attributes/profiles/data/1/attributes/email",
        "/data/attributes/profiles/data/3/attributes/phone_number",
        "/data/attributes/profiles/data/4/attributes",
    ]
    assert errors[0]["attributes"]["original_payload"] == profiles[1]
    assert "bad@" not in errors[0]["attributes"]["detail"]

    members = server.state.list_members(list_id)
    assert len(members) == 2
    assert known in members
    assert server.state.profile(known).email == "a3@example.com"
    ids = [x["id"] for x in _data(client.get(f"{url}/relationships/profiles"))]
    assert sorted(ids) == sorted(members)
    first = server.state.find_profile(email="a1@example.com")
    assert first is not None
    assert first.attributes["last_name"] == "Again"
    assert [x["id"] for x in _data(client.get(f"{url}/lists"))] == [list_id]


def test_background_worker_completes_jobs(kit: Any) -> None:
    with SandboxServer(SandboxConfig(limits="off", job_tick=0.01)) as s, s.client() as c:
        list_id = kit.new_list(c)
        profiles = [kit.profile(f"w{i}@example.com") for i in range(2000)]
        job_id = _data(
            c.post("/api/profile-bulk-import-jobs", content=kit.import_job(profiles, list_id))
        )["id"]
        deadline = time.monotonic() + 20
        status = "queued"
        while status != "complete" and time.monotonic() < deadline:
            time.sleep(0.02)
            status = _data(c.get(f"/api/profile-bulk-import-jobs/{job_id}"))["attributes"]["status"]
        assert status == "complete"
        assert len(s.state.list_members(list_id)) == 2000


def test_jobs_filter_by_status(client: httpx.Client, kit: Any, server: SandboxServer) -> None:
    client.post(
        "/api/profile-bulk-import-jobs", content=kit.import_job([kit.profile("q@example.com")])
    )
    queued = _data(
        client.get("/api/profile-bulk-import-jobs", params={"filter": 'equals(status,"queued")'})
    )
    assert queued
    assert all(j["attributes"]["status"] == "queued" for j in queued)
    server.state.run_jobs()
    assert (
        _data(
            client.get(
                "/api/profile-bulk-import-jobs",
                params={"filter": 'any(status,["queued","processing"])'},
            )
        )
        == []
    )


# --- membership, consent, bounces -------------------------------------------------------


def test_membership_does_not_change_consent(client: httpx.Client, kit: Any) -> None:
    list_id = kit.new_list(client)
    pid = _data(client.post("/api/profiles", content=kit.body(kit.profile("consent@example.com"))))[
        "id"
    ]
    params = {"additional-fields[profile]": "subscriptions"}

    def consent() -> Any:
        found = _data(
            client.get("/api/profiles", params={**params, "filter": f'equals(id,"{pid}")'})
        )
        return found[0]["attributes"]["subscriptions"]

    before = consent()
    ids = kit.body([{"type": "profile", "id": pid}])
    client.post(f"/api/lists/{list_id}/relationships/profiles", content=ids)
    assert consent() == before
    client.request("DELETE", f"/api/lists/{list_id}/relationships/profiles", content=ids)
    assert consent() == before
    assert before["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"


def test_bounced_profiles_leave_every_list(kit: Any) -> None:
    config = SandboxConfig(limits="off", job_tick=None, bounce_share=0.3, seed=4)
    with SandboxServer(config) as s, s.client() as c:
        list_id = kit.new_list(c)
        c.post(
            "/api/profile-bulk-import-jobs",
            content=kit.import_job([kit.profile(f"b{i}@example.com") for i in range(400)], list_id),
        )
        s.state.run_jobs()
        bounced = [p for p in s.state.profiles() if p.suppressions]
        members = s.state.list_members(list_id)
        assert 80 <= len(bounced) <= 160
        assert len(members) == 400 - len(bounced)
        assert not {p.id for p in bounced} & set(members)
        assert bounced[0].suppressions[0]["reason"] == "HARD_BOUNCE"
        # Re-adding a bounced profile does not stick.
        c.post(
            f"/api/lists/{list_id}/relationships/profiles",
            content=kit.body([{"type": "profile", "id": bounced[0].id}]),
        )
        assert bounced[0].id not in s.state.list_members(list_id)
        sub = _data(
            c.get(
                "/api/profiles",
                params={
                    "filter": f'equals(id,"{bounced[0].id}")',
                    "additional-fields[profile]": "subscriptions",
                },
            )
        )[0]["attributes"]["subscriptions"]
        assert sub["email"]["marketing"]["suppression"][0]["reason"] == "HARD_BOUNCE"


def test_explicit_bounce_through_the_python_api(
    client: httpx.Client, kit: Any, server: SandboxServer
) -> None:
    list_id = kit.new_list(client)
    pid = _data(client.post("/api/profiles", content=kit.body(kit.profile("hb@example.com"))))["id"]
    client.post(
        f"/api/lists/{list_id}/relationships/profiles",
        content=kit.body([{"type": "profile", "id": pid}]),
    )
    server.state.bounce([pid])
    assert server.state.list_members(list_id) == []


# --- pagination and inspection ----------------------------------------------------------


def test_cursor_pagination_reads_every_item_once(kit: Any) -> None:
    with SandboxServer(SandboxConfig(limits="off", job_tick=None)) as s, s.client() as c:
        made = {kit.new_list(c, f"L{i}") for i in range(25)}
        seen: list[str] = []
        url: str | None = "/api/lists"
        while url:
            page = c.get(url).json()
            assert len(page["data"]) <= 10
            seen += [x["id"] for x in page["data"]]
            url = page["links"].get("next")
        assert sorted(seen) == sorted(made)
        c.post(
            "/api/profile-bulk-import-jobs",
            content=kit.import_job([kit.profile(f"pg{i}@example.com") for i in range(150)]),
        )
        s.state.run_jobs()
        first = c.get("/api/profiles", params={"page[size]": 100}).json()
        second = c.get(first["links"]["next"]).json()
        assert len(first["data"]) == 100
        assert len(second["data"]) == 50
        assert "next" not in second["links"]
        assert "prev" in second["links"]


def test_admin_endpoint_and_request_log(kit: Any) -> None:
    with SandboxServer(SandboxConfig(limits="off", job_tick=None)) as s, s.client() as c:
        list_id = kit.new_list(c)
        c.get("/api/profiles", params={"filter": 'equals(email,"secret@example.com")'})
        c.get("/api/lists/NOPE")
        summary = httpx.get(f"{s.url}/__sandbox__/state").json()
        assert summary["lists"][list_id] == {"name": "Audience", "members": 0}
        assert summary["requests"]["create_list"] == {"201": 1}
        assert summary["requests"]["get_list"] == {"404": 1}
        assert s.state.request_counts()[("get_profiles", 200)] == 1
        log = httpx.get(f"{s.url}/__sandbox__/requests").json()
        assert "secret" not in str(log)
        assert httpx.get(f"{s.url}/__sandbox__/lists").json()[0]["id"] == list_id
        assert httpx.get(f"{s.url}/__sandbox__/lists/{list_id}/members").json() == []
        assert httpx.get(f"{s.url}/__sandbox__/lists/NOPE/members").status_code == 404


def test_same_seed_gives_the_same_ids(kit: Any) -> None:
    ids = []
    for _ in range(2):
        with (
            SandboxServer(SandboxConfig(limits="off", job_tick=None, seed=42)) as s,
            s.client() as c,
        ):
            ids.append(kit.new_list(c))
    assert ids[0] == ids[1]
    assert len(ids[0]) == 6
    assert ids[0].isalnum()
