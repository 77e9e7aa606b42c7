"""Who ends up where (DESIGN §1.3): include − exclude, ordered sub-audiences with first match
only or overlap, and All Remaining Recipients, on a hand-made table whose memberships are
known: customer ``c{i}`` is a VIP when i % 2 == 0, a shoe buyer when i % 3 == 0, on the
do-not-contact list when i % 5 == 0 and a promo opt-out when i % 7 == 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import pytest
from spark_engine import ENGINES

from herald.core.campaigns.model import REMAINDER
from herald.core.splitting import BASIS

N = 420
KEYS = [f"c{i:03d}" for i in range(N)]
FLAGS = {
    "vip": [i % 2 == 0 for i in range(N)],
    "shoe": [i % 3 == 0 for i in range(N)],
    "dnc": [i % 5 == 0 for i in range(N)],
    "promo_opt_out": [i % 7 == 0 for i in range(N)],
}


def members(flag: str) -> set[str]:
    return {k for k, on in zip(KEYS, FLAGS[flag], strict=True) if on}


VIP, SHOE, DNC, OPT_OUT = members("vip"), members("shoe"), members("dnc"), members("promo_opt_out")
EVERYONE = set(KEYS)
BOTH = "c006"  # a VIP and a shoe buyer, not excluded anywhere
assert BOTH in VIP & SHOE
assert BOTH not in DNC | OPT_OUT


@pytest.fixture(params=ENGINES)
def rig(
    request: pytest.FixtureRequest, rig_cls: type, flag_segments: Callable[[str, str], Any]
) -> Iterator[Any]:
    """The hand-made table on each engine: every answer holds on DuckDB and on Spark."""
    segments = [
        flag_segments("VIPs", "vip"),
        flag_segments("Shoe Buyers", "shoe"),
        flag_segments("Do Not Contact", "dnc"),
        flag_segments("Promo Opt-Outs", "promo_opt_out"),
    ]
    with rig_cls(KEYS, FLAGS, segments, kind=request.param) as made:
        yield made


def one_group(name: str = "Send") -> list[dict[str, Any]]:
    return [{"name": name, "percent": 100, "destinations": ["files"]}]


def campaign(**parts: Any) -> dict[str, Any]:
    return {"name": "Test", "include": ["Everyone"], **parts}


def by_sub(rows: list[tuple[str, str, str, bool]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for key, sub, _group, _control in rows:
        found.setdefault(sub, set()).add(key)
    return found


# --- the audience: include − exclude ---------------------------------------------------------


@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        (["VIPs"], [], VIP),
        (["VIPs", "Shoe Buyers"], [], VIP | SHOE),
        (["VIPs", "Shoe Buyers"], ["Do Not Contact"], (VIP | SHOE) - DNC),
        (
            ["VIPs", "Shoe Buyers"],
            ["Do Not Contact", "Promo Opt-Outs"],
            (VIP | SHOE) - DNC - OPT_OUT,
        ),
        (["VIPs"], ["VIPs"], set()),
        (["Everyone"], ["Do Not Contact", "Promo Opt-Outs"], EVERYONE - DNC - OPT_OUT),
    ],
    ids=[
        "one-include",
        "union-of-two-includes",
        "minus-one-exclude",
        "any-of-two-excludes-removes",
        "included-and-excluded-is-excluded",
        "everyone-minus-two-excludes",
    ],
)
def test_audience_is_the_union_of_includes_minus_any_exclude(
    rig: Any, include: list[str], exclude: list[str], expected: set[str]
) -> None:
    rows = rig.rows(
        {
            "name": "Test",
            "include": include,
            "exclude": exclude,
            "remaining": {"groups": one_group()},
        },
        "s",
    )

    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys))  # a customer in two includes is there once
    assert set(keys) == expected


def test_a_customer_in_an_include_and_an_exclude_is_excluded(rig: Any) -> None:
    customer = "c010"  # a VIP on the do-not-contact list
    assert customer in VIP & DNC
    rows = rig.rows(
        {
            "name": "T",
            "include": ["VIPs"],
            "exclude": ["Do Not Contact"],
            "remaining": {"groups": one_group()},
        },
        "s",
    )
    assert customer not in {r[0] for r in rows}
    assert "c002" in {r[0] for r in rows}  # a VIP who is not excluded stays


# --- sub-audiences ---------------------------------------------------------------------------


VIP_SUB = {"name": "VIP Tier", "segment": "VIPs", "groups": one_group("VIP Send")}
SHOE_SUB = {
    "name": "Shoe Fans",
    "where": {"attribute": "Customer_360.shoe", "op": "is true"},
    "groups": one_group("Shoe Send"),
}


def test_first_match_only_puts_a_customer_in_the_first_sub_audience_only(rig: Any) -> None:
    rows = rig.rows(campaign(sub_audiences=[VIP_SUB, SHOE_SUB]), "s")

    found = by_sub(rows)
    assert found == {"VIP Tier": VIP, "Shoe Fans": SHOE - VIP}
    assert [r[1] for r in rows if r[0] == BOTH] == ["VIP Tier"]


def test_sub_audience_order_decides_first_match(rig: Any) -> None:
    rows = rig.rows(campaign(sub_audiences=[SHOE_SUB, VIP_SUB]), "s")

    assert by_sub(rows) == {"Shoe Fans": SHOE, "VIP Tier": VIP - SHOE}
    assert [r[1] for r in rows if r[0] == BOTH] == ["Shoe Fans"]


def test_overlap_mode_puts_a_customer_in_every_sub_audience_they_match(rig: Any) -> None:
    rows = rig.rows(campaign(first_match_only=False, sub_audiences=[VIP_SUB, SHOE_SUB]), "s")

    assert by_sub(rows) == {"VIP Tier": VIP, "Shoe Fans": SHOE}
    assert sorted(r[1] for r in rows if r[0] == BOTH) == ["Shoe Fans", "VIP Tier"]


@pytest.mark.parametrize("first_match_only", [True, False], ids=["first-match", "overlap"])
def test_the_remainder_gets_nothing_without_groups(rig: Any, first_match_only: bool) -> None:
    rows = rig.rows(
        campaign(first_match_only=first_match_only, sub_audiences=[VIP_SUB, SHOE_SUB]), "s"
    )

    assert REMAINDER not in by_sub(rows)
    assert not ({r[0] for r in rows} & (EVERYONE - VIP - SHOE))


@pytest.mark.parametrize("first_match_only", [True, False], ids=["first-match", "overlap"])
def test_the_remainder_gets_its_groups_when_it_has_some(rig: Any, first_match_only: bool) -> None:
    groups = [
        {"name": "Rest A", "percent": 70, "destinations": ["files"]},
        {"name": "Rest Hold", "percent": 30, "control": True},
    ]
    rows = rig.rows(
        campaign(
            first_match_only=first_match_only,
            sub_audiences=[VIP_SUB, SHOE_SUB],
            remaining={"groups": groups},
        ),
        "s",
    )

    rest = EVERYONE - VIP - SHOE
    assert by_sub(rows)[REMAINDER] == rest
    counts = Counter((r[2], r[3]) for r in rows if r[1] == REMAINDER)
    assert counts == {
        ("Rest A", False): round(len(rest) * 0.7),
        ("Rest Hold", True): round(len(rest) * 0.3),
    }


def test_criteria_and_segment_sub_audiences_with_nested_conditions(rig: Any) -> None:
    """A ``where`` sub-audience may use segment membership and ``not``; a segment one uses the
    segment as it is."""
    vip_no_shoes = {
        "name": "VIP No Shoes",
        "groups": one_group("A"),
        "where": {
            "all": [
                {"segment": "VIPs"},
                {"not": [{"attribute": "Customer_360.shoe", "op": "is true"}]},
            ]
        },
    }
    opt_out = {"name": "Opted Out", "segment": "Promo Opt-Outs", "groups": one_group("B")}
    rows = rig.rows(
        campaign(exclude=["Do Not Contact"], sub_audiences=[vip_no_shoes, opt_out]), "s"
    )

    assert by_sub(rows) == {
        "VIP No Shoes": (VIP - SHOE) - DNC,
        "Opted Out": OPT_OUT - (VIP - SHOE) - DNC,
    }


def test_each_sub_audience_is_split_exactly_on_its_own(rig: Any) -> None:
    three = [
        {"name": "A", "percent": 33.33, "destinations": ["files"]},
        {"name": "B", "percent": 33.33, "destinations": ["files"]},
        {"name": "C", "percent": 33.34, "control": True},
    ]
    vip = {**VIP_SUB, "groups": three}
    shoe = {
        **SHOE_SUB,
        "groups": [
            {"name": "D", "percent": 12.5, "destinations": ["files"]},
            {"name": "E", "percent": 87.5, "control": True},
        ],
    }
    rows = rig.rows(campaign(first_match_only=False, sub_audiences=[vip, shoe]), "s")

    counts = Counter((r[1], r[2]) for r in rows)
    n_vip, n_shoe = len(VIP), len(SHOE)
    # 33.33 % of 210 = 69.993 → 69 + 1 for the largest remainder; 12.5 % of 140 = 17.5
    assert Fraction(n_vip * 3333, BASIS) == Fraction(69993, 1000)
    assert counts == {
        ("VIP Tier", "A"): 70,
        ("VIP Tier", "B"): 70,
        ("VIP Tier", "C"): 70,
        ("Shoe Fans", "D"): 18,
        ("Shoe Fans", "E"): 122,
    }
    assert n_vip == 210
    assert n_shoe == 140
    controls = {(r[1], r[2]) for r in rows if r[3]}
    assert controls == {("VIP Tier", "C"), ("Shoe Fans", "E")}
