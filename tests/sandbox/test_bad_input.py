"""The sandbox stays up under bad input, and records every request that breaks the spec."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx
import pytest

from herald.sandbox import SandboxConfig, SandboxServer
from herald.sandbox.server import LIMIT_CONCURRENCY
from herald.sandbox.validation import to_json_schema

JSONAPI = "application/vnd.api+json"


def _list_body(name: Any) -> bytes:
    return json.dumps({"data": {"type": "list", "attributes": {"name": name}}}).encode()


# --- item 23: bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_nesting_too_deep_is_a_json_api_400(
    client: httpx.Client, kit: Any, server: SandboxServer, depth: int
) -> None:
    raw = b'{"data":' + b"[" * depth + b"]" * depth + b"}"
    r = client.post("/api/lists", content=raw)
    assert r.status_code == 400
    assert kit.error_of(r)["detail"] == "The request body is nested too deeply."
    assert client.get("/api/lists").status_code == 200  # still up


def test_a_lone_surrogate_name_is_refused_and_the_lists_stay_readable(
    client: httpx.Client, kit: Any, server: SandboxServer
) -> None:
    before = len(server.state.lists())
    for raw in (b'"\\ud800"', b'"A\\udfffB"', b'"\\ude00\\ud83d"', b'"\xed\xa0\x80"'):
        r = client.post("/api/lists", content=_list_body("X").replace(b'"X"', raw))
        assert r.status_code == 400, raw
        assert "lone UTF-16 surrogate" in kit.error_of(r)["detail"]
    ok = client.post("/api/lists", content=_list_body("\N{GRINNING FACE} ok"))  # a real pair
    assert ok.status_code == 201
    assert len(server.state.lists()) == before + 1
    admin = httpx.get(f"{server.url}/__sandbox__/lists", timeout=10)
    assert admin.status_code == 200
    assert "\N{GRINNING FACE} ok" in [k["name"] for k in admin.json()]


@pytest.mark.parametrize(
    "odd",
    [b"123456789012345678901234567890", b"[" * 300 + b"]" * 300],
    ids=["integer-beyond-64-bits", "300-deep"],
)
def test_odd_values_in_a_large_bulk_body_do_not_stop_the_job_worker(odd: bytes) -> None:
    # Over 100 KB, the job re-encodes each profile to check the per-profile cap: orjson
    # refuses both values, which killed the worker thread and left every job queued.
    profiles = [
        {"type": "profile", "attributes": {"email": f"p{i}@example.com", "properties": {"n": 0}}}
        for i in range(3_000)
    ]

    def body(list_id: str) -> bytes:
        raw = json.dumps(
            {
                "data": {
                    "type": "profile-bulk-import-job",
                    "attributes": {"profiles": {"data": profiles}},
                    "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}},
                }
            }
        ).encode()
        return raw.replace(b'{"n": 0}', b'{"n": ' + odd + b"}", 1)

    with SandboxServer(SandboxConfig(limits="off", job_tick=0.01)) as server, server.client() as c:
        list_id = c.post("/api/lists", content=_list_body("Odd")).json()["data"]["id"]
        first, second = body(list_id), body(list_id)
        assert len(first) > 100_000
        for raw in (first, second):
            assert c.post("/api/profile-bulk-import-jobs", content=raw).status_code == 202
        deadline = time.monotonic() + 20
        while any(j.status != "complete" for j in server.state.jobs()):
            assert time.monotonic() < deadline, [j.status for j in server.state.jobs()]
            time.sleep(0.05)
        assert [j.completed_count for j in server.state.jobs()] == [3_000, 3_000]
        assert c.get("/api/profiles", params={"page[size]": "5"}).status_code == 200


def test_stalled_connections_are_closed_and_do_not_starve_real_requests() -> None:
    """More connections than the server serves at once send half a request and stall: each
    is closed after ``read_timeout``, and a real request is answered within a bounded time
    (before, every request got 503 for as long as they stayed)."""
    config = SandboxConfig(limits="off", job_tick=None, read_timeout=2.0)
    with SandboxServer(config) as server:
        headers = "".join(f"{k}: {v}\r\n" for k, v in server.headers().items())
        halves = [
            b"POST /api/lists HTTP/1.1\r\nHost: sandbox\r\n",  # half the headers
            f"POST /api/lists HTTP/1.1\r\nHost: sandbox\r\n{headers}content-length: 90\r\n\r\n"
            '{"data": {"type"'.encode(),  # half the body
            b"",  # nothing at all
        ]
        stalled = []
        try:
            for i in range(LIMIT_CONCURRENCY + 200):
                sock = socket.create_connection((server.host, server.port), timeout=5)
                sock.sendall(halves[i % len(halves)])
                stalled.append(sock)
            started = time.monotonic()
            time.sleep(1.0)  # let the server accept them: every slot is taken
            statuses = []
            while 200 not in statuses and time.monotonic() - started < 12:
                r = httpx.get(f"{server.url}/api/lists", headers=server.headers(), timeout=5)
                statuses.append(r.status_code)
                time.sleep(0.1)
            assert statuses[-1] == 200, statuses
            assert time.monotonic() - started < 8
            for sock in stalled[:30]:
                sock.settimeout(3)
                assert sock.recv(1) == b""  # closed by the sandbox
        finally:
            for sock in stalled:
                sock.close()


def test_a_request_sent_whole_is_not_cut_however_slow_the_answer() -> None:
    """The deadline is for the client to send a request, not for the sandbox to answer: the
    latency fault holds a request before its body is read (past the server's buffer)."""
    config = SandboxConfig(limits="off", job_tick=None, read_timeout=0.3, faults="latency=1000ms")
    with SandboxServer(config) as server, server.client() as c:
        assert c.get("/api/lists").status_code == 200
        assert c.post("/api/lists", content=_list_body("L" * 300_000)).status_code == 201


# --- item 10: every violation is recorded ---------------------------------------------------


def test_violations_are_recorded_with_method_path_pointer_and_message(kit: Any) -> None:
    with SandboxServer(SandboxConfig(limits="off", job_tick=None)) as server:
        with server.client() as c:
            assert c.post("/api/lists", content=_list_body("Fine")).status_code == 201
            assert c.get("/api/lists", params={"page[size]": "5"}).status_code == 200
            assert server.violations() == []

            probe = kit.body({"type": "list"})  # what every run used to send
            assert c.post("/api/lists", content=probe).status_code == 400
            assert c.post("/api/lists", content=_list_body(7)).status_code == 400
            assert c.get("/api/lists", params={"page[size]": "11"}).status_code == 400
            assert c.get("/api/lists", params={"nope": "1"}).status_code == 400
            assert c.post("/api/lists", content=b"{").status_code == 400
            assert c.get("/api/no-such-endpoint").status_code == 404
            assert c.put("/api/lists").status_code == 405
        found = [(v.method, v.path, v.status, v.pointer) for v in server.violations()]
        assert found == [
            ("POST", "/api/lists", 400, "/data/attributes"),
            ("POST", "/api/lists", 400, "/data/attributes/name"),
            ("GET", "/api/lists", 400, "page[size]"),
            ("GET", "/api/lists", 400, "nope"),
            ("POST", "/api/lists", 400, "/"),
            ("GET", "(no route)", 404, ""),
            ("PUT", "/api/lists", 405, ""),
        ]
        assert server.violations()[0].message == "'attributes' is a required field."
        served = httpx.get(f"{server.url}/__sandbox__/violations", timeout=10).json()
        assert [(v["method"], v["path"], v["pointer"], v["message"]) for v in served] == [
            (v.method, v.path, v.pointer, v.message) for v in server.violations()
        ]
        assert httpx.get(f"{server.url}/__sandbox__/state", timeout=10).json()["violations"] == 7


def test_refusals_that_depend_on_the_account_are_not_violations() -> None:
    with SandboxServer(SandboxConfig(limits="off", job_tick=None, max_lists=1)) as server:
        with server.client() as c:
            assert c.post("/api/lists", content=_list_body("One")).status_code == 201
            assert c.post("/api/lists", content=_list_body("Two")).status_code == 400  # cap
            assert c.get("/api/lists/NOSUCH").status_code == 404
        assert server.violations() == []


def test_a_property_named_like_a_keyword_keeps_its_schema() -> None:
    """Catalog items, coupons and templates have a ``description`` property: converting the
    spec's schema must not drop it as if it were prose, or its type would go unchecked."""
    schema = {
        "type": "object",
        "properties": {
            "description": {"type": "string", "description": "prose"},
            "example": {"type": "integer", "nullable": True},
        },
        "required": ["description"],
    }
    assert to_json_schema(schema) == {
        "type": "object",
        "properties": {
            "description": {"type": "string"},
            "example": {"type": ["integer", "null"]},
        },
        "required": ["description"],
    }
