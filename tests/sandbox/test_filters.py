"""Klaviyo's filter syntax."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.sandbox.errors import ApiError
from herald.sandbox.filters import Condition, check_allowed, matches, parse_filter

ALLOWED = {"email": ["any", "equals"], "created": ["greater-than", "less-than"], "_kx": ["equals"]}
IMPLEMENTED = frozenset({"email", "created"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('equals(email,"a@b.co")', [Condition("equals", "email", "a@b.co")]),
        ("equals(email,'a@b.co')", [Condition("equals", "email", "a@b.co")]),
        ('any(email,["a@b.co","c@d.co"])', [Condition("any", "email", ["a@b.co", "c@d.co"])]),
        ('equals(name,"a,b(c)")', [Condition("equals", "name", "a,b(c)")]),
        ('equals(name,"say \\"hi\\"")', [Condition("equals", "name", 'say "hi"')]),
        (
            "greater-than(created,2024-01-01T00:00:00Z)",
            [Condition("greater-than", "created", datetime(2024, 1, 1, tzinfo=UTC))],
        ),
        (
            "equals(n,5),equals(b,true),equals(x,null)",
            [
                Condition("equals", "n", 5),
                Condition("equals", "b", True),
                Condition("equals", "x", None),
            ],
        ),
        (
            'and(equals(a,"1"),and(equals(b,"2")))',
            [Condition("equals", "a", "1"), Condition("equals", "b", "2")],
        ),
        (' equals( email , "x" ) ', [Condition("equals", "email", "x")]),
    ],
)
def test_parses(text: str, expected: list[Condition]) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "equals",
        "equals(email)",
        'equals(email,"x"',
        'equals(email,"x"))',
        "equals(email,x)",
        'banana(email,"x")',
        'or(equals(a,"1"),equals(b,"2"))',
        'not(equals(a,"1"))',
        'contains(email,"x")',
        'equals("email","x")',
        'equals(email,"x") junk',
        "any(email,[])",
    ],
)
def test_rejects_with_source_parameter_filter(text: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_filter(text)
    assert info.value.status == 400
    assert info.value.source == {"parameter": "filter"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('equals(phone_number,"+1")', "not a filterable field"),
        ('greater-than(email,"x")', "not allowed for the field"),
        ('equals(_kx,"x")', "sandbox does not support"),
        ('any(email,"x")', "needs a list"),
        ('equals(email,["x"])', "takes one value"),
        ('greater-than(created,"yesterday")', "needs a date-time"),
    ],
)
def test_checks_against_what_the_endpoint_allows(text: str, reason: str) -> None:
    with pytest.raises(ApiError, match=reason):
        check_allowed(parse_filter(text), ALLOWED, IMPLEMENTED)


def test_matches() -> None:
    assert matches(Condition("any", "email", ["a", "b"]), "b")
    assert not matches(Condition("equals", "email", "a"), "b")
    day = datetime(2024, 1, 1, tzinfo=UTC)
    assert matches(Condition("greater-than", "created", day), datetime(2024, 2, 1, tzinfo=UTC))
    assert not matches(Condition("less-than", "created", day), None)


@given(
    st.lists(
        st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12),
        min_size=1,
        max_size=5,
    )
)
def test_any_round_trips_quoted_strings(values: list[str]) -> None:
    quoted = ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    assert parse_filter(f"any(email,[{quoted}])") == [Condition("any", "email", values)]
