"""The sans-I/O protocol: builders, parsers, scrubbing, filters."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.destinations.klaviyo_api import _protocol as P
from herald.redact import redact
from herald.sandbox.filters import parse_filter


def test_find_list_quotes_the_name_and_sorts_oldest_first() -> None:
    req = P.find_list('Spring "VIP" \\ list')
    params = dict(req.params)
    assert (req.method, req.path, req.operation) == ("GET", "/api/lists", "get_lists")
    assert params["filter"] == 'equals(name,"Spring \\"VIP\\" \\\\ list")'
    assert params["sort"] == "created"
    assert params["page[size]"] == "10"


@given(st.text(min_size=1, max_size=40))
def test_filter_values_round_trip_through_the_sandbox_parser(value: str) -> None:
    # The sandbox parses filters as Klaviyo documents them; any string must come back intact.
    [cond] = parse_filter(P.equals_filter("name", value))
    assert cond.value == value
    [cond] = parse_filter(P.any_filter("email", [value, "b"]))
    assert cond.value == [value, "b"]


def test_any_filter() -> None:
    assert P.any_filter("email", ["a@x.io", 'q"@x.io']) == 'any(email,["a@x.io","q\\"@x.io"])'
    with pytest.raises(ValueError, match="at least one"):
        P.any_filter("email", [])


def test_create_list_and_start_import_bodies() -> None:
    assert P.create_list("VIP").json == {"data": {"type": "list", "attributes": {"name": "VIP"}}}
    req = P.start_import([{"email": "a@x.io"}], "L1")
    data = req.json["data"]
    assert (req.method, req.path) == ("POST", "/api/profile-bulk-import-jobs")
    assert data["type"] == "profile-bulk-import-job"
    assert data["attributes"]["profiles"]["data"] == [
        {"type": "profile", "attributes": {"email": "a@x.io"}}
    ]
    assert data["relationships"]["lists"]["data"] == [{"type": "list", "id": "L1"}]
    with pytest.raises(ValueError, match="10,000"):
        P.start_import([{"email": "a@x.io"}] * 10_001, "L1")


def test_paths_quote_ids() -> None:
    assert P.get_import("a/../b").path == "/api/profile-bulk-import-jobs/a%2F..%2Fb"
    members = P.list_members("L1")
    assert members.path == "/api/lists/L1/profiles"
    assert dict(members.params) == {
        "fields[profile]": "email,phone_number,external_id",
        "page[size]": "100",
    }


def test_remove_and_find_profiles_bounds() -> None:
    req = P.remove_from_list("L1", ["p1", "p2"])
    assert req.method == "DELETE"
    assert req.json == {"data": [{"type": "profile", "id": "p1"}, {"type": "profile", "id": "p2"}]}
    with pytest.raises(ValueError, match="1,000"):
        P.remove_from_list("L1", ["p"] * 1001)
    with pytest.raises(ValueError, match="100"):
        P.find_profiles("email", ["a"] * 101)
    params = dict(P.find_profiles("external_id", ["x1"]).params)
    assert params["filter"] == 'any(external_id,["x1"])'
    assert params["page[size]"] == "100"


def test_members_page_and_next_request_keep_only_path_and_query() -> None:
    first = P.list_members("L1")
    doc = {
        "data": [
            {
                "type": "profile",
                "id": "p1",
                "attributes": {"email": "a@x.io", "phone_number": None},
            },
            {"type": "profile", "id": "p2", "attributes": {"external_id": "e2"}},
        ],
        "links": {
            "self": "https://a.klaviyo.com/api/lists/L1/profiles/",
            "next": "https://a.klaviyo.com/api/lists/L1/profiles/?page%5Bcursor%5D=abc&page%5Bsize%5D=100",
        },
    }
    page = P.parse_members(doc, first)
    assert [m.profile_id for m in page.items] == ["p1", "p2"]
    assert page.items[0].email == "a@x.io"
    assert page.items[1].external_id == "e2"
    assert page.next == P.Request(
        "get_profiles_for_list",
        "GET",
        "/api/lists/L1/profiles/",
        (("page[cursor]", "abc"), ("page[size]", "100")),
    )
    assert P.parse_members({"data": [], "links": {"self": "x"}}, first).next is None


def test_parse_job_and_import_errors() -> None:
    job = P.parse_job(
        {
            "data": {
                "id": "J1",
                "attributes": {
                    "status": "processing",
                    "total_count": 3,
                    "completed_count": 1,
                    "failed_count": None,
                },
            }
        }
    )
    assert (job.id, job.status, job.total_count, job.completed_count, job.failed_count) == (
        "J1",
        "processing",
        3,
        1,
        0,
    )
    doc = {
        "data": [
            {
                "type": "import-error",
                "id": "e1",
                "attributes": {
                    "code": "invalid",
                    "title": "Invalid input.",
                    "detail": "Invalid email bad@x",
                    "original_payload": {"type": "profile", "attributes": {"email": "bad@x"}},
                },
            }
        ]
    }
    [err] = P.parse_import_errors(doc, P.import_errors("J1")).items
    assert err.original_payload == {"email": "bad@x"}
    assert err.code == "invalid"


def test_parse_profiles_matches_emails_without_case() -> None:
    doc = {
        "data": [
            {"id": "p1", "attributes": {"email": "ann@x.io"}},
            {"id": "p9", "attributes": {"email": "other@x.io"}},
        ]
    }
    page = P.parse_profiles(doc, P.find_profiles("email", ["Ann@X.io"]), "email", ["Ann@X.io"])
    assert page.items == [("Ann@X.io", "p1")]


def test_parse_list_id_needs_the_exact_name() -> None:
    doc = {
        "data": [
            {"id": "a", "attributes": {"name": "vip"}},
            {"id": "b", "attributes": {"name": "VIP"}},
        ]
    }
    assert P.parse_list_id(doc, "VIP") == "b"
    assert P.parse_list_id(doc, "Gold") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Email ann.o'neil+x@mail.example.com is invalid", "Email [email] is invalid"),
        ("phone +15005550006 taken", "phone [phone] taken"),
        ("phone +44 20 7946 0958.", "phone [phone]."),
        ("call (500) 555-0006 now", "call [phone] now"),
        ("At most 10000 profiles; got 10001.", "At most 10000 profiles; got 10001."),
        ("larger than the 5000000 bytes", "larger than the 5000000 bytes"),
        ("profile 01HXYZ5005550006ABCDEF", "profile 01HXYZ5005550006ABCDEF"),
    ],
)
def test_klaviyo_texts_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


_ATTRIBUTE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    st.lists(st.dictionaries(st.text(), _ATTRIBUTE, max_size=4), min_size=1, max_size=20),
    st.text(min_size=1),
)
def test_an_encoded_import_body_is_the_bytes_of_the_decoded_one(
    profiles: list[dict[str, Any]], list_id: str
) -> None:
    encoded = [orjson.dumps(p).decode() for p in profiles]
    assert P.import_body_bytes(encoded, list_id) == orjson.dumps(P.import_body(profiles, list_id))


def test_an_encoded_import_takes_1_to_10000_profiles() -> None:
    with pytest.raises(ValueError, match="1 to 10,000 profiles, not 0"):
        P.start_import_encoded([], "L1")
