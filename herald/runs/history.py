"""A finished run's figures, kept in its ``stats`` for the run history (``herald runs show``).

``stats`` holds: ``recipients`` and ``deliveries`` (totals); ``phases`` (seconds per phase, and
per list delivery under ``lists``); ``groups`` (recipients per sub-audience and group);
``targets`` (records, status and drops per sub-audience, group and destination);
``destinations`` (groups, records, delivered and failed per destination); ``lists`` (each
list sync's figures: adds, updates, removes, sent, rejected …); ``drops`` (customers left out,
by reason); ``errors`` (what went wrong, per destination). Never a profile's data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from herald.runs.events import list_key

if TYPE_CHECKING:
    from herald.runs.snapshots import GroupCount
    from herald.state import Run


class Delivery(Protocol):
    """What happened to one group at one destination (``herald.runs.pipeline.Delivery``)."""

    @property
    def sub_audience(self) -> str: ...

    @property
    def group(self) -> str: ...

    @property
    def destination(self) -> str: ...

    @property
    def output_name(self) -> str: ...

    @property
    def records(self) -> int: ...

    @property
    def drops(self) -> dict[str, int]: ...

    @property
    def status(self) -> str: ...

    @property
    def message(self) -> str | None: ...

    @property
    def counts(self) -> dict[str, int] | None: ...


__all__ = ["run_stats"]

_FAILED = frozenset({"failed", "not sent"})


def run_stats(
    counts: Sequence[GroupCount], deliveries: Sequence[Delivery], phases: dict[str, Any]
) -> dict[str, Any]:
    """The figures of a run that delivered ``deliveries`` to the groups of ``counts``.

    Args:
        counts: recipients per group, in the campaign's order.
        deliveries: what happened to each group at each destination.
        phases: seconds per phase (``herald.runs.events.RunRecorder.timings``).
    """
    stats: dict[str, Any] = {
        "recipients": sum(c.recipients for c in counts),
        "deliveries": len(deliveries),
        "phases": phases,
        "groups": [
            {
                "sub_audience": c.sub_audience,
                "group": c.group,
                "control": c.is_control,
                "recipients": c.recipients,
            }
            for c in counts
        ],
        "targets": [
            {
                "sub_audience": d.sub_audience,
                "group": d.group,
                "destination": d.destination,
                "output_name": d.output_name,
                "records": d.records,
                "status": d.status,
                "drops": dict(d.drops),
            }
            for d in deliveries
        ],
        "destinations": _per_destination(deliveries),
        "drops": dict(sorted(sum((Counter(d.drops) for d in deliveries), Counter()).items())),
    }
    lists = {
        list_key(d.destination, d.output_name): d.counts for d in deliveries if d.counts is not None
    }
    if lists:
        stats["lists"] = lists
    written = {
        list_key(d.destination, d.output_name): d.message
        for d in deliveries
        if d.status == "written" and d.message
    }
    if written:
        stats["files"] = written  # where each file went (an SFTP upload: path, size, SHA-256)
    errors = _errors(deliveries)
    if errors:
        stats["errors"] = errors
    return stats


def _per_destination(deliveries: Sequence[Delivery]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for d in deliveries:
        row = found.setdefault(
            d.destination, {"groups": 0, "records": 0, "delivered": 0, "failed": 0}
        )
        row["groups"] += 1
        row["records"] += d.records
        row["failed" if d.status in _FAILED else "delivered"] += 1
    return found


def _errors(deliveries: Sequence[Delivery]) -> dict[str, str]:
    """What went wrong per destination: each failed list or file and why."""
    found: dict[str, list[str]] = {}
    for d in deliveries:
        if d.status in _FAILED:
            why = (d.message or d.status).removeprefix("not sent: ")
            found.setdefault(d.destination, []).append(f"'{d.output_name}': {why}")
    return {name: "; ".join(reasons) for name, reasons in found.items()}


def run_header(run: Run) -> list[tuple[str, Any]]:
    """A run's header for people: trigger, slot, pinned versions, as-of, launch date, who
    started it and when, and the run it retries (``herald runs show``, the run page)."""
    pins = ", ".join(f"{name} v{version}" for name, version in sorted(run.pins.items()))
    rows: list[tuple[str, Any]] = [
        ("trigger", run.trigger),
        ("slot", run.slot),
        ("pinned", f"campaign v{run.campaign_version}; segments {pins or '—'}"),
        ("as of", run.as_of),
        ("launch date", run.launch_date),
        ("started", run.started_at),
        ("started by", run.started_by),
        ("finished", run.finished_at),
    ]
    if run.retry_of:
        rows.append(("retry of", run.retry_of))
    return rows


def phase_rows(stats: dict[str, Any]) -> list[tuple[str, Any]]:
    """Seconds per phase, then per list delivery (``list DESTINATION:LIST``), of a run's stats."""
    phases = stats.get("phases") or {}
    rows = [(name, seconds) for name, seconds in phases.items() if name != "lists"]
    rows += [
        (f"list {key}", figures.get("seconds")) for key, figures in phases.get("lists", {}).items()
    ]
    return rows
