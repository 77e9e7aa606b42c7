"""Which customers lose their email to an earlier group of the campaign, once per run.

The contests come from :func:`herald.core.claims.email_contests`. The recipients snapshot is
read once, a batch at a time: the rows of every contending group, with each email source
normalized by :func:`herald.core.prepare.normalize_emails` (the very function that prepares
the records, so an address is the same here and there), go to a scratch Parquet file. A local
DuckDB connection then finds, per destination, the senders whose address a group earlier in
campaign order also has::

    min(rank) OVER (PARTITION BY email) < rank

Memory stays bounded whatever the audience: rows stream through Arrow, and the window runs in
DuckDB, which spills. :meth:`EmailClaims.taken` hands one group's losers to
:func:`herald.runs.prepared.prepare_group` as a Parquet file of keys.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from herald.core.campaigns.model import Campaign
from herald.core.campaigns.validate import Resolved
from herald.core.claims import (
    Contest,
    contending_groups,
    email_contests,
    email_sources,
    group_ranks,
)
from herald.core.prepare import normalize_emails
from herald.engines.duckdb import sql_identifier, sql_string
from herald.engines.localdb import BackgroundWriter, open_local_duckdb
from herald.runs.snapshots import BATCH_ROWS

__all__ = ["EmailClaims", "claim_emails", "normalized_emails", "sql_ints"]

_EMAILS = "emails.parquet"


class EmailClaims:
    """The customers of each sending group whose email an earlier group keeps, per
    destination; kept in a local DuckDB until closed."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        spill: Path,
        contests: dict[str, Contest],
        ranks: dict[tuple[str, str], int],
        key: str,
    ) -> None:
        self._con, self._spill = con, spill
        self._contests, self._ranks, self._key = contests, ranks, key

    def taken(self, item: Resolved) -> Path | None:
        """A Parquet file of the keys (column named as the customer key) of ``item``'s group
        whose email an earlier group keeps at ``item``'s destination; None when the group
        contends with no other there."""
        contest = self._contests.get(item.destination)
        rank = self._ranks[(item.sub_audience, item.group)]
        if contest is None or rank not in contest.senders:
            return None
        index = list(self._contests).index(item.destination)
        path = self._spill / f"taken-{index}-{rank}.parquet"
        if not path.exists():
            key = sql_identifier(self._key)
            select = f"SELECT k AS {key} FROM lost WHERE d = {index} AND rank = {rank}"
            self._con.execute(f"COPY ({select}) TO {sql_string(str(path))} (FORMAT parquet)")
        return path

    def counts(self) -> dict[tuple[str, int], int]:
        """``(destination, rank) → customers who lose their email`` (for tests and logs)."""
        names = list(self._contests)
        rows = self._con.execute("SELECT d, rank, count(*) FROM lost GROUP BY ALL").fetchall()
        return {(names[d], rank): count for d, rank, count in rows}

    def close(self) -> None:
        self._con.close()
        shutil.rmtree(self._spill, ignore_errors=True)

    def __enter__(self) -> EmailClaims:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def claim_emails(
    snapshot: Path,
    campaign: Campaign,
    resolved: Sequence[Resolved],
    *,
    key: str = "amperity_id",
    spill_parent: Path | None = None,
) -> EmailClaims:
    """Who keeps each address at each destination, over a run's recipients snapshot.

    Args:
        snapshot: the recipients snapshot (Parquet), control groups included.
        campaign: the campaign the snapshot is of (its order and control groups).
        resolved: its groups' destinations with their attributes.
        key: the customer key column.
        spill_parent: where the scratch files and DuckDB's spill go.

    Returns:
        The claims; close them (or use them as a context manager) to delete their files.
    """
    contests = email_contests(campaign, resolved)
    ranks = group_ranks(campaign)
    con, spill = open_local_duckdb(spill_parent)
    try:
        if contests:
            sources = email_sources(contests)
            _write_emails(con, snapshot, spill / _EMAILS, ranks, contests, sources, key)
            _find_losers(con, spill / _EMAILS, contests, sources)
        else:
            con.execute("CREATE TABLE lost (d INTEGER, rank INTEGER, k VARCHAR)")
        return EmailClaims(con, spill, contests, ranks, key)
    except BaseException:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
        raise


def _write_emails(
    con: duckdb.DuckDBPyConnection,
    snapshot: Path,
    target: Path,
    ranks: dict[tuple[str, str], int],
    contests: dict[str, Contest],
    sources: list[str],
    key: str,
) -> None:
    """``rank, k, e0, e1, …`` for every row of a contending group: its place in campaign
    order, its key, and each email source normalized (NULL where missing or invalid)."""
    groups = contending_groups(contests, ranks)
    con.register(
        "ranks",
        pa.table(
            {
                "sub_audience": [s for s, _, _ in groups],
                "group": [g for _, g, _ in groups],
                "rank": pa.array([r for _, _, r in groups], pa.int32()),
            }
        ),
    )
    columns = ", ".join(f"s.{sql_identifier(source)} AS e{i}" for i, source in enumerate(sources))
    sql = f"""
        SELECT g.rank, s.{sql_identifier(key)} AS k, {columns}
        FROM read_parquet({sql_string(str(snapshot))}) s
        JOIN ranks g ON g.sub_audience = s.sub_audience AND g."group" = s."group"
    """
    reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
    first = normalized_emails(reader.schema.empty_table(), len(sources))
    with BackgroundWriter(target, first.schema, compression="none") as writer:
        for batch in _batches(reader):
            writer.write(normalized_emails(batch, len(sources)))
    con.unregister("ranks")


def _batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    for batch in reader:
        if batch.num_rows:
            yield batch


def normalized_emails(rows: pa.Table | pa.RecordBatch, count: int) -> pa.Table:
    """``rank, k, e0, e1, …`` with each of the ``count`` email columns normalized by
    :func:`normalize_emails` (NULL where missing or invalid)."""
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "rank": rows.column("rank"),
        "k": rows.column("k"),
    }
    for i in range(count):
        columns[f"e{i}"] = normalize_emails(rows.column(f"e{i}"))[0]
    return pa.table(columns)


def _find_losers(
    con: duckdb.DuckDBPyConnection, path: Path, contests: dict[str, Contest], sources: list[str]
) -> None:
    """Table ``lost (d, rank, k)``: at destination ``d`` (its index in ``contests``), the
    customers of sending group ``rank`` whose address an earlier contender has."""
    source = f"read_parquet({sql_string(str(path))})"
    parts = []
    for d, contest in enumerate(contests.values()):
        rows = " UNION ALL ".join(
            f"SELECT rank, k, e{sources.index(s)} AS email FROM {source} "
            f"WHERE rank IN ({sql_ints(ranks)})"
            for s, ranks in contest.ranks_by_source()
        )
        parts.append(
            f"""
            SELECT {d} AS d, rank, k FROM (
                SELECT rank, k FROM ({rows}) WHERE email IS NOT NULL
                QUALIFY min(rank) OVER (PARTITION BY email) < rank
            ) WHERE rank IN ({sql_ints(contest.senders)})
            """
        )
    con.execute(f"CREATE TABLE lost AS {' UNION ALL '.join(parts)}")


def sql_ints(values: Sequence[int]) -> str:
    """Integers as a SQL list's items (``1, 2, 3``)."""
    return ", ".join(str(int(v)) for v in values)
