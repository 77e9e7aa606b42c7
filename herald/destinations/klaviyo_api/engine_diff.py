"""A Klaviyo list's diff computed by Spark, where the audience is (DESIGN §3, issue 15).

With the Spark engine a group's desired records are prepared by Spark and kept in its work
folder (``herald.runs.spark_lists``); the delivery folder then holds a small marker
(``desired.engine.json``) instead of ``desired.parquet``. At plan time Spark joins those
records with the list's ledger (and, to reconcile, the members read back from Klaviyo) by the
rules of :mod:`~herald.destinations.klaviyo_api.diff`, and only the changes come back: Spark
writes the adds, updates and removes in key order, and Herald streams them, a batch at a time,
into the very files the DuckDB diff writes (``adds.parquet``, ``updates.parquet``,
``removes.parquet``, numbered by ``row``). Planning, sending, checkpoints, the ledger merge and
resuming read those files as they always do.

The ledger stays Herald's, on this machine (it is replaced atomically after each delivery);
Spark reads it where it is when the work folder is local, else a copy of it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from herald.atomic import atomic_path
from herald.destinations.base import EngineRecords
from herald.destinations.klaviyo_api._parquet import ident
from herald.destinations.klaviyo_api.diff import (
    MEMBERS_SCHEMA,
    PLANNED_SCHEMA,
    REMOVE_WHERE,
    UPDATE_JOIN,
    DiffCounts,
    add_rules,
    settled_reason,
    update_where,
)
from herald.destinations.klaviyo_api.folder import DeliveryFolder
from herald.destinations.klaviyo_api.ledger import LEDGER_SCHEMA
from herald.exceptions import EngineError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from herald.engines.spark import SparkEngine

__all__ = ["REMOVES_SCHEMA", "compute_engine_diff", "engine_records", "write_engine_inputs"]

REMOVES_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("key", pa.string()),
        ("email", pa.string()),
        ("phone_number", pa.string()),
        ("external_id", pa.string()),
        ("ident", pa.string()),
        ("profile_id", pa.string()),
        ("settled", pa.string()),
    ]
)
"""``removes.parquet`` as the DuckDB diff writes it."""


def write_engine_inputs(folder: Path, records: EngineRecords) -> None:
    """A delivery's inputs for records the engine keeps: ``skipped.parquet`` (moved from
    ``records.skipped``) and the marker naming the kept records, both atomically."""
    files = DeliveryFolder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    records.skipped.replace(files.skipped)
    marker = {"name": records.name, "records": records.records}
    with atomic_path(files.engine_desired) as partial:
        partial.write_text(json.dumps(marker), encoding="utf-8")


def engine_records(folder: Path) -> tuple[str, int] | None:
    """(kept name, records) when the engine keeps this delivery's desired records, else None."""
    marker = DeliveryFolder(folder).engine_desired
    if not marker.exists():
        return None
    found = json.loads(marker.read_text(encoding="utf-8"))
    return str(found["name"]), int(found["records"])


def compute_engine_diff(
    engine: SparkEngine,
    folder: Path,
    ledger: Path,
    *,
    updates: bool = True,
    members: Path | None = None,
) -> DiffCounts:
    """:func:`~herald.destinations.klaviyo_api.diff.compute_diff` computed by Spark over the
    records it keeps for this delivery: the same files, rows and counts.

    Args:
        engine: the Spark engine that prepared the records.
        folder: the delivery's folder (with its ``desired.engine.json``).
        ledger: the list's ledger (may not exist yet).
        updates: re-import desired keys whose attributes changed.
        members: the list's members read from Klaviyo (reconcile).

    Raises:
        EngineError: Spark failed, or the kept records are gone (a cleaned work folder).
    """
    found = engine_records(folder)
    if found is None:
        msg = f"delivery folder '{folder}' has no records kept by the engine"
        raise EngineError(msg)
    name, desired_count = found
    files = DeliveryFolder(folder)
    with engine.errors("Spark could not compute the list's diff"):
        views = _Views(engine, name, ledger, members)
        try:
            adds, repairs, changed = _write_imports(engine, views.adds(), files.adds)
            update_rows, _, _ = _write_imports(engine, views.updates(updates), files.updates)
            removes, settled = _write_removes(engine, views.removes(), files.removes)
            bounced, foreign = views.bounced_and_foreign()
        finally:
            views.close(engine)
    return DiffCounts(
        desired=desired_count,
        adds=adds,
        updates=update_rows,
        removes=removes,
        settled=settled,
        repairs=repairs,
        identity_changes=changed,
        bounced=bounced,
        foreign=foreign,
    )


_DESIRED = "d.key, d.email, d.phone_number, d.external_id, d.ident, d.attr_hash, d.profile"


class _Views:
    """The diff's relations in a Spark session: ``d`` (desired), ``l`` (ledger), ``m``
    (members, with their identity), under names of their own."""

    def __init__(self, engine: SparkEngine, name: str, ledger: Path, members: Path | None) -> None:
        self._session = engine.session
        kept = engine.kept(name)
        if kept is None:
            msg = (
                f"the engine's work folder no longer holds '{name}'; run the campaign again "
                "to prepare its records anew"
            )
            raise EngineError(msg)
        suffix = uuid.uuid4().hex
        self.d, self.l, self.m = (f"herald_{t}_{suffix}" for t in ("d", "l", "m"))
        kept.where("desired").select(
            "key", "email", "phone_number", "external_id", "profile", "ident", "attr_hash"
        ).createOrReplaceTempView(self.d)
        self._uploads = f"{name}-uploads"  # copies of the files, when Spark needs them
        self._file(ledger, LEDGER_SCHEMA, engine).createOrReplaceTempView(self.l)
        self.reconcile = members is not None
        found = self._file(members, MEMBERS_SCHEMA, engine)
        found.selectExpr("*", f"{ident()} AS ident").createOrReplaceTempView(self.m)

    def _file(self, path: Path | None, schema: pa.Schema, engine: SparkEngine) -> DataFrame:
        """One of Herald's files; no rows (in ``schema``'s columns) when there is none."""
        if path is not None and path.exists():
            return engine.read_files([path], under=self._uploads)
        return self._session.createDataFrame([], ", ".join(f"{n} string" for n in schema.names))

    def _missing(self) -> tuple[str, str]:
        """A join to the members' identities, and whether a ledger member is missing from
        the list (Klaviyo removed it): repaired by a re-add unless found bounced before."""
        if not self.reconcile:
            return "", "false"
        join = f"LEFT JOIN (SELECT DISTINCT ident FROM {self.m}) mi ON mi.ident = l.ident"
        return join, "(l.status = 'member' AND mi.ident IS NULL)"

    def adds(self) -> DataFrame:
        join, missing = self._missing()
        repair, changed, where = add_rules(missing)
        return self._session.sql(
            f"""
            SELECT {_DESIRED}, {repair} AS repair, {changed} AS changed
            FROM {self.d} d LEFT JOIN {self.l} l ON l.key = d.key {join}
            WHERE {where} ORDER BY d.key
            """
        )

    def updates(self, updates: bool) -> DataFrame:
        join, missing = self._missing()
        return self._session.sql(
            f"""
            SELECT {_DESIRED}, false AS repair, false AS changed
            FROM {self.d} d JOIN {self.l} l ON {UPDATE_JOIN} {join}
            WHERE {update_where(missing, updates=updates)} ORDER BY d.key
            """
        )

    def removes(self) -> DataFrame:
        """The ledger rows no longer desired, those to send first (see
        :func:`~herald.destinations.klaviyo_api.diff.settled_reason`)."""
        if self.reconcile:
            join = (
                f"LEFT JOIN (SELECT ident, min(profile_id) AS profile_id FROM {self.m} "
                "GROUP BY ident) mid ON mid.ident = l.ident"
            )
            member_id, in_list = "mid.profile_id", "mid.ident IS NOT NULL"
        else:
            join, member_id, in_list = "", "NULL", "true"
        reason = settled_reason("di.ident IS NOT NULL", in_list)
        return self._session.sql(
            f"""
            SELECT * FROM (
                SELECT l.key, l.email, l.phone_number, l.external_id, l.ident,
                       coalesce(l.profile_id, {member_id}) AS profile_id, {reason} AS settled
                FROM {self.l} l LEFT JOIN {self.d} d ON d.key = l.key
                LEFT JOIN (SELECT DISTINCT ident FROM {self.d}) di ON di.ident = l.ident
                {join}
                WHERE {REMOVE_WHERE}
            ) ORDER BY settled IS NOT NULL, key
            """
        )

    def bounced_and_foreign(self) -> tuple[int, int]:
        """Ledger members found bounced that are still desired as they are, and list members
        Herald did not add."""
        [row] = self._session.sql(
            f"""
            SELECT (SELECT count(*) FROM {self.l} l JOIN {self.d} d
                        ON d.key = l.key AND d.ident = l.ident WHERE l.status = 'bounced'),
                   (SELECT count(*) FROM {self.m} m LEFT JOIN
                        (SELECT DISTINCT ident FROM {self.l}) li ON li.ident = m.ident
                    WHERE li.ident IS NULL)
            """
        ).collect()
        return int(row[0]), int(row[1])

    def close(self, engine: SparkEngine) -> None:
        for view in (self.d, self.l, self.m):
            self._session.catalog.dropTempView(view)
        engine.forget(self._uploads)


def _write_imports(engine: SparkEngine, frame: DataFrame, target: Path) -> tuple[int, int, int]:
    """Stream planned adds or updates into ``target``; (rows, repairs, identity changes)."""
    rows, counts = engine.stream_to(
        frame, target, PLANNED_SCHEMA, number=True, tally=("repair", "changed")
    )
    return rows, counts["repair"], counts["changed"]


def _write_removes(engine: SparkEngine, frame: DataFrame, target: Path) -> tuple[int, int]:
    """Stream the removes into ``target``; (rows to send, rows settled)."""
    rows, counts = engine.stream_to(
        frame.selectExpr("*", "settled IS NULL AS send"),
        target,
        REMOVES_SCHEMA,
        number=True,
        tally=("send",),
    )
    return counts["send"], rows - counts["send"]
