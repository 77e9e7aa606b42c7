"""`herald apply -f DIR` is one transaction, on SQLite and on PostgreSQL.

A write that fails part-way (a running campaign refuses a new definition) leaves none of the
folder's files written, and names that a database cannot store or that display differently
from what they are (NUL, control characters, bidirectional overrides) are refused before any
write, on every store, with one line naming the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from herald.apply import apply_path
from herald.exceptions import DefinitionError, StateError
from herald.state import StateStore
from herald.workspace import Workspace

SEGMENT = """\
name: {name}
status: active
where:
  - attribute: state
    op: is exactly
    value: {value}
"""
CAMPAIGN = """\
kind: campaign
name: Spring
include: [Californians]
remaining:
  groups:
    - name: {group}
      percent: 100
      destinations: [files]
"""


def dump(store: StateStore) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the state database, in a stable order."""
    engine = store._engine
    tables = sa.inspect(engine).get_table_names()
    with engine.connect() as conn:
        return {
            table: sorted(
                (tuple(row) for row in conn.execute(sa.text(f'SELECT * FROM "{table}"'))),
                key=repr,
            )
            for table in tables
        }


def start_a_run(ws: Workspace) -> None:
    """Campaign 'Spring' running, with its run in progress (a live run: nothing to settle)."""
    version = ws.store.get("campaign", "Spring", "active").version
    ws.store.start_run("Spring", version, as_of=dt.datetime.now(dt.UTC), pins={})


@pytest.fixture
def ws(tmp_path: Path, url: str) -> Iterator[Workspace]:
    """A workspace over a tiny customer database whose state store is at ``url``, with an
    active segment 'Californians' and a campaign 'Spring' applied."""
    database = tmp_path / "customers.duckdb"
    con = duckdb.connect(str(database))
    con.execute("CREATE TABLE Customer_360 (amperity_id VARCHAR, email VARCHAR, state VARCHAR)")
    con.execute("CREATE TABLE Merged_Customers (amperity_id VARCHAR, email VARCHAR)")
    con.close()
    root = tmp_path / "ws"
    Workspace.init(root, database=str(database)).close()
    config = root / "herald.toml"
    text = config.read_text(encoding="utf-8").replace("sqlite:///.herald/state.db", url)
    config.write_text(text, encoding="utf-8")
    StateStore.open(url).close()  # what `herald init` does for a configured URL
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "a.yaml").write_text(SEGMENT.format(name="Californians", value="CA"), "utf-8")
    (seed / "b.yaml").write_text(CAMPAIGN.format(group="Everyone"), "utf-8")
    with Workspace.open(root) as opened:
        apply_path(opened, seed)
        yield opened


def test_a_write_failing_part_way_leaves_none_of_the_folder_written(
    ws: Workspace, tmp_path: Path
) -> None:
    start_a_run(ws)
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "a.yaml").write_text(SEGMENT.format(name="Washingtonians", value="WA"), "utf-8")
    (folder / "b.yaml").write_text(SEGMENT.format(name="Californians", value="NV"), "utf-8")
    (folder / "c.yaml").write_text(CAMPAIGN.format(group="All"), "utf-8")  # Spring is running
    before = dump(ws.store)

    with pytest.raises(StateError, match="running"):
        apply_path(ws, folder)

    assert dump(ws.store) == before
    assert [s.name for s in ws.store.list("segment")] == ["Californians"]


def test_a_failed_apply_leaves_the_store_usable(ws: Workspace, tmp_path: Path) -> None:
    start_a_run(ws)
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "a.yaml").write_text(SEGMENT.format(name="Washingtonians", value="WA"), "utf-8")
    (folder / "c.yaml").write_text(CAMPAIGN.format(group="All"), "utf-8")
    with pytest.raises(StateError):
        apply_path(ws, folder)

    (folder / "c.yaml").unlink()
    applied = apply_path(ws, folder)

    assert [(a.name, a.action) for a in applied] == [("Washingtonians", "created")]
    assert ws.store.get("segment", "Washingtonians", "active").version == 1


@pytest.mark.parametrize(
    ("field", "text", "what"),
    [
        ("name", "Bad\\0Name", "a control character (U+0000)"),
        ("name", "Bad\\tName", "a control character (U+0009)"),
        ("name", "Sale\\u202eelaS", "an invisible formatting character (U+202E)"),
        ("name", "Sale\\u2066x\\u2069", "an invisible formatting character (U+2066)"),
        ("name", "Zero\\u200bWidth", "an invisible formatting character (U+200B)"),
        ("group", "Offer\\u202d", "an invisible formatting character (U+202D)"),
        ("group", "Offer\\0", "a control character (U+0000)"),
    ],
)
def test_names_with_control_or_bidi_characters_are_refused_before_any_write(
    ws: Workspace, tmp_path: Path, field: str, text: str, what: str
) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "a.yaml").write_text(SEGMENT.format(name="Washingtonians", value="WA"), "utf-8")
    if field == "name":
        bad = SEGMENT.format(name=f'"{text}"', value="OR")
        location = "at name"
    else:
        bad = CAMPAIGN.format(group=f'"{text}"')
        location = "at remaining.groups[0].name"
    (folder / "b.yaml").write_text(bad, "utf-8")
    before = dump(ws.store)

    with pytest.raises(DefinitionError) as caught:
        apply_path(ws, folder)

    message = str(caught.value)
    assert "b.yaml" in message
    assert location in message
    assert what in message
    assert "\n" not in message
    assert dump(ws.store) == before


@pytest.mark.parametrize("name", ["Bad\0Name", "Sale\u202eelaS", "x\u2068y", "a\nb"])
def test_the_store_refuses_such_names_itself(store: StateStore, name: str) -> None:
    with pytest.raises(DefinitionError, match="character"):
        store.apply("segment", name, {"where": {"all": []}}, status="draft")
    with pytest.raises(DefinitionError, match="character"):
        store.save_draft("campaign", name, {"include": "x"})
    assert store.list("segment") == []
    assert store.list("campaign") == []


def _write_two_then_fail(store: StateStore) -> None:
    with store.transaction():
        store.apply("segment", "a", {"x": 1}, status="active")
        assert store.get("segment", "a", "active").version == 1  # sees its own write
        store.apply("segment", "b", {"x": 2}, status="draft")
        raise RuntimeError


def test_a_transaction_commits_together_or_not_at_all(store: StateStore) -> None:
    with pytest.raises(RuntimeError):
        _write_two_then_fail(store)

    assert store.list("segment") == []

    with store.transaction():
        store.apply("segment", "a", {"x": 1}, status="active")
        with store.transaction():  # a nested block joins the outer one
            store.apply("segment", "b", {"x": 2}, status="draft")

    assert [s.name for s in store.list("segment")] == ["a", "b"]


@pytest.mark.parametrize("kind", ["segment", "campaign"])
def test_a_nul_in_a_description_is_refused_before_any_write(
    ws: Workspace, tmp_path: Path, kind: str
) -> None:
    # PostgreSQL cannot store NUL in text: refused where it is read, on every store alike.
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "a.yaml").write_text(SEGMENT.format(name="Washingtonians", value="WA"), "utf-8")
    if kind == "segment":
        bad = SEGMENT.format(name="Nul", value="OR")
    else:
        bad = CAMPAIGN.format(group="Everyone").replace("name: Spring", "name: Autumn")
    (folder / "b.yaml").write_text(bad + 'description: "about \\0 them"\n', "utf-8")
    before = dump(ws.store)

    with pytest.raises(DefinitionError, match="NUL character") as caught:
        apply_path(ws, folder)

    assert "at description" in str(caught.value)
    assert "b.yaml" in str(caught.value)
    assert dump(ws.store) == before


def test_the_store_refuses_a_nul_in_a_description_itself(store: StateStore) -> None:
    with pytest.raises(DefinitionError, match="NUL character"):
        store.apply("segment", "a", {"where": {"all": []}}, status="draft", description="x\0")
    assert store.list("segment") == []
