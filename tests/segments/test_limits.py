"""Definitions are bounded whatever way they arrive: YAML, JSON or a Python mapping.

The YAML loader bounds alias expansion and nesting; the parsers bound conditions, so a
definition built in Python or sent as JSON through the API meets the same limits.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from herald.core.campaigns.parse import parse_campaign
from herald.core.segments import All, Any_, Attribute, Group, Segment
from herald.core.segments.parse import MAX_CONDITIONS, MAX_NESTING, parse_segment
from herald.exceptions import DefinitionError, SegmentError
from herald.workspace import Workspace
from herald.yaml_loader import MAX_ALIAS_NODES, load_yaml

BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
"""


def condition(i: int) -> dict[str, Any]:
    return {"attribute": "state", "op": "is exactly", "value": f"S{i}"}


def test_the_alias_bomb_is_refused_at_once() -> None:
    assert len(BOMB) < 400  # the 365-byte "billion laughs" of the report, two levels more
    started = time.monotonic()
    with pytest.raises(DefinitionError, match=f"more than {MAX_ALIAS_NODES:,} values"):
        load_yaml(BOMB)
    assert time.monotonic() - started < 5


def test_a_few_aliases_and_merge_keys_still_work() -> None:
    text = "base: &b {op: is exactly, value: CA}\nwhere:\n  - <<: *b\n    attribute: state\n"
    (doc,) = load_yaml(text)
    assert doc.data["where"] == [{"op": "is exactly", "value": "CA", "attribute": "state"}]


@pytest.mark.parametrize(
    "text",
    ["a: &x [1, *x]\n", "a: &x {b: *x}\n", "--- &top\n- *top\n"],
)
def test_a_self_referencing_alias_is_one_line(text: str) -> None:
    with pytest.raises(DefinitionError, match="refers to itself") as caught:
        load_yaml(text)
    assert "\n" not in str(caught.value)


def test_a_python_definition_with_too_many_conditions_is_refused() -> None:
    where = {"any": [condition(i) for i in range(MAX_CONDITIONS + 1)]}
    with pytest.raises(SegmentError, match=r"more than 1,000 conditions") as caught:
        parse_segment({"name": "Big", "where": where})
    assert caught.value.location == "where"
    parse_segment({"name": "Fits", "where": {"any": [condition(i) for i in range(999)]}})


def test_a_campaign_counts_the_conditions_of_all_its_sub_audiences() -> None:
    subs = [
        {
            "name": f"S{n}",
            "where": [condition(i) for i in range(400)],
            "groups": [{"name": "G", "percent": 100, "destinations": ["files"]}],
        }
        for n in range(3)
    ]
    with pytest.raises(DefinitionError, match="more than 1,000 conditions"):
        parse_campaign({"name": "C", "include": "X", "sub_audiences": subs})


def test_deep_or_self_containing_python_structures_stop_at_the_nesting_limit() -> None:
    deep: dict[str, Any] = condition(0)
    for _ in range(MAX_NESTING):
        deep = {"all": [deep]}
    with pytest.raises(SegmentError, match=f"deeper than {MAX_NESTING} levels"):
        parse_segment({"name": "Deep", "where": deep})

    loop: list[Any] = []
    loop.append({"any": loop})
    with pytest.raises(SegmentError, match="deeper than"):
        parse_segment({"name": "Loop", "where": loop})


def test_a_segment_built_in_python_meets_the_same_limits(workspace: Workspace) -> None:
    conditions = tuple(
        Attribute("Customer_360.state", "is exactly", f"S{i}") for i in range(MAX_CONDITIONS + 1)
    )
    big = Segment("Big", where=Any_(conditions), status="active")
    with pytest.raises(SegmentError, match="more than 1,000 conditions"):
        workspace.segments.apply(big)
    assert workspace.store.list("segment") == []

    deep: Group = All((Attribute("Customer_360.state", "is exactly", "CA"),))
    for _ in range(MAX_NESTING):
        deep = All((deep,))
    with pytest.raises(SegmentError, match="deeper than"):
        workspace.segments.apply(Segment("Deep", where=deep, status="active"))
    assert workspace.store.list("segment") == []


@pytest.mark.parametrize("shape", ["list", "any"])
def test_exactly_the_limit_fits_parsed_or_built(workspace: Workspace, shape: str) -> None:
    items = [condition(i) | {"attribute": "Customer_360.state"} for i in range(MAX_CONDITIONS)]
    where: Any = items if shape == "list" else {"any": items}
    segment = parse_segment({"name": "Edge", "status": "active", "where": where})

    assert workspace.segments.apply(segment).action == "created"
    # the SQL of the largest definition renders (pairs nested per condition hit recursion)
    assert workspace.segments.sql("Edge").count("'S999'") == 1
