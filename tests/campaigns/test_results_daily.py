"""Cumulative conversion by day (``daily_conversion``) on the demo database: the curves end at
the results' purchasers, never go down, and stop at the as-of date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from results_workspace import AS_OF, NAME, results_workspace

from herald.runs.results import campaign_results, daily_conversion
from herald.workspace import Workspace


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> tuple[Path, list[str]]:
    return results_workspace(
        tmp_path_factory.mktemp("daily"), demo_db, ["2026-05-15", "2026-05-29"]
    )


def test_curves_end_at_the_purchasers_of_each_section(two_runs: tuple[Path, list[str]]) -> None:
    root, runs = two_runs
    with Workspace.open(root) as ws:
        daily = daily_conversion(ws, NAME, window_days=14, as_of=AS_OF)
        results = campaign_results(ws, NAME, window_days=14, as_of=AS_OF)
    assert [s.run_id for s in daily] == [None, *runs]
    assert [s.runs for s in daily] == [tuple(runs), (runs[0],), (runs[1],)]
    for curves, section in zip(daily, results.sections, strict=True):
        assert curves.days == 14
        names = [(g.sub_audience, g.group, g.is_control) for g in curves.groups]
        assert names == [(g.sub_audience, g.group, g.is_control) for g in section.groups]
        for curve, group in zip(curves.groups, section.groups, strict=True):
            assert curve.recipients == group.sums.recipients
            assert len(curve.purchasers) == 14
            assert list(curve.purchasers) == sorted(curve.purchasers)
            assert curve.purchasers[-1] == group.sums.purchasers
            assert curve.conversion[-1] == pytest.approx(group.conversion)
    gold = next(g for g in daily[1].groups if g.group == "Gold")
    assert 0 < gold.purchasers[0] < gold.purchasers[-1]  # real figures, not a flat line


def test_days_stop_at_as_of_and_one_run_alone(two_runs: tuple[Path, list[str]]) -> None:
    root, runs = two_runs
    as_of = dt.datetime(2026, 5, 17, 12, tzinfo=dt.UTC)  # day 2 of the first run, at noon
    with Workspace.open(root) as ws:
        [section] = daily_conversion(ws, NAME, run_id=runs[0], as_of=as_of)
        results = campaign_results(ws, NAME, run_id=runs[0], as_of=as_of)
    assert (section.run_id, section.days) == (runs[0], 3)
    for curve, group in zip(section.groups, results.sections[0].groups, strict=True):
        assert curve.purchasers[-1] == group.sums.purchasers
