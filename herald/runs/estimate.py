"""``herald campaign estimate``: the calls and time each list needs, before sending.

The audience is built, prepared and staged exactly as a run does it (in a scratch folder), and
each destination plans its staged groups as its run would (a Klaviyo list: the diff against
its ledger), so adds and removes are the real ones; the time comes from each destination's
own limits (:meth:`herald.destinations.base.Destination.estimate`), beside the bulk
alternative (for Klaviyo, SFTP).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from herald.core.estimate import PHASES, Estimate
from herald.destinations.base import DeliveryTarget, DestinationEstimate
from herald.runs.groups import claims_for, log_recipients, prepared_group, target_for
from herald.runs.snapshots import Snapshot, write_snapshot

if TYPE_CHECKING:
    from herald.campaigns import Build
    from herald.destinations.base import Destination
    from herald.workspace import Workspace

_RUN_ID = "estimate"


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
        lists: each list on its own.
        total: calls and seconds under the rate limits, all lists together (each destination
            under its own limits, the destinations at once, as a run sends).
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
    """Stage every group as a run would and estimate the time under each destination's
    limits; sends nothing and changes no state."""
    started = time.perf_counter()
    build = ws.campaigns.build(name, today=today)
    scratch = Path(tempfile.mkdtemp(prefix="estimate-", dir=ws.state_dir))
    try:
        found = _estimate_staged(ws, build, scratch)
        lists = [
            ListEstimate(
                t.target.destination,
                t.target.output_name,
                t.adds,
                t.updates,
                t.removes,
                t.size,
                t.known,
                t.seconds,
            )
            for e in found
            for t in e.targets
        ]
        sftp = sum(e.alternative_seconds or 0.0 for e in found)
        total = _together([e.total for e in found])
        return CampaignEstimate(lists, total, sftp, time.perf_counter() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _estimate_staged(ws: Workspace, build: Build, scratch: Path) -> list[DestinationEstimate]:
    """The run's steps up to sending, in ``scratch``: snapshot, stage, recipients log; then
    each destination's plan of its staged groups."""
    snapshot = scratch / "recipients.parquet"
    write_snapshot(ws, build, snapshot)
    destinations: dict[str, Destination] = {}
    staged: dict[str, list[DeliveryTarget]] = {}
    with Snapshot(snapshot) as snap, claims_for(ws, build, snap) as claims:
        for number, item in enumerate(build.resolved, 1):
            dest = destinations.get(item.destination) or ws.destination(item.destination)
            destinations[item.destination] = dest
            if dest.capabilities.local:
                continue  # a file written here: nothing to plan
            target = target_for(ws, build, item, _RUN_ID, number, runs=scratch)
            with prepared_group(ws, snap, item, claims) as prepared:
                dest.stage(target, prepared)
            staged.setdefault(item.destination, []).append(target)
        # The run writes the recipients log too: part of its local work.
        log_recipients(ws, build, _RUN_ID, snapshot, scratch / "recipients_log.parquet")
    found = (destinations[name].estimate(targets) for name, targets in staged.items())
    return [e for e in found if e is not None]


def _together(totals: list[Estimate]) -> Estimate:
    """Destinations send at once, each under its own limits: calls add up, and each phase
    takes as long as its longest destination."""
    if len(totals) == 1:
        return totals[0]
    calls: dict[str, int] = {}
    phases: dict[str, float] = {phase: 0.0 for phase, _ in PHASES}
    for total in totals:
        for op, n in total.calls.items():
            calls[op] = calls.get(op, 0) + n
        for phase, seconds in total.phase_seconds.items():
            phases[phase] = max(phases.get(phase, 0.0), seconds)
    creates = sum(t.lists_to_create for t in totals)
    warnings = tuple(w for t in totals for w in t.warnings)
    return Estimate(calls, phases, creates, warnings)
