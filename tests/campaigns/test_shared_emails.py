"""One address, one group of a campaign per destination (DESIGN §1.3, issue 8 item 14).

Customers who share an email land in different groups (sub-audiences chosen by a ``bucket``
column, so the cases below are certain, and a hash-split remainder, checked against an oracle
over the run's recipients log). The campaign runs against the Klaviyo sandbox over HTTP and a
CSV file destination; every address ends in exactly one list or file of each destination, the
first group in campaign order keeps it (control groups included), the others count
``duplicate_email_in_campaign``, and preview and test count what the run counts.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from cli_helpers import as_json, ok_stdout

from herald.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxServer
from herald.workspace import Workspace

NAME = "Shared Mail"
REST = "All Remaining Recipients"
# (sub-audience, group) in campaign order; control groups are None.
ORDER = [
    ("Early", "Early Offer"),
    ("Held", "Held Out"),
    ("Files First", "File Offer"),
    ("Late", "Late Offer"),
    (REST, "Rest Offer"),
    (REST, "Rest Holdout"),
]
RANK = {group: rank for rank, (_, group) in enumerate(ORDER)}
CONTROLS = {"Held Out", "Rest Holdout"}
SENDS = {
    "files": ["Early Offer", "File Offer", "Late Offer"],
    "klaviyo": ["Early Offer", "Late Offer", "Rest Offer"],
}
CAMPAIGN = """
kind: campaign
name: Shared Mail
include: [Everyone]
sub_audiences:
  - name: Early
    where: {all: [{attribute: Customer_360.bucket, op: is exactly, value: E}]}
    groups: [{name: Early Offer, percent: 100, destinations: [files, klaviyo]}]
  - name: Held
    where: {all: [{attribute: Customer_360.bucket, op: is exactly, value: H}]}
    groups: [{name: Held Out, percent: 100, control: true}]
  - name: Files First
    where: {all: [{attribute: Customer_360.bucket, op: is exactly, value: F}]}
    groups: [{name: File Offer, percent: 100, destinations: [files]}]
  - name: Late
    where: {all: [{attribute: Customer_360.bucket, op: is exactly, value: L}]}
    groups: [{name: Late Offer, percent: 100, destinations: [files, klaviyo]}]
remaining:
  groups:
    - {name: Rest Offer, percent: 50, destinations: [klaviyo]}
    - {name: Rest Holdout, percent: 50, control: true}
delivery: {schedule: recurring, cadence: daily, start: "2026-12-01 09:00", timezone: UTC}
"""
SEGMENT = """
kind: segment
name: Everyone
status: active
where: {all: [{attribute: Customer_360.amperity_id, op: is not null}]}
"""
# key → (bucket, email as the database holds it)
CUSTOMERS: dict[str, tuple[str, str | None]] = {
    "e1": ("E", "one@x.com"),
    "l1": ("L", " ONE@X.com "),  # Early keeps it everywhere
    "h2": ("H", "two@x.com"),
    "l2": ("L", "Two@x.com"),  # the control, earlier, keeps it
    "e3": ("E", "three@x.com"),
    "h3": ("H", "THREE@x.com"),  # Early, before the control, keeps (and sends) it
    "f4": ("F", "four@x.com"),
    "l4": ("L", "four@x.com"),  # File Offer keeps it in files; Late keeps it in Klaviyo
    "e5": ("E", "five@x.com"),
    "e6": ("E", "Five@x.com"),  # same group: Klaviyo keeps e5 only, a CSV keeps both
    "l5": ("L", "five@x.com"),
    "h7": ("H", "bad@"),
    "l7": ("L", "bad@"),  # an invalid address claims nothing
    "h8": ("H", None),
    "l8": ("L", None),
    "l9": ("L", "late9@x.com"),
    **{f"r{i:02d}": ("R", f"rest{i % 15}@x.com") for i in range(30)},  # pairs in the remainder
    **{f"s{i}": ("R", f"held{i}@x.com") for i in range(8)},  # the control keeps these
    **{f"h{10 + i}": ("H", f"held{i}@x.com") for i in range(8)},
    "r99": ("R", "LATE9@x.com"),  # Late keeps it in Klaviyo
}


def norm(email: str | None) -> str | None:
    """What Herald sends for the addresses above (all plain ASCII): trimmed, lower-cased;
    None when missing or invalid."""
    if email is None:
        return None
    cleaned = email.strip().lower()
    return cleaned if "." in cleaned.partition("@")[2] else None


def make_database(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE Customer_360 (amperity_id VARCHAR, bucket VARCHAR)")
        con.execute("CREATE TABLE Merged_Customers (amperity_id VARCHAR, email VARCHAR)")
        for key, (bucket, email) in CUSTOMERS.items():
            con.execute("INSERT INTO Customer_360 VALUES (?, ?)", [key, bucket])
            con.execute("INSERT INTO Merged_Customers VALUES (?, ?)", [key, email])


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(limits="10", job_tick=0.01)) as running:
        yield running


@pytest.fixture
def workspace(tmp_path: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    make_database(root / "customers.duckdb")
    Workspace.init(root, database="customers.duckdb").close()
    with (root / "herald.toml").open("a", encoding="utf-8") as config:
        config.write(
            '\n[destinations.klaviyo]\ntype = "klaviyo_api"\n'
            'api_key_env = "HERALD_TEST_KLAVIYO_KEY"\n'
            f'base_url = "{server.url}"\npoll_interval = 0.05\nlimits_scale = 10\n'
        )
    monkeypatch.setenv("HERALD_WORKSPACE", str(root))
    monkeypatch.setenv("HERALD_TEST_KLAVIYO_KEY", DEFAULT_API_KEY)
    (root / "everyone.yaml").write_text(SEGMENT, encoding="utf-8")
    (root / "campaign.yaml").write_text(CAMPAIGN, encoding="utf-8")
    ok_stdout("apply", "-f", str(root / "everyone.yaml"))
    ok_stdout("campaign", "apply", "-f", str(root / "campaign.yaml"))
    return root


def placement(root: Path, run_id: str) -> dict[str, str]:
    """key → group, from the run's recipients log."""
    log = root / ".herald" / "runs" / run_id / "recipients_log.parquet"
    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT DISTINCT amperity_id, \"group\" FROM read_parquet('{log}')"
        ).fetchall()
    return dict(rows)


def oracle(groups: dict[str, str], destination: str) -> tuple[dict[str, set[str]], Counter[str]]:
    """Independently: the keys each sending group of ``destination`` keeps (before duplicates
    within the group), and how many customers of each lose their address to an earlier
    group (a control group counts for every destination)."""
    contenders = set(SENDS[destination]) | CONTROLS
    first: dict[str, int] = {}
    for key, group in groups.items():
        email = norm(CUSTOMERS[key][1])
        if email is not None and group in contenders:
            first[email] = min(first.get(email, len(ORDER)), RANK[group])
    kept: dict[str, set[str]] = {g: set() for g in SENDS[destination]}
    lost: Counter[str] = Counter()
    for key, group in groups.items():
        if group not in SENDS[destination]:
            continue
        email = norm(CUSTOMERS[key][1])
        if email is not None and first[email] < RANK[group]:
            lost[group] += 1
        else:
            kept[group].add(key)
    return kept, lost


def drops_by_delivery(result: dict[str, Any]) -> dict[tuple[str, str], tuple[int, dict[str, int]]]:
    return {
        (d["group"], d["destination"]): (d["records"], d["drops"]) for d in result["deliveries"]
    }


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_each_address_goes_to_the_first_group_in_campaign_order(
    workspace: Path, server: SandboxServer
) -> None:
    preview = as_json("campaign", "preview", NAME)
    sample = as_json("campaign", "test", NAME, "-n", "1000", "--out", str(workspace / "samples"))

    result = as_json("campaign", "run", NAME, "--yes")

    run_id = result["run"]["id"]
    assert result["run"]["status"] == "delivered"
    groups = placement(workspace, run_id)
    runs = drops_by_delivery(result)
    # Certain cases: Late Offer loses l1 (to Early), l2 (to the control Held Out) and l5 (to
    # Early) everywhere, and l4 only in files (File Offer sends to files alone).
    assert runs[("Late Offer", "files")][1]["duplicate_email_in_campaign"] == 4
    assert runs[("Late Offer", "klaviyo")][1]["duplicate_email_in_campaign"] == 3
    assert "duplicate_email_in_campaign" not in runs[("Early Offer", "klaviyo")][1]
    assert runs[("Early Offer", "klaviyo")][1]["duplicate_email"] == 1  # e6, within the group

    lists = {
        lst.name: {server.state.profile(p).email for p in server.state.list_members(lst.id)}
        for lst in server.state.lists()
    }
    exports = workspace / "exports"
    for destination, senders in SENDS.items():
        kept, lost = oracle(groups, destination)
        assert lost["Late Offer"] >= 3
        sent: list[str] = []
        for group in senders:
            records, drops = runs[(group, destination)]
            assert drops.get("duplicate_email_in_campaign", 0) == lost[group], (group, destination)
            emails = {norm(CUSTOMERS[k][1]) for k in kept[group]} - {None}
            name = f"Shared_Mail_{group.replace(' ', '_')}"
            if destination == "klaviyo":
                assert lists[name] == emails, group
                sent += sorted(lists[name])
            else:
                rows = read_csv(exports / f"{name}.csv")
                assert {r["amperity_id"] for r in rows} == kept[group], group
                assert records == len(kept[group])
                sent += sorted({r["email"] for r in rows if r["email"]})
        # Every address in exactly one list (or file) of the destination.
        assert len(sent) == len(set(sent)), destination

    # Preview and test count exactly what the run counted.
    assert drops_by_delivery(preview) == runs
    assert drops_by_delivery(sample) == runs
