"""``herald campaign preview``: each group's minimum detectable effect on conversion.

The demo database here is generated as of today (the preview's baseline counts the orders of
the 30 days before today). The campaign is also run to the ``files`` destination: its
recipients log holds the same groups as the preview (the split is deterministic), over which
the baseline is computed again by hand-written SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from cli_helpers import as_json, ok, ok_stdout, one_error_line, run

from herald.core.results.power import mde_conversion
from herald.demo.generate import generate_demo_database

NAME = "Power Check"
CAMPAIGN = """
kind: campaign
name: Power Check
include: [Email Opted In]
sub_audiences:
  - name: Big Spenders
    segment: High Value
    groups:
      - {name: Gold, percent: 98, destinations: [files]}
      - {name: Tiny Holdout, percent: 2, control: true}
  - name: Recent Buyers
    where:
      has_purchased:
        within: 60 days
    groups:
      - {name: Offer, percent: 50, destinations: [files]}
      - {name: Holdout, percent: 50, control: true}
remaining:
  groups:
    - {name: Newsletter, percent: 100, destinations: [files]}
"""

BASELINE_SQL = """
SELECT sub_audience, count(*) AS recipients,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM Unified_Transactions t
           WHERE t.amperity_id = r.amperity_id
             AND t.order_datetime >= $today - INTERVAL 30 DAY AND t.order_datetime < $today))
           AS purchasers
FROM (SELECT DISTINCT sub_audience, "group", amperity_id FROM read_parquet($log)) r
GROUP BY sub_audience
"""


@pytest.fixture(scope="module")
def today_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12,000 demo customers as of today (UTC), so that recent orders exist."""
    path = tmp_path_factory.mktemp("power") / "customers.duckdb"
    today = dt.datetime.now(dt.UTC).date()
    generate_demo_database(path, customers=12_000, seed=5, as_of=today, items=True)
    return path


@pytest.fixture
def power_ws(
    tmp_path: Path,
    today_db: Path,
    new_workspace: Callable[[Path, Path], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    root = new_workspace(tmp_path / "ws", today_db)
    monkeypatch.setenv("HERALD_WORKSPACE", str(root))
    path = root / "power.yaml"
    path.write_text(CAMPAIGN, encoding="utf-8")
    ok_stdout("campaign", "apply", "-f", str(path))
    return root


def hand_baselines(db: Path, log: Path) -> dict[str, float]:
    today = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time())
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(BASELINE_SQL, {"today": today, "log": str(log)}).fetchall()
    return {sub: buyers / n for sub, n, buyers in rows}


def test_preview_shows_the_mde_per_group_from_the_recent_conversion_rate(
    power_ws: Path, today_db: Path
) -> None:
    found = as_json("campaign", "preview", NAME)
    power = {(p["sub_audience"], p["group"]): p for p in found["power"]}
    counts = {(c["sub_audience"], c["group"]): c["recipients"] for c in found["counts"]}
    assert power.keys() == counts.keys()

    ok_stdout("campaign", "run", NAME, "--yes")
    [run_id] = [r["id"] for r in as_json("campaign", "runs", NAME)]
    log = power_ws / ".herald" / "runs" / run_id / "recipients_log.parquet"
    baselines = hand_baselines(today_db, log)
    assert baselines["Recent Buyers"] > 0.2  # real recent orders: the check is not vacuous

    for (sub, group), p in power.items():
        assert p["recipients"] == counts[sub, group]
        assert p["baseline"] == pytest.approx(baselines[sub]), (sub, group)
    offer, holdout = power["Recent Buyers", "Offer"], power["Recent Buyers", "Holdout"]
    assert holdout["is_control"]
    assert holdout["mde"] is None
    assert offer["control"] == "Holdout"
    want = mde_conversion(baselines["Recent Buyers"], offer["recipients"], holdout["recipients"])
    assert offer["mde"] == pytest.approx(want)
    assert offer["relative"] == pytest.approx(want / offer["baseline"])
    assert not offer["too_small"]  # half the sub-audience as control: a fine control

    gold = power["Big Spenders", "Gold"]
    assert gold["too_small"]
    assert gold["control"] == "Tiny Holdout"
    assert gold["mde"] is None or gold["relative"] > 0.2
    newsletter = power["All Remaining Recipients", "Newsletter"]
    assert (newsletter["mde"], newsletter["note"]) == (
        None,
        "no control group in this sub-audience",
    )
    assert not newsletter["too_small"]
    # The warnings name exactly the groups whose control is too small.
    assert [w for w in found["warnings"] if "too small" in w or "empty" in w] == [
        w for w in found["warnings"] if "'Big Spenders' / 'Gold'" in w
    ]
    assert len([w for w in found["warnings"] if "Gold" in w]) == 1


def test_preview_table_and_warning_line(power_ws: Path) -> None:
    result = run("campaign", "preview", NAME)
    assert result.exit_code == 0, result.output
    assert "Minimum detectable effect on conversion" in result.stdout
    assert "no control group in this sub-audience" in result.stdout
    [warning] = [line for line in result.stderr.splitlines() if "'Gold'" in line]
    assert warning.startswith("Warning:")
    assert "Tiny Holdout" in warning
    assert "enlarge" in warning
    week = ok("campaign", "preview", NAME, "--window", "1w")
    assert "in the 7 days before today" in " ".join(week.split())


def test_an_empty_control_is_too_small(power_ws: Path) -> None:
    empty = CAMPAIGN.replace("within: 60 days", "within: 60 days\n        where:\n"
                             "          attribute: Unified_Transactions.order_revenue\n"
                             "          op: greater than\n          value: 1000000000")  # fmt: skip
    path = power_ws / "empty.yaml"
    path.write_text(empty, encoding="utf-8")
    ok_stdout("campaign", "apply", "-f", str(path))
    found = as_json("campaign", "preview", NAME)
    offer = next(p for p in found["power"] if p["group"] == "Offer")
    assert offer["recipients"] == 0
    assert offer["too_small"]
    assert offer["note"] == "the control group 'Holdout' is empty"
    assert any("'Recent Buyers' / 'Offer'" in w and "empty" in w for w in found["warnings"])


def test_a_bad_window_is_one_line(power_ws: Path) -> None:
    line = one_error_line(run("campaign", "preview", NAME, "--window", "soon"))
    assert "window 'soon'" in line
