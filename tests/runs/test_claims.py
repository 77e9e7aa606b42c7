"""Who loses an address to an earlier group, computed over a recipients snapshot in DuckDB."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kinds import KINDS

from herald.core.campaigns.model import AttributeMapping, Campaign
from herald.core.campaigns.parse import parse_campaign
from herald.core.campaigns.validate import Resolved
from herald.core.prepare import normalize_emails, prepare_records
from herald.runs.claims import claim_emails

REST = "All Remaining Recipients"
API, CSV = KINDS["klaviyo_api"], KINDS["csv_file"]
# Campaign order: G0 (files, klaviyo), Hold (control), G2 (klaviyo, from alt), G3 (files).
GROUPS = ["G0", "Hold", "G2", "G3"]
CAMPAIGN: Campaign = parse_campaign(
    {
        "name": "C",
        "include": "V",
        "remaining": {
            "groups": [
                {"name": "G0", "percent": 25, "destinations": ["files", "klaviyo"]},
                {"name": "Hold", "percent": 25, "control": True},
                {"name": "G2", "percent": 25, "destinations": ["klaviyo"]},
                {"name": "G3", "percent": 25, "destinations": ["files"]},
            ]
        },
    }
)
EMAIL, ALT = AttributeMapping("email", "email"), AttributeMapping("alt", "email")
RESOLVED = [
    Resolved(REST, "G0", "files", CSV, (EMAIL,), "C_G0"),
    Resolved(REST, "G0", "klaviyo", API, (EMAIL,), "C_G0"),
    Resolved(REST, "G2", "klaviyo", API, (ALT,), "C_G2"),
    Resolved(REST, "G3", "files", CSV, (EMAIL,), "C_G3"),
]
# Which source each contender reads at each destination (controls: every source there).
SOURCES = {
    "files": {"G0": ["email"], "Hold": ["email"], "G3": ["email"]},
    "klaviyo": {"G0": ["email"], "Hold": ["email", "alt"], "G2": ["alt"]},
}


def snapshot(path: Path, rows: list[tuple[str, str, str | None, str | None]]) -> pa.Table:
    table = pa.table(
        {
            "amperity_id": pa.array([r[0] for r in rows], pa.string()),
            "sub_audience": pa.array([REST] * len(rows), pa.string()),
            "group": pa.array([r[1] for r in rows], pa.string()),
            "is_control": pa.array([r[1] == "Hold" for r in rows]),
            "email": pa.array([r[2] for r in rows], pa.string()),
            "alt": pa.array([r[3] for r in rows], pa.string()),
        }
    )
    pq.write_table(table, path)
    return table


def oracle(table: pa.Table, destination: str, group: str) -> set[str]:
    """The keys of ``group`` whose address (as prepare_records normalizes it) a group earlier
    in campaign order has at ``destination``."""
    first: dict[str, int] = {}
    mine: list[tuple[str, str]] = []
    for rank, name in enumerate(GROUPS):
        for source in SOURCES[destination].get(name, []):
            part = table.filter(pa.compute.equal(table.column("group"), name))
            emails = normalize_emails(part.column(source))[0].to_pylist()
            for key, email in zip(part.column("amperity_id").to_pylist(), emails, strict=True):
                if email is None:
                    continue
                first[email] = min(first.get(email, rank), rank)
                if name == group:
                    mine.append((key, email))
    rank = GROUPS.index(group)
    return {key for key, email in mine if first[email] < rank}


def taken_keys(path: Path | None) -> set[str]:
    return set() if path is None else set(pq.read_table(path).column(0).to_pylist())


_emails = st.sampled_from(
    [
        "a@x.com",
        " A@X.com",
        "b@x.com",
        "bad@",
        "",
        None,
        "ann@bücher.de",
        "Ann@xn--bcher-kva.de",  # the same address as above, through email-validator
        "c..d@x.com",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(st.sampled_from(GROUPS), _emails, _emails), max_size=30),
)
def test_the_first_group_in_campaign_order_keeps_each_address(
    rows: list[tuple[str, str | None, str | None]],
) -> None:
    keyed = [(f"k{i:02d}", g, e, a) for i, (g, e, a) in enumerate(rows)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "recipients.parquet"
        table = snapshot(path, keyed)
        with claim_emails(path, CAMPAIGN, RESOLVED, spill_parent=Path(folder)) as claims:
            for item in RESOLVED:
                found = taken_keys(claims.taken(item))
                assert found == oracle(table, item.destination, item.group), item
                # What the run then sends: the group's records without those customers.
                group = table.filter(pa.compute.equal(table.column("group"), item.group))
                prepared = prepare_records(
                    group, item.attributes, kind=item.kind, taken=pa.array(sorted(found))
                )
                assert prepared.drops.get("duplicate_email_in_campaign", 0) == len(found)


def test_addresses_in_different_forms_are_one_address(tmp_path: Path) -> None:
    """Emails are compared as prepare_records sends them (email-validator's form on its slow
    path): Punycode and Unicode domains, case and spaces."""
    path = tmp_path / "recipients.parquet"
    snapshot(
        path,
        [
            ("k1", "G3", "ann@bücher.de", None),
            ("k2", "G0", " Ann@xn--bcher-kva.DE ", None),
            ("k3", "Hold", None, "B@x.com"),
            ("k4", "G2", None, "b@x.com "),
            ("k5", "G3", "bad@", None),
            ("k6", "Hold", "bad@", None),
        ],
    )
    with claim_emails(path, CAMPAIGN, RESOLVED, spill_parent=tmp_path) as claims:
        taken = {(i.group, i.destination): taken_keys(claims.taken(i)) for i in RESOLVED}
        assert claims.counts() == {("files", 3): 1, ("klaviyo", 2): 1}
    assert taken == {
        ("G0", "files"): set(),
        ("G0", "klaviyo"): set(),
        ("G2", "klaviyo"): {"k4"},  # the control's alt address, read at Klaviyo
        ("G3", "files"): {"k1"},  # an invalid address claims nothing: k5 stays
    }
    assert [p.name for p in tmp_path.iterdir()] == ["recipients.parquet"]  # scratch removed


def test_no_contest_reads_nothing(tmp_path: Path) -> None:
    single = parse_campaign(
        {"name": "S", "include": "V", "remaining": {"groups": [
            {"name": "G0", "percent": 100, "destinations": ["files"]}]}}
    )  # fmt: skip
    missing = tmp_path / "no-such-snapshot.parquet"  # never opened
    with claim_emails(missing, single, RESOLVED[:1]) as claims:
        assert claims.taken(RESOLVED[0]) is None
        assert claims.counts() == {}
