"""The narrowing waterfall: each step's count equals the count of the definition cut after
that condition, written out here by hand as its own segment; all steps come from one query."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from herald.core.segments import parse_segment
from herald.workspace import Workspace

AS_OF = dt.date(2026, 6, 30)  # the demo database's date (tests/conftest.py)
CA = {"attribute": "Customer_360.state", "op": "in list", "values": ["CA", "NY", "TX"]}
OPTED = {"attribute": "Customer_Attributes.is_opted_into_email", "op": "is true"}
RICH = {
    "attribute": "Transaction_Attributes_Extended.lifetime_order_revenue",
    "op": ">",
    "value": 150,
}
RECENT = {
    "attribute": "Transaction_Attributes_Extended.latest_order_datetime",
    "op": "after",
    "value": "9 months ago",
}
ONLINE_TWICE = {
    "has_purchased": {
        "within": "12 months",
        "min_count": 2,
        "where": {
            "attribute": "Unified_Transactions.purchase_channel",
            "op": "is exactly",
            "value": "Online",
        },
    }
}
GOLD = {"attribute": "Customer_360.loyalty_tier", "op": "in list", "values": ["Gold", "Platinum"]}
NO_TIER = {"attribute": "Customer_360.loyalty_tier", "op": "is null"}
MALE = {"attribute": "Customer_360.gender", "op": "is exactly", "value": "M"}


@pytest.fixture(scope="module")
def ws(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with Workspace.init(tmp_path_factory.mktemp("wf") / "ws", database=str(demo_db)) as ws:
        ws.segments.apply(parse_segment({"name": "Big States", "status": "active", "where": CA}))
        yield ws


def count(ws: Workspace, where: Any) -> int:
    return ws.segments.count(parse_segment({"name": "Prefix", "where": where}), today=AS_OF)


def steps(ws: Workspace, where: Any) -> list[tuple[str, str, int]]:
    segment = parse_segment({"name": "Under Test", "where": where})
    return [(s.path, s.kind, s.customers) for s in ws.segments.waterfall(segment, today=AS_OF)]


def test_all_is_a_running_intersection(ws: Workspace) -> None:
    conditions = [CA, OPTED, RICH, RECENT, ONLINE_TWICE]
    found = steps(ws, {"all": conditions})
    expected = [
        (f"where.all[{k}]", "condition", count(ws, {"all": conditions[: k + 1]}))
        for k in range(len(conditions))
    ]
    assert found == expected
    counts = [c for _, _, c in found]
    assert counts == sorted(counts, reverse=True)
    assert len(set(counts)) == len(counts)
    assert counts[-1] == count(ws, {"all": conditions}) > 0


def test_any_is_a_running_union(ws: Workspace) -> None:
    conditions = [GOLD, ONLINE_TWICE, MALE]
    found = steps(ws, {"any": conditions})
    expected = [
        (f"where.any[{k}]", "condition", count(ws, {"any": conditions[: k + 1]}))
        for k in range(len(conditions))
    ]
    assert found == expected
    assert found[0][2] < found[1][2] < found[2][2]


def test_nested_groups_and_not_count_the_definition_cut_after_each_step(ws: Workspace) -> None:
    where = {"all": [CA, {"any": [GOLD, NO_TIER]}, {"not": [OPTED, RICH]}, RECENT]}
    found = steps(ws, where)
    # written out by hand: the tree as if it ended at each step, in reading order
    cut = [
        ("where.all[0]", "condition", {"all": [CA]}),
        ("where.all[1]", "group", {"all": [CA, {"any": [GOLD, NO_TIER]}]}),
        ("where.all[1].any[0]", "condition", {"all": [CA, {"any": [GOLD]}]}),
        ("where.all[1].any[1]", "condition", {"all": [CA, {"any": [GOLD, NO_TIER]}]}),
        ("where.all[2]", "group", {"all": [CA, {"any": [GOLD, NO_TIER]}, {"not": [OPTED, RICH]}]}),
        (
            "where.all[2].not[0]",
            "condition",
            {"all": [CA, {"any": [GOLD, NO_TIER]}, {"not": [OPTED]}]},
        ),
        (
            "where.all[2].not[1]",
            "condition",
            {"all": [CA, {"any": [GOLD, NO_TIER]}, {"not": [OPTED, RICH]}]},
        ),
        ("where.all[3]", "condition", where),
    ]
    assert found == [(path, kind, count(ws, doc)) for path, kind, doc in cut]
    assert found[-1][2] == count(ws, where) > 0


def test_segment_membership_and_a_not_at_the_root(ws: Workspace) -> None:
    member = {"segment": "Big States", "op": "not in"}
    found = steps(ws, {"not": [member, GOLD]})
    assert found == [
        ("where.not[0]", "condition", count(ws, {"not": [member]})),
        ("where.not[1]", "condition", count(ws, {"not": [member, GOLD]})),
    ]


def test_labels_name_each_condition(ws: Workspace) -> None:
    segment = parse_segment({"name": "L", "where": {"all": [CA, {"any": [GOLD, NO_TIER]}]}})
    labels = [s.label for s in ws.segments.waterfall(segment, today=AS_OF)]
    assert labels == [
        "Customer_360.state in list CA, NY, TX",
        "any of 2 conditions",
        "Customer_360.loyalty_tier in list Gold, Platinum",
        "Customer_360.loyalty_tier is null",
    ]


def test_one_engine_query(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    run = ws.engine.query
    monkeypatch.setattr(ws.engine, "query", lambda q: seen.append(q) or run(q))
    segment = parse_segment({"name": "Q", "where": {"all": [CA, OPTED, RICH, ONLINE_TWICE]}})
    assert len(ws.segments.waterfall(segment, today=AS_OF)) == 4
    assert len(seen) == 1


def test_sql_segments_and_empty_definitions_have_no_steps(ws: Workspace) -> None:
    sql = parse_segment({"name": "S", "sql": "SELECT amperity_id FROM Customer_360"})
    assert ws.segments.waterfall(sql, today=AS_OF) == []
    assert ws.segments.waterfall(parse_segment({"name": "E"}), today=AS_OF) == []


def cut_after(node: Any, path: list[int]) -> Any:
    """The definition (a YAML mapping) as if it ended at the item ``path`` leads to."""
    if not path:
        return node
    ((kind, items),) = node.items()
    k, rest = path[0], path[1:]
    return {kind: [*items[:k], cut_after(items[k], rest)]}


def item_paths(node: Any, prefix: list[int]) -> Iterator[list[int]]:
    kind = next((k for k in ("all", "any", "not") if k in node), None)
    if kind is None:
        return
    items = node[kind]
    for k, item in enumerate(items):
        yield [*prefix, k]
        yield from item_paths(item, [*prefix, k])


def test_deep_alternating_groups_match_the_cut_definitions(ws: Workspace) -> None:
    node: Any = RICH
    for depth, other in enumerate([CA, GOLD, OPTED, NO_TIER, MALE, RECENT]):
        node = {["all", "any", "not"][depth % 3]: [other, node, ONLINE_TWICE][: 2 + depth % 2]}
    found = steps(ws, node)
    paths = list(item_paths(node, []))
    assert len(found) == len(paths) == 15
    assert [c for _, _, c in found] == [count(ws, cut_after(node, p)) for p in paths]
    assert found[0][2] != found[-1][2]


def test_insights_of_an_unsaved_definition_match_the_stored_ones(ws: Workspace) -> None:
    segment = parse_segment({"name": "Big States", "where": CA})
    unsaved = ws.segments.insights_of(segment, today=AS_OF)
    assert unsaved == ws.segments.insights("Big States", "active", record=False, today=AS_OF)
    assert unsaved.unique_customers == ws.segments.count(segment, today=AS_OF) > 0
