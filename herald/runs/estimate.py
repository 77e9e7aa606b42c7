"""``herald campaign estimate``: the calls and time each Klaviyo list needs, before sending.

The audience is built and diffed against each list's ledger exactly as a run would (in a
scratch folder), so adds and removes are the real ones; the time comes from the planned calls
and the destination's rate limits (:mod:`herald.core.estimate`), beside the SFTP alternative.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from herald.core.estimate import Estimate, ListPlan, estimate, sftp_seconds
from herald.destinations.klaviyo_api.limits import RateLimit, limits_for
from herald.destinations.klaviyo_api.sync import prepare_delivery
from herald.engines.duckdb import connect_utc
from herald.runs.diff import (
    DiffCounts,
    batches_table,
    compute_diff,
    ledger_path,
    merge_ledger,
    read_ledger_count,
    write_outcomes,
)
from herald.runs.pipeline import claims_for, log_recipients, prepared_group
from herald.runs.snapshots import Snapshot

if TYPE_CHECKING:
    from herald.workspace import Workspace

CSV_BYTES_PER_PROFILE = 60  # Email,PhoneNumber,ExternalID: a typical row of the SFTP CSV


@dataclass(frozen=True)
class ListEstimate:
    destination: str
    list_name: str
    adds: int
    updates: int
    removes: int
    list_size: int
    list_known: bool
    seconds: float


@dataclass(frozen=True)
class CampaignEstimate:
    """The whole delivery's estimate.

    Attributes:
        lists: each Klaviyo list on its own.
        total: calls and seconds under the rate limits, all lists together.
        sftp_seconds: the same adds as one CSV over SFTP.
        local_seconds: building, preparing and diffing the audience here, measured while
            estimating (a run does the same work again before it sends anything).
    """

    lists: list[ListEstimate]
    total: Estimate
    sftp_seconds: float
    local_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        """The run's expected wall time: local work plus the time the limits need."""
        return self.local_seconds + self.total.seconds


def estimate_campaign(
    ws: Workspace, name: str, *, today: dt.date | None = None
) -> CampaignEstimate:
    """Plan every Klaviyo list of the campaign and estimate the time under the limits."""
    started = time.perf_counter()
    build = ws.campaigns.build(name, today=today)
    items = [r for r in build.resolved if r.kind.type == "klaviyo_api"]
    scratch = Path(tempfile.mkdtemp(prefix="estimate-", dir=ws.state_dir))
    try:
        snapshot = scratch / "recipients.parquet"
        ws.campaigns.write_snapshot(build, snapshot)
        plans, lists = [], []
        with Snapshot(snapshot) as snap, claims_for(ws, build, snap) as claims:
            for i, item in enumerate(items):
                folder = scratch / str(i)
                # The run's own steps (see pipeline._klaviyo_input), so the time is its time.
                with prepared_group(ws, snap, item, claims) as prepared:
                    records = prepared.batches(order="key")
                    prepare_delivery(
                        records, prepared.fields, prepared.key, prepared.dropped, folder
                    )
                list_id = ws.store.list_id(item.destination, item.output_name)
                ledger = ledger_path(ws.state_dir, item.destination, list_id or "_none")
                counts = compute_diff(folder / "desired.parquet", ledger, folder)
                size = read_ledger_count(ledger) if ledger.exists() else 0
                _finish_as_if_sent(folder, ledger, counts)
                plan = ListPlan(
                    item.output_name,
                    adds=counts.adds + counts.updates,
                    removes=counts.removes,
                    list_id_known=list_id is not None,
                    list_exists=list_id is not None,
                    list_size=size,
                    add_bytes=_profile_bytes(folder / "adds.parquet")
                    + _profile_bytes(folder / "updates.parquet"),
                )
                plans.append(plan)
                lists.append((item, counts, size, list_id is not None))
            # The run writes the recipients log too: part of its local work.
            log_recipients(ws, build, "estimate", snapshot, scratch / "recipients_log.parquet")
        limits = _limits(ws, [i.destination for i in items])
        poll = _poll_interval(ws, [i.destination for i in items])
        total = estimate(plans, limits, poll_interval=poll)
        per_list = [
            ListEstimate(
                item.destination,
                item.output_name,
                c.adds,
                c.updates,
                c.removes,
                size,
                known,
                estimate([plan], limits, poll_interval=poll).seconds,
            )
            for (item, c, size, known), plan in zip(lists, plans, strict=True)
        ]
        adds = sum(p.adds for p in plans)
        sftp = sftp_seconds(adds * CSV_BYTES_PER_PROFILE) if adds else 0.0
        return CampaignEstimate(per_list, total, sftp, time.perf_counter() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _finish_as_if_sent(folder: Path, ledger: Path, counts: DiffCounts) -> None:
    """What a run does after its last batch (outcomes, the new ledger), on a copy of the
    ledger, as if every batch went through: so the local time measured is the run's."""
    work = [("add", counts.adds), ("update", counts.updates), ("remove", counts.removes)]
    confirmed = batches_table([(kind, 0, n, "estimate") for kind, n in work if n])
    skipped = pq.read_table(folder / "skipped.parquet")
    write_outcomes(folder / "outcomes.parquet", folder, confirmed, [], skipped)
    copy = folder / "ledger.parquet"
    if ledger.exists():
        shutil.copyfile(ledger, copy)
    merge_ledger(copy, folder, confirmed, [])


def _profile_bytes(path: Path) -> int:
    if not path.exists():
        return 0
    with connect_utc() as con:
        literal = str(path).replace("'", "''")
        row = con.execute(
            f"SELECT coalesce(sum(strlen(profile)), 0) FROM read_parquet('{literal}')"
        ).fetchall()
    return int(row[0][0])


def _setting(ws: Workspace, destinations: list[str], key: str, default: float) -> float:
    """A pacing setting of the (first) Klaviyo destination; no API key is needed to estimate."""
    for name in destinations:
        return float(getattr(ws.settings.destinations[name], key, default))
    return default


def _limits(ws: Workspace, destinations: list[str]) -> dict[str, RateLimit]:
    return limits_for(scale=_setting(ws, destinations, "limits_scale", 1.0))


def _poll_interval(ws: Workspace, destinations: list[str]) -> float:
    return _setting(ws, destinations, "poll_interval", 2.0)
