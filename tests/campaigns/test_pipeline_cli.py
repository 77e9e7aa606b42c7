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
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
from click.testing import CliRunner, Result

from herald.cli.main import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "campaigns"
OFFER = FIXTURES / "opt-in-offer.yaml"
DIGEST = FIXTURES / "weekly-digest.yaml"
NAME = "Opt-In Offer"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def as_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json"))


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


@pytest.fixture
def applied(ws_dir: Path) -> Path:
    assert "version 1 (created)" in ok("campaign", "apply", "-f", str(OFFER))
    return ws_dir


@pytest.fixture
def delivered(applied: Path) -> dict[str, Any]:
    return as_json("campaign", "run", NAME)


def test_apply_list_show_and_reapply_is_unchanged(applied: Path) -> None:
    assert "version 1 (unchanged)" in ok("campaign", "apply", "-f", str(OFFER))

    listed = as_json("campaign", "list")
    shown = as_json("campaign", "show", NAME)

    assert [(c["name"], c["version"], c["status"]) for c in listed] == [(NAME, 1, "draft")]
    assert (shown["version"], shown["status"]) == (1, "draft")
    assert len(shown["uid"]) == 32
    assert shown["definition"]["sub_audiences"][0]["groups"][0]["name"] == "Gold Voucher"
    assert "kind" not in shown["definition"]
    assert f"split salt {shown['uid']}" in ok("campaign", "show", NAME)


def test_validate_writes_nothing(ws_dir: Path) -> None:
    assert "Campaign 'Opt-In Offer' is valid (0 warning(s))." in ok("campaign", "validate", "-f", str(OFFER))
    assert as_json("campaign", "list") == []


def test_run_writes_dated_csv_files_with_the_mapped_header(delivered: dict[str, Any], applied: Path, demo_db: Path) -> None:
    run_ = delivered["run"]
    assert run_["status"] == "delivered"
    day = dt.datetime.fromisoformat(run_["as_of"]).astimezone(ZoneInfo("America/Los_Angeles")).date().isoformat()
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
    assert counts[("Big Spenders", "Holdout")] == round(high * 0.1 + 1e-9) or abs(counts[("Big Spenders", "Holdout")] - high * 0.1) <= 0.5
    rest = len(audience) - high
    assert counts[("All Remaining Recipients", "Newsletter")] + counts[("All Remaining Recipients", "Rest Holdout")] == rest
    assert len(rows) == counts[("Big Spenders", "Gold Voucher")]  # a CSV keeps every customer
    assert {r["amperity_id"] for r in rows} <= {k for k, hv in audience.items() if hv}
    assert {r["amperity_id"] for r in newsletter} <= {k for k, hv in audience.items() if not hv}


def test_drops_by_reason_are_reported(delivered: dict[str, Any]) -> None:
    """The demo data has invalid emails: they are counted per destination; Klaviyo drops them,
    a CSV keeps the row with the email blanked."""
    deliveries = {(d["group"], d["destination"]): d for d in delivered["deliveries"]}
    counts = {c["group"]: c["recipients"] for c in delivered["counts"]}
    klaviyo, files = deliveries[("Newsletter", "klaviyo")], deliveries[("Newsletter", "files")]

    assert klaviyo["drops"].get("invalid_email", 0) > 0
    assert klaviyo["records"] + sum(klaviyo["drops"].values()) == counts["Newsletter"]
    assert files["records"] == counts["Newsletter"]
    assert files["drops"]["invalid_email"] == klaviyo["drops"]["invalid_email"]
    assert klaviyo["status"] == "not sent" and klaviyo["path"] is None


def test_recipients_log_has_a_row_per_recipient_and_destination(delivered: dict[str, Any], applied: Path) -> None:
    export = applied / "recipients.csv"
    out = ok("campaign", "recipients", NAME, "--csv", str(export))
    header, rows = read_csv(export)
    counts = {(c["sub_audience"], c["group"]): c["recipients"] for c in delivered["counts"]}

    assert header == ["run_id", "campaign", "sub_audience", "group", "is_control", "destination",
                      "delivered_at", "launch_date", "amperity_id"]
    assert f"Wrote {len(rows):,} rows" in out
    per_route = Counter((r["group"], r["destination"], r["is_control"]) for r in rows)
    assert per_route == {
        ("Gold Voucher", "files", "false"): counts[("Big Spenders", "Gold Voucher")],
        ("Holdout", "", "true"): counts[("Big Spenders", "Holdout")],
        ("Newsletter", "files", "false"): counts[("All Remaining Recipients", "Newsletter")],
        ("Newsletter", "klaviyo", "false"): counts[("All Remaining Recipients", "Newsletter")],
        ("Rest Holdout", "", "true"): counts[("All Remaining Recipients", "Rest Holdout")],
    }
    assert len({(r["amperity_id"], r["destination"]) for r in rows}) == len(rows)  # once per destination
    assert {r["run_id"] for r in rows} == {delivered["run"]["id"]}
    assert {r["launch_date"] for r in rows} == {"2026-12-01"}
    printed = as_json("campaign", "recipients", NAME, "--limit", "5")
    assert len(printed) == 5
    assert printed[0]["campaign"] == NAME


def test_preview_counts_equal_the_run_counts(applied: Path) -> None:
    preview = as_json("campaign", "preview", NAME)
    assert preview["run"] is None
    assert as_json("campaign", "runs", NAME) == []  # a preview stores no run

    delivered = as_json("campaign", "run", NAME)

    assert preview["counts"] == delivered["counts"]
    strip = [{k: v for k, v in d.items() if k not in ("status", "path", "message")} for d in preview["deliveries"]]
    assert strip == [{k: v for k, v in d.items() if k not in ("status", "path", "message")} for d in delivered["deliveries"]]


def test_test_writes_at_most_n_records_per_group_and_destination_and_stores_no_run(applied: Path) -> None:
    out = applied / "samples"

    result = as_json("campaign", "test", NAME, "--records", "3", "--out", str(out))

    files = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert files == ["files__Opt-In_Offer_Gold_Voucher.csv", "files__Opt-In_Offer_Newsletter.csv",
                     "klaviyo__Opt-In_Offer_Newsletter.jsonl"]
    for name in files:
        lines = (out / name).read_text(encoding="utf-8").splitlines()
        data = lines[1:] if name.endswith(".csv") else lines
        assert 1 <= len(data) <= 3, name
    assert read_csv(out / files[0])[0] == ["amperity_id", "email", "First Name", "State"]
    assert all(d["records"] <= 3 and d["status"] == "sample" for d in result["deliveries"])
    assert as_json("campaign", "runs", NAME) == []
    assert not (applied / "exports").exists()
    assert as_json("campaign", "show", NAME)["status"] == "draft"


def test_runs_lists_each_run_newest_first(delivered: dict[str, Any]) -> None:
    second = as_json("campaign", "run", NAME)

    runs = as_json("campaign", "runs", NAME)

    assert [r["id"] for r in runs] == [second["run"]["id"], delivered["run"]["id"]]
    assert {r["status"] for r in runs} == {"delivered"}
    assert runs[0]["stats"]["recipients"] == sum(c["recipients"] for c in second["counts"])
    assert as_json("campaign", "show", NAME)["status"] == "delivered"


def test_the_split_is_the_same_on_every_run(delivered: dict[str, Any], applied: Path) -> None:
    first = applied / "first.csv"
    ok("campaign", "recipients", NAME, "--csv", str(first))
    as_json("campaign", "run", NAME)
    second = applied / "second.csv"
    ok("campaign", "recipients", NAME, "--csv", str(second))

    def groups(path: Path) -> set[tuple[str, str, str]]:
        return {(r["amperity_id"], r["group"], r["destination"]) for r in read_csv(path)[1]}

    assert groups(first) == groups(second)


def test_a_recurring_campaign_keeps_one_file_name(ws_dir: Path) -> None:
    ok("campaign", "apply", "-f", str(DIGEST))

    result = as_json("campaign", "run", "Weekly Digest")

    assert sorted(p.name for p in (ws_dir / "exports").iterdir()) == [
        "Weekly_Digest_Readers.csv", "Weekly_Digest_Skimmers.csv"]
    counts = [c["recipients"] for c in result["counts"]]
    assert abs(counts[0] - counts[1]) <= 1
    as_json("campaign", "run", "Weekly Digest")  # the next run replaces the same files
    assert len(list((ws_dir / "exports").iterdir())) == 2


def test_recipients_of_a_campaign_without_runs_is_an_error(applied: Path) -> None:
    result = run("campaign", "recipients", NAME)
    assert result.exit_code == 1
    assert f"campaign '{NAME}' has no delivered run yet" in result.output


def test_run_of_an_unknown_campaign_is_an_error(ws_dir: Path) -> None:
    result = run("campaign", "run", "Nope")
    assert result.exit_code == 1
    assert "Nope" in result.output
