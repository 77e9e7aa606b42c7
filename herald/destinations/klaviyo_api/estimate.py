"""How long a Klaviyo destination's lists take, planned as a run plans them, sending nothing.

Each staged list is diffed against its ledger with the run's own steps (a copy of the ledger
stands in for it), so adds and removes are the real ones; the outcomes and the new ledger are
written as if every batch went through, so the local time measured is the run's. The time
the calls take comes from this destination's rate limits (:mod:`herald.core.estimate`),
beside the SFTP alternative.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from herald.core.estimate import (
    CSV_BYTES_PER_PROFILE,
    Limit,
    ListPlan,
    estimate,
    sftp_seconds,
)
from herald.destinations.base import DeliveryTarget, DestinationEstimate, TargetEstimate
from herald.destinations.klaviyo_api.diff import DiffCounts, compute_diff
from herald.destinations.klaviyo_api.folder import DeliveryFolder, ledger_path
from herald.destinations.klaviyo_api.ledger import (
    batches_table,
    merge_ledger,
    read_ledger_count,
    write_outcomes,
)
from herald.destinations.klaviyo_api.limits import CAPS
from herald.engines.duckdb import connect_utc, sql_string

if TYPE_CHECKING:
    from herald.destinations.base import Destination


def estimate_lists(
    destination: Destination,
    targets: Sequence[DeliveryTarget],
    limits: Mapping[str, Limit],
    poll_interval: float,
) -> DestinationEstimate:
    """Plan every staged list of one destination; time them under its limits together."""
    # A run loads the HTTP client before its first request (a few tenths of a second in a new
    # process): part of the run's local work, so the estimate, which measures that, loads it.
    importlib.import_module("herald.destinations.klaviyo_api.client")
    plans = [_plan(destination, target) for target in targets]
    total = estimate([p for p, _ in plans], limits, CAPS, poll_interval=poll_interval)
    each = [
        TargetEstimate(
            target,
            counts.adds,
            counts.updates,
            counts.removes,
            plan.list_size,
            plan.list_id_known,
            estimate([plan], limits, CAPS, poll_interval=poll_interval).seconds,
        )
        for target, (plan, counts) in zip(targets, plans, strict=True)
    ]
    adds = sum(p.adds for p, _ in plans)
    sftp = sftp_seconds(adds * CSV_BYTES_PER_PROFILE) if adds else 0.0
    return DestinationEstimate(each, total, sftp)


def _plan(destination: Destination, target: DeliveryTarget) -> tuple[ListPlan, DiffCounts]:
    context = destination.context
    files = DeliveryFolder(target.folder)
    list_id = context.store.list_id(target.destination, target.output_name)
    ledger = ledger_path(context.state_dir, target.destination, list_id or "_none")
    counts = compute_diff(files.desired, ledger, files.path)
    size = read_ledger_count(ledger) if ledger.exists() else 0
    _finish_as_if_sent(files, ledger, counts)
    plan = ListPlan(
        target.output_name,
        adds=counts.adds + counts.updates,
        removes=counts.removes,
        list_id_known=list_id is not None,
        list_exists=list_id is not None,
        list_size=size,
        add_bytes=_profile_bytes(files.adds) + _profile_bytes(files.updates),
    )
    return plan, counts


def _finish_as_if_sent(files: DeliveryFolder, ledger: Path, counts: DiffCounts) -> None:
    """What a run does after its last batch (outcomes, the new ledger), on a copy of the
    ledger, as if every batch went through: so the local time measured is the run's."""
    work = [("add", counts.adds), ("update", counts.updates), ("remove", counts.removes)]
    confirmed = batches_table([(kind, 0, n, "estimate") for kind, n in work if n])
    skipped = pq.read_table(files.skipped)
    write_outcomes(files.outcomes, files.path, confirmed, [], skipped)
    copy = files.ledger_copy
    if ledger.exists():
        shutil.copyfile(ledger, copy)
    merge_ledger(copy, files.path, confirmed, [])


def _profile_bytes(path: Path) -> int:
    if not path.exists():
        return 0
    with connect_utc() as con:
        row = con.execute(
            f"SELECT coalesce(sum(strlen(profile)), 0) FROM read_parquet({sql_string(str(path))})"
        ).fetchall()
    return int(row[0][0])
