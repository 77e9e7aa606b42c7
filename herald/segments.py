"""Segments in a workspace: validate against the catalog, version in the state store, run.

This is the library behind ``herald segment …`` and the web app's Segment Editor.
"""

from __future__ import annotations

import builtins
import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from sqlglot import exp

from herald.core.catalog import Column, Table, did_you_mean
from herald.core.insights import Insights, insights_columns, insights_query
from herald.core.segments import Segment, compile_segment, parse_segment, segment_to_dict
from herald.core.segments.compile import condition_rows
from herald.core.segments.model import Group, InSegment, Node, Purchase
from herald.core.segments.parse import check_segment_size
from herald.core.segments.picklist import (
    MAX_VALUES,
    Overlap,
    Picklist,
    PicklistStatus,
    PicklistValue,
    approx_distinct_query,
    is_private,
    matching,
    overlap_query,
    value_counts_query,
)
from herald.core.segments.rows import CustomerRows
from herald.core.segments.waterfall import WaterfallStep, waterfall_query
from herald.exceptions import EngineError, NotFoundError, SegmentError, SqlSegmentError

if TYPE_CHECKING:
    import pyarrow as pa

    from herald.resources import Resources
    from herald.state import (
        ApplyResult,
        DefinitionSummary,
        DefinitionVersion,
        InsightsRecord,
        SaveResult,
    )

KIND = "segment"
Which = Literal["active", "draft", "latest"] | int


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def stored_form(segment: Segment) -> dict[str, Any]:
    """What the state store keeps: the definition without its lifecycle status."""
    doc = segment_to_dict(segment)
    doc.pop("status", None)
    return doc


def referenced_segments(segment: Segment) -> list[str]:
    """Names of the segments a definition's conditions refer to."""
    found: list[str] = []

    def walk(node: Node | None) -> None:
        if isinstance(node, Group):
            for item in node.items:
                walk(item)
        elif isinstance(node, InSegment):
            found.append(node.segment)
        elif isinstance(node, Purchase):
            walk(node.where)

    walk(segment.where)
    return found


class Segments:
    """Segment operations over one workspace (engine + state store).

    Args:
        ws: the workspace's resources; ``Workspace.segments`` builds this with itself.
    """

    def __init__(self, ws: Resources) -> None:
        self.ws = ws

    # --- definitions -----------------------------------------------------------------------

    def load(self, name: str, which: Which = "latest") -> Segment:
        """The stored definition of ``name`` (``latest``: the draft if any, else the active)."""
        version = self.ws.store.get(KIND, name, which)
        return self._from_version(version)

    def _from_version(self, version: DefinitionVersion) -> Segment:
        status = "active" if version.status == "active" else "draft"
        return parse_segment(
            {**version.definition, "status": status}, source=f"segment '{version.name}'"
        )

    def compile(
        self,
        segment: Segment,
        *,
        today: dt.date | None = None,
        pending: Mapping[str, Segment] | None = None,
        bind: bool = False,
        columns: Sequence[tuple[str, str, str]] = (),
    ) -> exp.Select:
        """Check a definition against the catalog and compile it; nothing is stored.

        Args:
            pending: segments being applied in the same batch, which conditions may refer to.
            bind: check a SQL segment against the database too (its columns, functions and
                types, which the catalog alone cannot), without reading any row; the paths
                that store a definition do.
            columns: ``(name, table, column)`` selected beside each customer's key.

        Raises:
            SegmentError: naming the segment and what to fix.
        """
        check_segment_size(segment)  # parsed ones were checked; one built in Python is not
        query = compile_segment(
            segment,
            self.ws.catalog,
            today=today or utc_today(),
            resolve_segment=lambda name: self._resolve_active(name, pending or {}),
            dialect=self.ws.engine.dialect,
            columns=columns,
        )
        if bind and segment.sql is not None:
            try:
                self.ws.engine.bind(query)
            except EngineError as error:
                msg = f"segment '{segment.name}': the SQL does not match the database: {error}"
                raise SqlSegmentError(msg, location="sql") from None
        return query

    def _resolve_active(self, name: str, pending: Mapping[str, Segment]) -> Segment:
        if name in pending:
            if pending[name].status != "active":
                msg = (
                    f"segment '{name}' is a draft in this batch; "
                    "only active segments can be used in conditions"
                )
                raise SegmentError(msg)
            return pending[name]
        try:
            return self.load(name, "active")
        except NotFoundError as error:
            raise SegmentError(str(error)) from None

    def sql(
        self,
        name: str,
        which: Which = "latest",
        *,
        pretty: bool = True,
        today: dt.date | None = None,
    ) -> str:
        """The SQL a stored segment runs, in the engine's dialect."""
        return self.ws.engine.render(
            self.compile(self.load(name, which), today=today), pretty=pretty
        )

    def create(self, doc: Mapping[str, Any] | Segment) -> SaveResult:
        """Validate and save a new or changed definition as a draft."""
        segment = doc if isinstance(doc, Segment) else parse_segment(doc)
        self.compile(segment, bind=True)
        return self.ws.store.save_draft(
            KIND, segment.name, stored_form(segment), description=segment.description
        )

    def activate(self, name: str) -> DefinitionVersion:
        """Check the draft still compiles against today's catalog, then activate it."""
        self.compile(self.load(name, "draft"), bind=True)
        return self.ws.store.activate(KIND, name)

    def apply(
        self, segment: Segment, *, pending: Mapping[str, Segment] | None = None
    ) -> ApplyResult:
        """Declaratively make the stored segment equal to ``segment`` (idempotent)."""
        self.compile(segment, pending=pending, bind=True)
        return self.ws.store.apply(
            KIND,
            segment.name,
            stored_form(segment),
            status=segment.status,
            description=segment.description,
        )

    def list(self) -> list[DefinitionSummary]:
        return self.ws.store.list(KIND)

    def versions(self, name: str) -> builtins.list[DefinitionVersion]:
        return self.ws.store.versions(KIND, name)

    # --- running ---------------------------------------------------------------------------

    def insights(
        self,
        name: str,
        which: Which = "latest",
        *,
        record: bool = True,
        today: dt.date | None = None,
    ) -> Insights:
        """Refresh a segment's insights; each refresh is stored with its time for the trend."""
        version = self.ws.store.get(KIND, name, which)
        result = self.insights_of(self._from_version(version), today=today)
        if record:
            now = dt.datetime.now(dt.UTC)
            as_of = now if today is None else dt.datetime.combine(today, dt.time(), dt.UTC)
            self.ws.store.record_insights(
                name, version.version, result.as_dict(), computed_at=now, as_of=as_of
            )
        return result

    def insights_of(self, segment: Segment, *, today: dt.date | None = None) -> Insights:
        """The insights of a definition that need not be stored (the editor's unsaved
        changes); nothing is recorded.

        Raises:
            SegmentError: the definition does not compile (as :meth:`compile`).
        """
        query = self.insights_query(segment, today=today)
        return Insights.from_row(self._run(segment.name, query).to_pylist()[0])

    def insights_query(self, segment: Segment, *, today: dt.date | None = None) -> exp.Select:
        """The one query that computes a definition's insights: its customers with the
        metrics' columns, from one pass over the base table, aggregated.

        Raises:
            SegmentError: the definition does not compile (as :meth:`compile`).
        """
        catalog = self.ws.catalog
        selected = self.compile(segment, today=today, columns=insights_columns(catalog))
        return insights_query(selected, catalog)

    def history(self, name: str, *, limit: int | None = None) -> builtins.list[InsightsRecord]:
        self.ws.store.get(KIND, name)  # a clear NotFoundError for unknown names
        return self.ws.store.insights_history(name, limit=limit)

    def count(self, segment: Segment, *, today: dt.date | None = None) -> int:
        query = exp.select(exp.Count(this=exp.Star())).from_(
            self.compile(segment, today=today).subquery("seg")
        )
        return int(self._run(segment.name, query).column(0)[0].as_py())

    def preview(
        self,
        name: str,
        limit: int = 10,
        which: Which = "latest",
        *,
        columns: builtins.list[str] | None = None,
        today: dt.date | None = None,
    ) -> pa.Table:
        """A stable sample of ``limit`` customers of the segment, with base-table columns;
        relative dates resolve against ``today`` (default: today, UTC)."""
        catalog = self.ws.catalog
        base = catalog.table(catalog.base_table)
        assert base is not None  # compile() has checked it
        wanted = (
            columns or [c for c in PREVIEW_COLUMNS if base.column(c)] or base.column_names()[:8]
        )
        for column in wanted:
            if base.column(column) is None:
                msg = (
                    f"unknown column '{column}' in '{base.name}'; "
                    f"columns: {', '.join(base.column_names())}"
                )
                raise SegmentError(msg)
        key = exp.column(catalog.customer_key, "c", quoted=True)
        members = self.compile(self.load(name, which), today=today)
        query = (
            exp.select(*(exp.column(base.column(c).name, "c", quoted=True) for c in wanted))  # type: ignore[union-attr]
            .from_(
                exp.Table(
                    this=exp.to_identifier(base.name, quoted=True),
                    alias=exp.TableAlias(this=exp.to_identifier("c")),
                )
            )
            .where(exp.In(this=key, query=exp.Subquery(this=members)))
            .order_by(exp.MD5(this=exp.cast(key, exp.DataType.Type.VARCHAR)))
            .limit(limit)
        )
        return self._run(name, query)

    # --- the Segment Editor ----------------------------------------------------------------

    def waterfall(
        self, segment: Segment, *, today: dt.date | None = None
    ) -> builtins.list[WaterfallStep]:
        """How many customers remain after each condition, in one engine query.

        A step counts the segment as if its definition ended at that condition: in an ``all``
        group the running intersection of its items, in an ``any`` group the running union,
        in a ``not`` group the complement of the running intersection; the outer groups'
        earlier conditions always apply, and a group's own step is the count after the whole
        group. Steps come in reading order (a group before its items); the last top-level
        step is the segment's count. A SQL segment, or one without conditions, has none.
        See ``herald.core.segments.waterfall``.

        Raises:
            SegmentError: the definition does not compile (as :meth:`compile`).
        """
        self.compile(segment, today=today)  # every check, with the usual messages
        if segment.sql is not None or segment.where is None:
            return []
        query, steps = waterfall_query(
            segment.where, self._condition_rows(segment, [segment.where], today)
        )
        row = self._run(segment.name, query).to_pylist()[0]
        return [
            WaterfallStep(path, label, kind, depth, int(row[f"s{i}"] or 0))
            for i, (path, label, kind, depth) in enumerate(steps)
        ]

    def _condition_rows(
        self, segment: Segment, roots: builtins.list[Node], today: dt.date | None
    ) -> CustomerRows:
        return condition_rows(
            segment,
            roots,
            self.ws.catalog,
            today=today or utc_today(),
            resolve_segment=lambda name: self._resolve_active(name, {}),
            dialect=self.ws.engine.dialect,
        )

    def overlap(self, names: builtins.list[str], *, today: dt.date | None = None) -> Overlap:
        """The customers of every region of 2–4 active segments' Venn diagram, in one query.

        Raises:
            SegmentError: fewer than 2 or more than 4 names, a name twice, or a segment that
                is not active.
        """
        if not 2 <= len(names) <= 4 or len(set(names)) != len(names):
            msg = f"overlap takes 2 to 4 different segments, got {len(names)}: {', '.join(names)}"
            raise SegmentError(msg)
        probe = Segment(name="overlap of " + ", ".join(names))
        roots: builtins.list[Node] = [InSegment(name) for name in names]
        rows = self._condition_rows(probe, roots, today)
        members = [rows.condition(root) for root in roots]
        query = overlap_query(rows.from_base(), members)
        found = {
            tuple(bool(row[f"m{i}"]) for i in range(len(names))): int(row["n"])
            for row in self._run(probe.name, query).to_pylist()
        }
        regions = {flags: found.get(flags, 0) for flags in _combinations(len(names))}
        return Overlap(tuple(names), regions)

    def picklist(
        self, table: str, column: str, *, search: str | None = None, limit: int = 50
    ) -> Picklist:
        """The values of ``table.column`` a marketer picks from, most frequent first.

        NULL is left out; ``search`` keeps the values containing it, ignoring case. A column
        with more than ``MAX_VALUES`` distinct values lists only search matches; columns of
        contact details (emails, phones) and the customer key are never listed. Results are
        cached per version of the database file, so a repeated call does not query.

        Raises:
            SegmentError: an unknown table or column, one segments cannot filter on, or a
                limit below 1.
        """
        if limit < 1:
            msg = f"picklist limit must be at least 1, got {limit}"
            raise SegmentError(msg)
        found_table, found_column = self._picklist_column(table, column)
        where = f"{found_table.name}.{found_column.name}"
        search = search.strip() if search and search.strip() else None
        answer = Picklist(found_table.name, found_column.name, "private", search=search)
        if is_private(found_column, self.ws.catalog):
            message = f"values of {where} are personal data and are not listed; type a value"
            return replace(answer, message=message)
        full = self._value_counts(found_table, found_column, None)
        if full.status == "values":
            hits = matching(full.values, search)
            return replace(
                answer,
                status="values",
                values=tuple(hits[:limit]),
                distinct=full.distinct,
                matches=len(hits),
            )
        answer = replace(
            answer,
            status="too_many",
            distinct=full.distinct,
            message=f"{where} has about {full.distinct:,} different values: type to search",
        )
        if search is None:
            return answer
        found = self._value_counts(found_table, found_column, search.lower())
        return replace(answer, values=found.values[:limit], matches=found.distinct)

    def _picklist_column(self, table: str, column: str) -> tuple[Table, Column]:
        catalog = self.ws.catalog
        found_table = catalog.table(table)
        if found_table is None:
            hint = did_you_mean(table, catalog.table_names())
            msg = f"unknown table '{table}'.{hint} Tables: {', '.join(catalog.table_names())}"
            raise SegmentError(msg)
        found_column = found_table.column(column)
        if found_column is None or found_column.type is None:
            hint = did_you_mean(column, found_table.column_names())
            msg = (
                f"unknown column '{column}' in table '{found_table.name}'.{hint}"
                if found_column is None
                else f"column '{found_table.name}.{found_column.name}' has type "
                f"{found_column.engine_type}, which segments cannot filter on"
            )
            raise SegmentError(msg)
        return found_table, found_column

    def _value_counts(self, table: Table, column: Column, search: str | None) -> Picklist:
        """All values (up to ``MAX_VALUES``) or the search's matches, from the cache if the
        database has not changed since they were counted."""
        version = self.ws.engine.data_version()
        key = (version, table.name, column.name, search)
        cached = _PICKLISTS.get(key) if version is not None else None
        if cached is not None:
            return cached
        name = f"picklist {table.name}.{column.name}"
        if search is None:
            # counting every value of a column of addresses takes a hash table of a million
            # strings; an estimate says in one cheap pass that it is not worth listing
            approx = self._run(name, approx_distinct_query(table, column)).column(0)[0].as_py()
            if (approx or 0) > 2 * MAX_VALUES:
                result = Picklist(table.name, column.name, "too_many", (), int(approx))
                return _PICKLISTS.put(key, result) if version is not None else result
        limit = MAX_VALUES if search else MAX_VALUES + 1
        rows = self._run(
            name, value_counts_query(table, column, search=search, limit=limit)
        ).to_pylist()
        distinct = int(rows[0]["distinct_values"]) if rows else 0
        too_many = distinct > MAX_VALUES and search is None
        status: PicklistStatus = "too_many" if too_many else "values"
        values = (
            ()
            if status == "too_many"
            else tuple(PicklistValue(r["value"], int(r["n"])) for r in rows)
        )
        result = Picklist(table.name, column.name, status, values, distinct)
        return _PICKLISTS.put(key, result) if version is not None else result

    def _run(self, name: str, query: exp.Expression) -> pa.Table:
        """Run a segment's query; an engine error names the segment, on one line."""
        try:
            return self.ws.engine.query(query)
        except EngineError as error:
            msg = f"segment '{name}': {error}"
            raise EngineError(msg) from None


PREVIEW_COLUMNS = [
    "amperity_id",
    "given_name",
    "surname",
    "email",
    "city",
    "state",
    "lifetime_order_revenue",
]


def _combinations(count: int) -> builtins.list[tuple[bool, ...]]:
    """Every in/out combination of ``count`` segments with at least one "in"."""
    out = [tuple(bool(bits >> i & 1) for i in range(count)) for bits in range(1, 2**count)]
    return sorted(out, key=lambda flags: (-sum(flags), [not f for f in flags]))


class _Cache:
    """A small thread-safe LRU: the web app serves picklists from several threads."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Any, Picklist] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Picklist | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: Any, value: Picklist) -> Picklist:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


_PICKLISTS = _Cache(256)
"""Picklists by (database version, table, column, search), shared by every workspace in the
process: the database version makes a key stale once its file changes."""
