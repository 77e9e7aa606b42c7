"""A simulated campaign effect with a known truth: the measured lift finds it.

A campaign (half treatment, half control) is delivered to the ``files`` destination with a
launch date after the demo data's last order; ``herald demo generate --effect-campaign`` then
adds seeded orders after the launch, the treated buying with the uplift. The measured relative
conversion lift's 95 % interval must cover the simulated uplift, and with no uplift, zero.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import uuid
from pathlib import Path

import duckdb
import pytest
from cli_helpers import as_json, ok, ok_stdout, one_error_line, run

from herald.apply import apply_path
from herald.demo.effect import ORDER_PREFIX, clear_effect, simulate_effect
from herald.demo.examples import examples_dir
from herald.demo.generate import generate_demo_database
from herald.exceptions import ConfigError
from herald.workspace import Workspace

AS_OF = dt.date(2026, 6, 30)  # the data's today: its last order is the day before
NAME = "Known Truth"
CAMPAIGN = """
kind: campaign
name: Known Truth
include: [Email Opted In]
remaining:
  groups:
    - {name: Offer, percent: 50, destinations: [files]}
    - {name: Holdout, percent: 50, control: true}
launch_date: LAUNCH
"""


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40,000 demo customers (seed 3), as of 2026-06-30: written by this module only."""
    path = tmp_path_factory.mktemp("effect") / "customers.duckdb"
    generate_demo_database(path, customers=40_000, seed=3, as_of=AS_OF, items=False)
    return path


@pytest.fixture
def ws_dir(tmp_path: Path, database: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace over a copy of the database, with the campaign delivered (launch
    2026-07-01) and the CLI pointed at it."""
    copy = tmp_path / "customers.duckdb"
    shutil.copy(database, copy)
    with Workspace.init(tmp_path / "ws", database=str(copy)) as ws:
        apply_path(ws, examples_dir() / "segments" / "01-email-opted-in.yaml")
        root = ws.root
    monkeypatch.setenv("HERALD_WORKSPACE", str(root))
    path = root / "campaign.yaml"
    path.write_text(CAMPAIGN.replace("LAUNCH", "2026-07-01"), encoding="utf-8")
    with monkeypatch.context() as fixed:
        # The split's salt is the campaign's random uid: fixed, the split is the same on every
        # run of the test, and the test is seeded throughout.
        fixed.setattr(uuid, "uuid4", lambda: uuid.UUID(int=14))
        ok_stdout("campaign", "apply", "-f", str(path))
    ok_stdout("campaign", "run", NAME, "--yes")
    return root


def measured(uplift: float, seed: int = 7) -> dict[str, float]:
    """Simulate through the CLI, then measure as of the window's end it names."""
    out = ok("demo", "generate", "--effect-campaign", NAME, "--uplift", str(uplift),
             "--seed", str(seed))  # fmt: skip
    found = re.search(r"--as-of (\d{4}-\d{2}-\d{2})", out)
    assert found, out
    assert found.group(1) == "2026-07-31"  # 30 days from the launch date
    results = as_json("campaign", "results", NAME, "--as-of", found.group(1))
    [section] = results["sections"]
    assert section["window_over"] is True
    [offer] = [g for g in section["groups"] if g["group"] == "Offer"]
    lift: dict[str, float] = offer["lift"]["conversion_relative"]
    return lift


def test_the_measured_lift_covers_the_simulated_uplift(ws_dir: Path) -> None:
    lift = measured(0.15)
    assert lift["low"] < 0.15 < lift["high"]
    assert lift["high"] - lift["low"] < 0.2  # narrow enough for the cover to mean something
    assert lift["low"] > 0  # and 40,000 customers detect the uplift


def test_with_no_uplift_the_measured_lift_is_near_zero(ws_dir: Path) -> None:
    lift = measured(0.0)
    assert lift["low"] < 0 < lift["high"]
    assert abs(lift["value"]) < 0.05


def test_a_new_simulation_replaces_the_last_and_is_seeded(ws_dir: Path) -> None:
    with Workspace.open(ws_dir) as ws:
        database = ws.database_path
        [run_id] = [r.id for r in ws.store.list_runs(NAME)]
    log = ws_dir / ".herald" / "runs" / run_id / "recipients_log.parquet"
    first = simulate_effect(database, [log], uplift=0.3, seed=1)
    again = simulate_effect(database, [log], uplift=0.3, seed=1)
    assert first == again
    assert first.orders > 0
    assert first.treated < first.recipients
    with duckdb.connect(str(database), read_only=True) as con:
        [(orders, earliest, latest)] = con.execute(
            "SELECT count(*), min(order_datetime), max(order_datetime) "
            "FROM Unified_Transactions WHERE order_id LIKE 'SIM-%'"
        ).fetchall()
    assert orders == first.orders  # the second run replaced the first one's orders
    assert earliest >= dt.datetime(2026, 7, 1)
    assert latest < dt.datetime(2026, 7, 31)
    assert clear_effect(database) == first.orders
    assert clear_effect(database) == 0
    assert ORDER_PREFIX == "SIM-"


def test_a_launch_before_the_last_order_is_refused(ws_dir: Path) -> None:
    path = ws_dir / "early.yaml"
    early = CAMPAIGN.replace("LAUNCH", "2026-06-01").replace(NAME, "Early Launch")
    path.write_text(early, encoding="utf-8")
    ok_stdout("campaign", "apply", "-f", str(path))
    ok_stdout("campaign", "run", "Early Launch", "--yes")
    line = one_error_line(run("demo", "generate", "--effect-campaign", "Early Launch"))
    assert "before the data's last order" in line
    with pytest.raises(ConfigError, match="uplift must be between"):
        simulate_effect(ws_dir / "x.duckdb", [ws_dir / "log.parquet"], uplift=2.0)


def test_an_unknown_campaign_is_one_line(ws_dir: Path) -> None:
    line = one_error_line(run("demo", "generate", "--effect-campaign", "Nope"))
    assert "Nope" in line
