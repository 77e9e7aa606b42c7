"""Overlap of 2–4 active segments: every Venn region's count equals an independently written
segment's count (in this one, not in that one, …), all regions from one query."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from herald.core.segments import parse_segment
from herald.exceptions import SegmentError
from herald.workspace import Workspace

AS_OF = dt.date(2026, 6, 30)  # the demo database's date (tests/conftest.py)
DEFINITIONS: dict[str, Any] = {
    "Big States": {"attribute": "Customer_360.state", "op": "in list", "values": ["CA", "TX"]},
    "Tiered": {"attribute": "Customer_360.loyalty_tier", "op": "is not null"},
    "Recent Buyers": {"has_purchased": {"within": "6 months"}},
    "Women": {"attribute": "Customer_360.gender", "op": "is exactly", "value": "F"},
}


@pytest.fixture(scope="module")
def ws(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with Workspace.init(tmp_path_factory.mktemp("ov") / "ws", database=str(demo_db)) as ws:
        for name, where in DEFINITIONS.items():
            ws.segments.apply(parse_segment({"name": name, "status": "active", "where": where}))
        ws.segments.create(parse_segment({"name": "Draft Only", "where": DEFINITIONS["Women"]}))
        yield ws


def region_count(ws: Workspace, names: list[str], flags: tuple[bool, ...]) -> int:
    where = [
        {"segment": n, "op": "in" if f else "not in"} for n, f in zip(names, flags, strict=True)
    ]
    return ws.segments.count(
        parse_segment({"name": "Region", "where": {"all": where}}), today=AS_OF
    )


@pytest.mark.parametrize("size", [2, 3, 4])
def test_every_region_matches_an_independent_count(ws: Workspace, size: int) -> None:
    names = list(DEFINITIONS)[:size]
    overlap = ws.segments.overlap(names, today=AS_OF)
    combos = [f for f in itertools.product([True, False], repeat=size) if any(f)]
    assert set(overlap.regions) == set(combos)
    assert overlap.regions == {f: region_count(ws, names, f) for f in combos}
    assert all(overlap.regions[f] > 0 for f in combos)  # the data exercises every region
    union = {"name": "U", "where": {"any": [{"segment": n} for n in names]}}
    assert overlap.union == ws.segments.count(parse_segment(union), today=AS_OF)
    for name in names:
        alone = {"name": "A", "where": {"segment": name}}
        assert overlap.size(name) == ws.segments.count(parse_segment(alone), today=AS_OF)
    both = {"name": "B", "where": {"all": [{"segment": n} for n in names[:2]]}}
    assert overlap.intersection(*names[:2]) == ws.segments.count(parse_segment(both), today=AS_OF)


def test_one_engine_query(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    run = ws.engine.query
    monkeypatch.setattr(ws.engine, "query", lambda q: seen.append(q) or run(q))
    ws.segments.overlap(list(DEFINITIONS), today=AS_OF)
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["Big States"], "2 to 4 different segments, got 1"),
        ([*DEFINITIONS, "Draft Only"], "2 to 4 different segments, got 5"),
        (["Big States", "Big States"], "2 to 4 different segments"),
        (["Big States", "Draft Only"], "Draft Only"),
        (["Big States", "Nope"], "Nope"),
    ],
)
def test_refusals(ws: Workspace, names: list[str], message: str) -> None:
    with pytest.raises(SegmentError, match=message) as caught:
        ws.segments.overlap(names, today=AS_OF)
    assert "\n" not in str(caught.value)
