"""Segments in a workspace: validate against the catalog, version in the state store, run.

This is the library behind ``herald segment …`` and the web app's Segment Editor.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from sqlglot import exp

from herald.core.insights import Insights, insights_query
from herald.core.segments import Segment, compile_segment, parse_segment, segment_to_dict
from herald.core.segments.model import Group, InSegment, Node, Purchase
from herald.core.segments.parse import check_segment_size
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
    ) -> exp.Select:
        """Check a definition against the catalog and compile it; nothing is stored.

        Args:
            pending: segments being applied in the same batch, which conditions may refer to.
            bind: check a SQL segment against the database too (its columns, functions and
                types, which the catalog alone cannot), without reading any row; the paths
                that store a definition do.

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
        query = insights_query(
            self.compile(self._from_version(version), today=today), self.ws.catalog
        )
        row = self._run(name, query).to_pylist()[0]
        result = Insights.from_row(row)
        if record:
            now = dt.datetime.now(dt.UTC)
            as_of = now if today is None else dt.datetime.combine(today, dt.time(), dt.UTC)
            self.ws.store.record_insights(
                name, version.version, result.as_dict(), computed_at=now, as_of=as_of
            )
        return result

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
