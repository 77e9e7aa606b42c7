"""``herald campaign …`` end to end: a real workspace, DuckDB demo database and state store.

The campaign ``Opt-In Offer`` (tests/fixtures/campaigns) takes opted-in customers with an
email, minus Do Not Contact; High Value ones get a 90/10 offer/control split, the rest an
80/20 newsletter (to the CSV files *and* Klaviyo) / control split.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
from cli_helpers import as_json, ok_stdout, run
from oracles.splitting import largest_remainder

from herald.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "campaigns"
OFFER = FIXTURES / "opt-in-offer.yaml"
DIGEST = FIXTURES / "weekly-digest.yaml"
NAME = "Opt-In Offer"


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        return list(reader.fieldnames or []), list(reader)


def expected_audience(demo_db: Path) -> dict[str, bool]:
    """Independently: opted-in customers with an email, minus employees and test accounts;
    the value says whether the customer is High Value."""
    with duckdb.connect(str(demo_db), read_only=True) as con:
        rows = con.execute(
            """SELECT c.amperity_id, coalesce(t.lifetime_order_revenue >= 1000, false)
               FROM Customer_360 c
               JOIN Customer_Attributes a USING (amperity_id)
               LEFT JOIN Transaction_Attributes_Extended t USING (amperity_id)
               WHERE a.is_opted_into_email AND c.email IS NOT NULL AND c.email <> ''
                 AND NOT (coalesce(a.is_employee, false) OR coalesce(a.is_test_account, false))"""
        ).fetchall()
    return dict(rows)


def point_klaviyo_at(ws: Path, url: str) -> None:
    """Send the workspace's ``klaviyo`` destination (the last table of herald.toml) to ``url``."""
    with (ws / "herald.toml").open("a", encoding="utf-8") as config:
        config.write(f'base_url = "{url}"\npoll_interval = 0.05\n')


@pytest.fixture
def sandbox(ws_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    """A Klaviyo sandbox behind the workspace's ``klaviyo`` destination, with its key set."""
    with SandboxServer(SandboxConfig(limits="off", job_tick=0.01)) as server:
        point_klaviyo_at(ws_dir, server.url)
        monkeypatch.setenv("KLAVIYO_API_KEY", DEFAULT_API_KEY)
        yield server


@pytest.fixture
def applied(ws_dir: Path, sandbox: SandboxServer) -> Path:
    assert "version 1 (created)" in ok_stdout("campaign", "apply", "-f", str(OFFER))
    return ws_dir


def log_counts(ws: Path, run_id: str) -> list[dict[str, Any]]:
    """Recipients per group from the run's recipients log, in the campaign's order."""
    with duckdb.connect() as con:
        rows = con.execute(
            f"""SELECT sub_audience, "group", is_control, count(DISTINCT amperity_id)
                FROM read_parquet('{ws / ".herald" / "runs" / run_id / "recipients_log.parquet"}')
                GROUP BY ALL"""
        ).fetchall()
    found = {(r[0], r[1]): (r[2], r[3]) for r in rows}
    order = [
        ("Big Spenders", "Gold Voucher"),
        ("Big Spenders", "Holdout"),
        ("All Remaining Recipients", "Newsletter"),
        ("All Remaining Recipients", "Rest Holdout"),
    ]
    return [
        {
            "sub_audience": s,
            "group": g,
            "is_control": found[(s, g)][0],
            "recipients": found[(s, g)][1],
        }
        for s, g in order
    ]


def run_text(name: str) -> tuple[str, dict[str, Any]]:
    """``herald campaign run`` (table output), and the run it recorded."""
    out = ok_stdout("campaign", "run", name)
    run_ = as_json("campaign", "runs", name)[0]
    assert f"Run {run_['id']}: delivered" in out
    return out, run_


@pytest.fixture
def delivered(applied: Path) -> dict[str, Any]:
    out, run_ = run_text(NAME)
    return {
        "run": run_,
        "output": out,
        "counts": log_counts(applied, run_["id"]),
        "deliveries": as_json("campaign", "preview", NAME)["deliveries"],
    }


def test_run_and_test_print_json(applied: Path) -> None:
    """``--json`` of run and test serializes each delivery, including its file path."""
    result = run("campaign", "run", NAME, "--json")
    assert result.exit_code == 0, repr(result.exception)
    # Klaviyo sync events come first, one JSON object a line; the result is the last document.
    deliveries = json.loads(result.stdout[result.stdout.index("{\n") :])["deliveries"]
    assert deliveries[0]["path"].endswith(".csv")
    sample = run("campaign", "test", NAME, "--json", "--out", str(applied / "samples"))
    assert sample.exit_code == 0, repr(sample.exception)
    assert json.loads(sample.stdout)["deliveries"][0]["path"].endswith(".csv")


def test_apply_list_show_and_reapply_is_unchanged(applied: Path) -> None:
    assert "version 1 (unchanged)" in ok_stdout("campaign", "apply", "-f", str(OFFER))

    listed = as_json("campaign", "list")
    shown = as_json("campaign", "show", NAME)

    assert [(c["name"], c["version"], c["status"]) for c in listed] == [(NAME, 1, "draft")]
    assert (shown["version"], shown["status"]) == (1, "draft")
    assert len(shown["uid"]) == 32
    assert shown["definition"]["sub_audiences"][0]["groups"][0]["name"] == "Gold Voucher"
    assert "kind" not in shown["definition"]
    assert f"split salt {shown['uid']}" in ok_stdout("campaign", "show", NAME)


def test_validate_writes_nothing(ws_dir: Path) -> None:
    assert "Campaign 'Opt-In Offer' is valid (0 warning(s))." in ok_stdout(
        "campaign", "validate", "-f", str(OFFER)
    )
    assert as_json("campaign", "list") == []


def test_run_writes_dated_csv_files_with_the_mapped_header(
    delivered: dict[str, Any], applied: Path, demo_db: Path
) -> None:
    run_ = delivered["run"]
    assert run_["status"] == "delivered"
    day = (
        dt.datetime.fromisoformat(run_["as_of"])
        .astimezone(ZoneInfo("America/Los_Angeles"))
        .date()
        .isoformat()
    )
    exports = applied / "exports"

    assert sorted(p.name for p in exports.iterdir()) == sorted(
        [f"Opt-In_Offer_Gold_Voucher_{day}.csv", f"Opt-In_Offer_Newsletter_{day}.csv"]
    )  # control groups get no file
    header, rows = read_csv(exports / f"Opt-In_Offer_Gold_Voucher_{day}.csv")
    assert header == ["amperity_id", "email", "First Name", "State"]
    newsletter_header, newsletter = read_csv(exports / f"Opt-In_Offer_Newsletter_{day}.csv")
    assert newsletter_header == ["amperity_id", "email"]  # the files destination's defaults

    audience = expected_audience(demo_db)
    counts = {(c["sub_audience"], c["group"]): c["recipients"] for c in delivered["counts"]}
    high = sum(audience.values())
    assert counts[("Big Spenders", "Gold Voucher")] + counts[("Big Spenders", "Holdout")] == high
    assert [
        counts[("Big Spenders", "Gold Voucher")],
        counts[("Big Spenders", "Holdout")],
    ] == largest_remainder(high, [9000, 1000])
    rest = len(audience) - high
    assert (
        counts[("All Remaining Recipients", "Newsletter")]
        + counts[("All Remaining Recipients", "Rest Holdout")]
        == rest
    )
    assert len(rows) == counts[("Big Spenders", "Gold Voucher")]  # a CSV keeps every customer
    assert {r["amperity_id"] for r in rows} <= {k for k, hv in audience.items() if hv}
    assert {r["amperity_id"] for r in newsletter} <= {k for k, hv in audience.items() if not hv}


def test_drops_by_reason_are_reported(delivered: dict[str, Any]) -> None:
    """The demo data has invalid emails: they are counted per destination; Klaviyo drops them,
    a CSV keeps the row with the email blanked. Addresses an earlier group keeps (Gold Voucher,
    Holdout) are dropped at both."""
    deliveries = {(d["group"], d["destination"]): d for d in delivered["deliveries"]}
    counts = {c["group"]: c["recipients"] for c in delivered["counts"]}
    klaviyo, files = deliveries[("Newsletter", "klaviyo")], deliveries[("Newsletter", "files")]

    assert klaviyo["drops"].get("invalid_email", 0) > 0
    assert klaviyo["records"] + sum(klaviyo["drops"].values()) == counts["Newsletter"]
    in_campaign = files["drops"].get("duplicate_email_in_campaign", 0)
    assert files["records"] + in_campaign == counts["Newsletter"]
    assert files["drops"]["invalid_email"] == klaviyo["drops"]["invalid_email"]
    assert f"invalid_email {klaviyo['drops']['invalid_email']:,}" in delivered["output"]
    assert f"+{klaviyo['records']:,} −0" in delivered["output"]  # the list sync's result


def test_recipients_log_has_a_row_per_recipient_and_destination(
    delivered: dict[str, Any], applied: Path
) -> None:
    export = applied / "recipients.csv"
    out = ok_stdout("campaign", "recipients", NAME, "--csv", str(export))
    header, rows = read_csv(export)
    counts = {(c["sub_audience"], c["group"]): c["recipients"] for c in delivered["counts"]}

    assert header == [
        "run_id",
        "campaign",
        "sub_audience",
        "group",
        "is_control",
        "destination",
        "delivered_at",
        "launch_date",
        "amperity_id",
    ]
    assert f"Wrote {len(rows):,} rows" in out
    per_route = Counter((r["group"], r["destination"], r["is_control"]) for r in rows)
    assert per_route == {
        ("Gold Voucher", "files", "false"): counts[("Big Spenders", "Gold Voucher")],
        ("Holdout", "", "true"): counts[("Big Spenders", "Holdout")],
        ("Newsletter", "files", "false"): counts[("All Remaining Recipients", "Newsletter")],
        ("Newsletter", "klaviyo", "false"): counts[("All Remaining Recipients", "Newsletter")],
        ("Rest Holdout", "", "true"): counts[("All Remaining Recipients", "Rest Holdout")],
    }
    assert len({(r["amperity_id"], r["destination"]) for r in rows}) == len(
        rows
    )  # once per destination
    assert {r["run_id"] for r in rows} == {delivered["run"]["id"]}
    assert {r["launch_date"] for r in rows} == {"2026-12-01"}
    printed = as_json("campaign", "recipients", NAME, "--limit", "5")
    assert len(printed) == 5
    assert printed[0]["campaign"] == NAME


def test_preview_counts_equal_the_run_counts(applied: Path) -> None:
    preview = as_json("campaign", "preview", NAME)
    assert preview["run"] is None
    assert as_json("campaign", "runs", NAME) == []  # a preview stores no run

    _out, run_ = run_text(NAME)

    assert preview["counts"] == log_counts(applied, run_["id"])
    assert run_["stats"]["recipients"] == sum(c["recipients"] for c in preview["counts"])


def test_preview_prints_the_api_time_beside_the_sftp_time(applied: Path) -> None:
    preview = as_json("campaign", "preview", NAME)
    to_klaviyo = sum(d["records"] for d in preview["deliveries"] if d["destination"] == "klaviyo")
    text = ok_stdout("campaign", "preview", NAME)
    table = text[text.index("Time to send if every record were new") :]
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in table.splitlines()]
    found = {row[0]: row[1:] for row in rows if len(row) == 4}
    assert set(found) == {"klaviyo"}  # a local file is not timed
    records, api, sftp = found["klaviyo"]
    assert records == f"{to_klaviyo:,}"
    assert api.endswith("s")
    assert sftp == "30 s"  # a 60-byte row each, at 5 MB/s, after 30 s to set up


def test_preview_equals_the_run_through_the_library(applied: Path) -> None:
    from herald.runs.pipeline import run_campaign
    from herald.runs.preview import preview_campaign
    from herald.workspace import Workspace

    with Workspace.open(applied) as ws:
        preview = preview_campaign(ws, NAME)
        result = run_campaign(ws, NAME)

    assert preview.counts == result.counts
    assert [(d.group, d.destination, d.records, d.drops) for d in preview.deliveries] == [
        (d.group, d.destination, d.records, d.drops) for d in result.deliveries
    ]
    assert [d.status for d in result.deliveries] == ["written", "written", "synced"]


def test_test_writes_at_most_n_records_per_group_and_destination_and_stores_no_run(
    applied: Path,
) -> None:
    out = applied / "samples"

    printed = ok_stdout("campaign", "test", NAME, "--records", "3", "--out", str(out))

    files = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert files == [
        "files__Opt-In_Offer_Gold_Voucher.csv",
        "files__Opt-In_Offer_Newsletter.csv",
        "klaviyo__Opt-In_Offer_Newsletter.jsonl",
    ]
    for name in files:
        lines = (out / name).read_text(encoding="utf-8").splitlines()
        data = lines[1:] if name.endswith(".csv") else lines
        assert 1 <= len(data) <= 3, name
    assert read_csv(out / files[0])[0] == ["amperity_id", "email", "First Name", "State"]
    assert f"Sample files in {out}" in " ".join(printed.split())
    assert as_json("campaign", "runs", NAME) == []
    assert not (applied / "exports").exists()
    assert as_json("campaign", "show", NAME)["status"] == "draft"


def test_runs_lists_each_run_newest_first(delivered: dict[str, Any], applied: Path) -> None:
    _out, second = run_text(NAME)

    runs = as_json("campaign", "runs", NAME)

    assert [r["id"] for r in runs] == [second["id"], delivered["run"]["id"]]
    assert {r["status"] for r in runs} == {"delivered"}
    assert runs[0]["stats"]["recipients"] == sum(
        c["recipients"] for c in log_counts(applied, second["id"])
    )
    assert as_json("campaign", "show", NAME)["status"] == "delivered"


def test_the_split_is_the_same_on_every_run(delivered: dict[str, Any], applied: Path) -> None:
    first = applied / "first.csv"
    ok_stdout("campaign", "recipients", NAME, "--csv", str(first))
    run_text(NAME)
    second = applied / "second.csv"
    ok_stdout("campaign", "recipients", NAME, "--csv", str(second))

    def groups(path: Path) -> set[tuple[str, str, str]]:
        return {(r["amperity_id"], r["group"], r["destination"]) for r in read_csv(path)[1]}

    assert groups(first) == groups(second)


def test_a_recurring_campaign_keeps_one_file_name(ws_dir: Path) -> None:
    ok_stdout("campaign", "apply", "-f", str(DIGEST))

    run_text("Weekly Digest")

    assert sorted(p.name for p in (ws_dir / "exports").iterdir()) == [
        "Weekly_Digest_Readers.csv",
        "Weekly_Digest_Skimmers.csv",
    ]
    readers = len(read_csv(ws_dir / "exports" / "Weekly_Digest_Readers.csv")[1])
    skimmers = len(read_csv(ws_dir / "exports" / "Weekly_Digest_Skimmers.csv")[1])
    preview = as_json("campaign", "preview", "Weekly Digest")
    sizes = [c["recipients"] for c in preview["counts"]]
    assert readers > 0
    assert abs(sizes[0] - sizes[1]) <= 1
    # Skimmers sharing an address with a Reader (earlier in the campaign) are left out.
    lost = [d["drops"].get("duplicate_email_in_campaign", 0) for d in preview["deliveries"]]
    assert [readers, skimmers] == [sizes[0] - lost[0], sizes[1] - lost[1]]
    assert lost[0] == 0
    run_text("Weekly Digest")  # the next run replaces the same files
    assert len(list((ws_dir / "exports").iterdir())) == 2


def test_recipients_of_a_campaign_without_runs_is_an_error(applied: Path) -> None:
    result = run("campaign", "recipients", NAME)
    assert result.exit_code == 1
    assert f"campaign '{NAME}' has no delivered run yet" in result.output


def test_run_of_an_unknown_campaign_is_an_error(ws_dir: Path) -> None:
    result = run("campaign", "run", "Nope")
    assert result.exit_code == 1
    assert "Nope" in result.output
