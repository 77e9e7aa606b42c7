"""A run's list deliveries prepared by Spark, where the audience is (issue 15).

With the Spark engine, a group bound for a destination that can diff in the engine (a Klaviyo
list, :attr:`Capabilities.engine_rows`) is not prepared on this machine. Spark reads the
recipients snapshot and does what :mod:`herald.runs.prepared` and :mod:`herald.runs.claims`
do, by the same functions:

- each batch of a group's rows goes through :func:`herald.core.prepare.normalize_rows` and the
  destination's own desired rows (for Klaviyo, the profile JSON a bulk import sends), in
  Spark's Python workers (``mapInArrow``): the same code, so the same records;
- the claims on emails shared by groups (``min(rank)`` per normalized address and destination)
  and the duplicates within a group (the smallest key keeps an address) are window functions;
- the rows, with their flags, profile and hash, are kept in Spark's work folder
  (``runs/<run id>/<group number>``); only counts and the skipped customers come back.

The list's diff then runs in Spark too, at plan time
(:mod:`herald.destinations.klaviyo_api.engine_diff`), so that only adds, updates and removes
reach the delivery loop. The kept rows are deleted when the run ends; an interrupted run keeps
them for its resume.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from herald.core.claims import (
    Contest,
    contending_groups,
    email_contests,
    email_sources,
    group_ranks,
)
from herald.core.prepare import (
    DUPLICATE_EMAIL,
    DUPLICATE_EMAIL_IN_CAMPAIGN,
    RecordPlan,
    normalize_rows,
    plan_records,
    record_columns,
)
from herald.destinations.base import EngineRecords, EngineRows
from herald.engines.spark import SparkEngine
from herald.runs.claims import normalized_emails, sql_ints
from herald.runs.prepared import drops_by_reason, reason_condition

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from herald.campaigns import Build
    from herald.core.campaigns.validate import Resolved

__all__ = ["SparkLists", "SparkPrepared", "run_folder"]

_FOUND_IN_SQL = (DUPLICATE_EMAIL, DUPLICATE_EMAIL_IN_CAMPAIGN)
_SKIPPED_SCHEMA = pa.schema([("key", pa.string()), ("reason", pa.string())])


def run_folder(run_id: str) -> str:
    """Where a run's rows are kept in Spark's work folder."""
    return f"runs/{run_id}"


@dataclass(frozen=True)
class SparkPrepared:
    """A group prepared by Spark: what the run reports of it, and what the destination stages.

    Attributes:
        num_rows: the records sent (before Klaviyo's profile size cap), as
            ``PreparedGroup.num_rows``.
        drops: reason → count, as ``PreparedGroup.drops``.
        records: the kept records, for :meth:`Destination.stage_in_engine`.
    """

    num_rows: int
    drops: dict[str, int]
    records: EngineRecords


class SparkLists:
    """Prepares a run's list groups in Spark, over the run's recipients snapshot.

    Args:
        engine: the Spark engine.
        build: the run's build (the campaign's order, groups and destinations).
        snapshot: the recipients snapshot (read by Spark where it is, or from a copy).
        run_id: the run.
        key: the customer key column.
        scratch: where the skipped customers are written before the destination takes them.
    """

    def __init__(
        self,
        engine: SparkEngine,
        build: Build,
        snapshot: Path,
        run_id: str,
        *,
        key: str,
        scratch: Path,
    ) -> None:
        self._engine, self._run, self._key, self._scratch = engine, run_id, key, scratch
        with engine.errors("Spark could not read the recipients snapshot"):
            self._snapshot = engine.read_files([snapshot], under=run_folder(run_id))
        self._contests = email_contests(build.campaign, build.resolved)
        self._ranks = group_ranks(build.campaign)
        self._lost: DataFrame | None = None

    def prepare(self, item: Resolved, number: int, shape: EngineRows) -> SparkPrepared:
        """Prepare group ``item`` (the ``number``-th of the campaign) in Spark, its desired rows
        made as its destination makes them (``shape``); keep its rows."""
        with self._engine.errors(f"Spark could not prepare group '{item.group}'"):
            taken = self._taken(item)
            rows = self._snapshot.where(
                (self._snapshot["sub_audience"] == item.sub_audience)
                & (self._snapshot["group"] == item.group)
            )
            plan = plan_records(
                rows.columns,
                item.attributes,
                key=self._key,
                kind=item.kind,
                in_campaign=taken is not None,
            )
            name = f"{run_folder(self._run)}/{number}"
            kept = self._engine.keep(_flagged(rows, plan, shape, taken), name)
            sent, desired, drops = _counts(kept, plan)
            skipped = self._scratch / f"skipped-{number}.parquet"
            self._engine.stream_to(_skipped(kept, plan, shape), skipped, _SKIPPED_SCHEMA)
        return SparkPrepared(sent, drops, EngineRecords(name, desired, skipped))

    # --- claims on shared emails (herald.runs.claims, in Spark) ------------------------------

    def _taken(self, item: Resolved) -> DataFrame | None:
        """The keys of ``item``'s group whose email an earlier group keeps at its destination
        (column ``k``); None when the group contends with no other there."""
        contest = self._contests.get(item.destination)
        rank = self._ranks[(item.sub_audience, item.group)]
        if contest is None or rank not in contest.senders:
            return None
        index = list(self._contests).index(item.destination)
        return self._claims().where(f"d = {index} AND rank = {rank}").select("k")

    def _claims(self) -> DataFrame:
        """``(d, rank, k)``: at destination ``d`` (its index), the customers of sending group
        ``rank`` whose address an earlier contender has; computed once per run, kept."""
        if self._lost is None:
            sources = email_sources(self._contests)
            emails = self._contending_emails(sources)
            lost = _union(
                [
                    _losers(emails, d, contest, sources)
                    for d, contest in enumerate(self._contests.values())
                ]
            )
            self._lost = self._engine.keep(lost, f"{run_folder(self._run)}/claims")
        return self._lost

    def _contending_emails(self, sources: list[str]) -> DataFrame:
        """``rank, k, e0, e1, …`` for every row of a contending group, each email source
        normalized by :func:`normalize_emails` (NULL where missing or invalid)."""
        ranks = self._engine.session.createDataFrame(
            contending_groups(self._contests, self._ranks),
            "sub_audience string, `group` string, rank int",
        )
        rows = self._snapshot.join(ranks, ["sub_audience", "group"]).select(
            _column("rank"),
            _column(self._key).alias("k"),
            *(_column(source).alias(f"e{i}") for i, source in enumerate(sources)),
        )
        key_type = rows.schema["k"].dataType.simpleString()
        names = ["rank int", f"k {key_type}", *(f"e{i} string" for i in range(len(sources)))]
        work = functools.partial(_normalized_emails, count=len(sources))
        return rows.mapInArrow(work, ", ".join(names))


# --- in Spark's Python workers ------------------------------------------------------------------


def _normalized_emails(batches: Iterator[pa.RecordBatch], count: int) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        yield from normalized_emails(batch, count).to_batches()


def _candidates(
    batches: Iterator[pa.RecordBatch], plan: RecordPlan, shape: EngineRows, flags: tuple[int, ...]
) -> Iterator[pa.RecordBatch]:
    """A group's rows as candidate records: the key as it came, the desired record's columns
    (key text, identity, profile JSON and its identity), the email field's value, whether no
    row reason removes it, and the row reasons of the plan (``r<i>``)."""
    for batch in batches:
        normalized = normalize_rows(batch, plan)
        records = pa.table(record_columns(plan, normalized.values, normalized.keys))
        desired = shape.rows(records, plan.fields, plan.key)
        mail = (
            _text(records.column(plan.email_field))
            if plan.email_field in records.column_names
            else pa.nulls(records.num_rows, pa.string())
        )
        columns = [normalized.keys, *desired.columns, mail, pa.array(normalized.keep)]
        columns += [pa.array(normalized.flags[plan.reasons[i][0]]) for i in flags]
        names = ["k", *desired.column_names, "mail", "keep", *(f"r{i}" for i in flags)]
        yield pa.RecordBatch.from_arrays([_plain(c) for c in columns], names=names)


def _plain(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return _plain(column).cast(pa.string())


# --- in Spark SQL -------------------------------------------------------------------------------


def _flagged(
    rows: DataFrame, plan: RecordPlan, shape: EngineRows, taken: DataFrame | None
) -> DataFrame:
    """Every row of a group with its record, flags, and whether it is sent and desired.

    ``lost``: an earlier group keeps its email (it has one, and its key is ``taken``);
    ``dup``: another row of the group that is not lost, with a smaller key, has its email;
    ``desired``: sent, and its profile within Klaviyo's size cap (as ``herald.runs.prepared``
    and ``write_desired`` decide).
    """
    sources = list(dict.fromkeys([plan.key, *(m.source for m in plan.attributes)]))
    rows = rows.select(*(_column(s) for s in sources))
    flags = tuple(i for i, (reason, _) in enumerate(plan.reasons) if reason not in _FOUND_IN_SQL)
    key_type = rows.schema[plan.key].dataType.simpleString()
    strings = ("key", "email", "phone_number", "external_id", "profile", "ident", "mail")
    names = [f"k {key_type}", *(f"{n} string" for n in strings), "keep boolean"]
    names += [f"r{i} boolean" for i in flags]
    work = functools.partial(_candidates, plan=plan, shape=shape, flags=flags)
    found = rows.mapInArrow(work, ", ".join(names))
    if taken is None:
        found = found.selectExpr("*", "false AS lost")
    else:
        keys = taken.distinct().selectExpr("k AS taken_k")
        found = (
            found.join(keys, found["k"] == keys["taken_k"], "left")
            .selectExpr("*", "keep AND mail IS NOT NULL AND taken_k IS NOT NULL AS lost")
            .drop("taken_k")
        )
    dup = "false"
    if plan.dedupes_emails:
        dup = "eligible AND row_number() OVER (PARTITION BY eligible, mail ORDER BY k) > 1"
    return (
        found.selectExpr("*", "keep AND mail IS NOT NULL AND NOT lost AS eligible")
        .selectExpr("*", f"{dup} AS dup")
        .selectExpr("*", "keep AND NOT dup AND NOT lost AS sent", "md5(profile) AS attr_hash")
        .selectExpr("*", f"sent AND octet_length(profile) > {int(shape.max_bytes)} AS too_large")
        .selectExpr("*", "sent AND NOT too_large AS desired")
    )


def _has(plan: RecordPlan, index: int) -> str:
    return reason_condition(plan, index, "sent")


def _counts(kept: DataFrame, plan: RecordPlan) -> tuple[int, int, dict[str, int]]:
    """Records sent, records desired, and reason → count (as ``PreparedGroup.drops``)."""
    counts = [f"count_if({_has(plan, i)})" for i in range(len(plan.reasons))]
    [row] = kept.selectExpr("count_if(sent)", "count_if(desired)", *counts).collect()
    return int(row[0]), int(row[1]), drops_by_reason(plan, row[2:])


def _skipped(kept: DataFrame, plan: RecordPlan, shape: EngineRows) -> DataFrame:
    """The customers never sent (``key``, ``reason``), by reason, then key: the rows a
    skipping reason removes, then the profiles over Klaviyo's size cap."""
    last = len(plan.reasons)
    parts = [
        kept.where(_has(plan, i)).selectExpr("key", f"'{reason}' AS reason", f"{i} AS ix")
        for i, (reason, skipped) in enumerate(plan.reasons)
        if skipped
    ]
    reason = shape.too_large.replace("'", "")
    parts.append(
        kept.where("too_large").selectExpr("key", f"'{reason}' AS reason", f"{last} AS ix")
    )
    return _union(parts).orderBy("ix", "key")


def _losers(emails: DataFrame, d: int, contest: Contest, sources: list[str]) -> DataFrame:
    """:func:`herald.runs.claims._find_losers` for destination ``d``: the customers of its
    sending groups whose address an earlier contender has."""
    rows = _union(
        [
            emails.where(f"rank IN ({sql_ints(ranks)})").selectExpr(
                "rank", "k", f"e{sources.index(source)} AS email"
            )
            for source, ranks in contest.ranks_by_source()
        ]
    )
    return (
        rows.where("email IS NOT NULL")
        .selectExpr("rank", "k", "min(rank) OVER (PARTITION BY email) AS first")
        .where(f"first < rank AND rank IN ({sql_ints(contest.senders)})")
        .selectExpr(f"{d} AS d", "rank", "k")
    )


def _column(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _union(frames: Sequence[DataFrame]) -> DataFrame:
    return functools.reduce(lambda a, b: a.unionAll(b), frames)
