"""A campaign's results page: per section (pooled over the runs, then each run) the groups'
figures as ``herald campaign results`` shows them, each group's lift against its control with
its interval drawn as a bar against zero, and the cumulative conversion by day since the launch
of each sub-audience's groups (uPlot, drawn by ``static/results.js``).

The window and the as-of date come from a GET form, so a view of the results is a link; the
campaign's name is in that link as in ``/runs?campaign=NAME`` (a campaign's name is not a
person's). The bars are SVG drawn here, so they need no script.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herald.core.results import Estimate
from herald.core.results.query import DEFAULT_WINDOW_DAYS, parse_window
from herald.exceptions import ConfigError, NotFoundError
from herald.runs.results import (
    CampaignResults,
    DailySection,
    GroupResult,
    ResultsSection,
    campaign_results,
    daily_conversion,
    measured_runs,
)
from herald.web.render import render, with_engine, workspace
from herald.workspace import Workspace

MEASURES = (
    ("conversion", "conversion_relative", "Conversion", "points"),
    ("revenue", "revenue_relative", "Revenue / recipient", "money"),
    ("incremental_revenue", None, "Incremental revenue", "money"),
)
"""(estimate, relative estimate, label, unit) of each lift row, as the CLI shows them."""
BAR_WIDTH = 240
"""The interval bars' width in SVG units; zero is in the middle."""


async def results_page(request: Request) -> Response:
    """A campaign's results (``?campaign=NAME[&run=RUN][&window=30d][&as_of=YYYY-MM-DD]``);
    its JSON twin: the results and the daily curves."""
    query = request.query_params
    form = {
        "campaign": query.get("campaign") or "",
        "run": query.get("run") or "",
        "window": query.get("window") or f"{DEFAULT_WINDOW_DAYS}d",
        "as_of": query.get("as_of") or "",
    }
    if not form["campaign"]:
        msg = "no campaign was chosen: open the results from the campaigns page"
        raise NotFoundError(msg)
    try:
        days, as_of = parse_window(form["window"]), _as_of(form["as_of"])
    except ConfigError as error:
        refused = {"form": form, "runs": [], "error": str(error)}
        return render(request, "campaign_results.html", refused, status=400)
    ws = workspace(request)
    found = await with_engine(request, _compute, ws, form["campaign"], form["run"], days, as_of)
    results, daily, runs = found
    sections = _views(results, daily)
    context = {"form": form, "runs": runs, "results": results, "sections": sections}
    data = {"results": _plain(results), "daily": _plain(daily)}
    return render(request, "campaign_results.html", context, data=data)


def _as_of(text: str) -> dt.datetime | None:
    """The as-of date (or date and time) of the form, UTC; None (now) when empty."""
    if not text.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        msg = f"as of '{text}' is not a date: write it as YYYY-MM-DD (orders before it count)"
        raise ConfigError(msg) from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _compute(
    ws: Workspace, name: str, run_id: str, days: int, as_of: dt.datetime | None
) -> tuple[CampaignResults, tuple[DailySection, ...], list[str]]:
    """The results, the daily curves (at the same as-of moment) and the campaign's runs."""
    results = campaign_results(ws, name, run_id=run_id or None, window_days=days, as_of=as_of)
    daily = daily_conversion(ws, name, run_id=run_id or None, window_days=days, as_of=results.as_of)
    return results, daily, [r.id for r in measured_runs(ws, name)]


# --- what the template draws ------------------------------------------------------------------


def _views(results: CampaignResults, daily: Sequence[DailySection]) -> list[dict[str, Any]]:
    return [
        {
            "section": section,
            "id": section.run_id or "pooled",
            "title": _title(section),
            "lifts": _lift_rows(section.groups, results.confidence),
            "charts": _charts(curves),
        }
        for section, curves in zip(results.sections, daily, strict=True)
    ]


def _title(section: ResultsSection) -> str:
    if section.run_id:
        return f"Run {section.run_id}"
    return f"Pooled over {len(section.runs)} runs (each customer once, in their first run)"


def _lift_rows(groups: Iterable[GroupResult], confidence: float) -> list[dict[str, Any]]:
    """Per group with a control, a row per measure, each with a bar on the measure's scale."""
    blocks: list[dict[str, Any]] = [
        {"group": g, "rows": [_measure(g, *measure) for measure in MEASURES]}
        for g in groups
        if g.lift is not None
    ]
    rows = [row for block in blocks for row in block["rows"]]
    scales = _scales(rows)
    for row in rows:
        row["bar"] = _bar(row["estimate"], scales.get(row["name"]), row, confidence)
    return blocks


def _measure(
    g: GroupResult, name: str, relative: str | None, label: str, unit: str
) -> dict[str, Any]:
    estimate: Estimate = getattr(g.lift, name)
    return {
        "name": name,
        "label": label,
        "estimate": estimate,
        "text": _value(estimate.value, unit),
        "interval": _interval(estimate, unit),
        "p": _p(estimate.p_value),
        "relative": getattr(g.lift, relative) if relative else None,
    }


def _scales(rows: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Per measure, the largest distance from zero of any value or interval end (a shared
    scale, so that the section's bars of one measure compare)."""
    scales: dict[str, float] = {}
    for row in rows:
        e: Estimate = row["estimate"]
        ends = [abs(v) for v in (e.value, e.low, e.high) if v is not None]
        scales[row["name"]] = max([scales.get(row["name"], 0.0), *ends])
    return {name: scale * 1.1 for name, scale in scales.items() if scale > 0}


def _bar(
    e: Estimate, scale: float | None, row: dict[str, Any], confidence: float
) -> dict[str, Any] | None:
    """The bar's x positions (SVG units, zero in the middle) and its spoken label."""
    if scale is None or e.value is None:
        return None
    half = BAR_WIDTH / 2

    def x(v: float) -> float:
        return round(half + half * v / scale, 1)

    has_interval = e.low is not None and e.high is not None
    label = f"{row['label']} lift {row['text']}"
    if has_interval:
        label += f", {confidence:.0%} interval {row['interval']}"
    return {
        "zero": half,
        "value": x(e.value),
        "low": x(e.low) if e.low is not None else None,
        "high": x(e.high) if e.high is not None else None,
        "significant": e.significant,
        "label": label,
    }


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value * 100:+,.2f} pp" if unit == "points" else f"{value:+,.2f}"


def _interval(e: Estimate, unit: str) -> str:
    if e.low is None or e.high is None:
        return e.reason or "—"
    scale, suffix = (100.0, " pp") if unit == "points" else (1.0, "")
    return f"[{e.low * scale:+,.2f}, {e.high * scale:+,.2f}]{suffix}"


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _charts(curves: DailySection) -> list[dict[str, Any]]:
    """One chart per sub-audience: its groups' cumulative conversion (%) by day."""
    subs: dict[str, list[Any]] = {}
    for g in curves.groups:
        subs.setdefault(g.sub_audience, []).append(g)
    charts = []
    for sub, groups in subs.items():
        series = [
            {
                "label": g.group + (" (control)" if g.is_control else ""),
                "control": g.is_control,
                "values": [round(c * 100, 3) for c in g.conversion],
            }
            for g in groups
        ]
        data = {"days": list(range(curves.days)), "series": series}
        charts.append({"sub_audience": sub, "data": json.dumps(data), "series": series})
    return charts


def _plain(value: Any) -> Any:
    """Dataclasses as mappings and exact revenue totals as numbers, for the JSON twin (orjson
    writes the datetimes)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    return value


ROUTES = [Route("/campaigns/results", results_page, methods=["GET"])]
