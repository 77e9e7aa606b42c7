"""The log and state scan (issue 8, "Must show"): a campaign run against the real sandbox with
faults, a wrong key, a key file with two lines, a key with a zero-width space, and ``--debug``,
leaves no API key, no email and no phone number of the demo customers in the output, the logs,
the files under ``.herald/`` or any text column of the state database.

Excluded from the email/phone scan (never from the key scan, which reads their string
columns): the Parquet files that are recipient data on purpose. Under ``.herald/runs/`` the
snapshot ``recipients.parquet`` and the prepared/diff files a list sync works from (``adds``,
``updates``, ``members`` …) hold the addresses and numbers being delivered (retention is issue 8
item 20); under ``.herald/lists/`` each list's ledger holds the members Herald added, which the
next sync diffs against. The ``rejects/`` Parquet files are scanned: their reasons are
Klaviyo's messages and must be redacted. DuckDB data files: none is written under
``.herald/``; the test checks that. The state database is scanned twice: every text column of
every table through SQL, and the file's raw bytes.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from herald.cli.main import main
from herald.core.prepare import normalize_emails, normalize_phones
from herald.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxServer

pytestmark = pytest.mark.slow

NAME = "Scan Offer"
WRONG_KEY = "pk_wrong_key_0123456789abcdefghij"
SECOND_LINE = "pk_second_line_secret_9876543210zyxw"
INVISIBLE_KEY = DEFAULT_API_KEY[:12] + "\u200b" + DEFAULT_API_KEY[12:]
KEYS = (DEFAULT_API_KEY, WRONG_KEY, SECOND_LINE, INVISIBLE_KEY)
FAULTS = "5xx=0.05,429=0.05,storm=2,drop=0.02,latency=1-3ms,job_fail=0.05"

CAMPAIGN = """\
kind: campaign
name: Scan Offer
include: [Email Opted In]
exclude: [Do Not Contact]
remaining:
  groups:
    - name: Good
      percent: 50
      destinations:
        - destination: klaviyo
          attributes: [email, {phone: phone_number}, {given_name: first_name}]
        - files
    - name: Wrong
      percent: 25
      destinations: [klaviyo_wrong]
    - name: Invisible
      percent: 15
      destinations: [klaviyo_invisible]
    - name: Holdout
      percent: 10
      control: true
launch_date: 2026-12-01
"""


def destinations(url: str, keys: Path) -> str:
    common = f'base_url = "{url}"\nlimits_scale = 10\npoll_interval = 0.05\nmax_wait = 20\n'
    return (
        f'\n[destinations.klaviyo]\ntype = "klaviyo_api"\napi_key_file = "{keys / "two-lines"}"\n'
        f"{common}"
        f'\n[destinations.klaviyo_wrong]\ntype = "klaviyo_api"\napi_key_env = "SCAN_WRONG_KEY"\n'
        f"{common}"
        f'\n[destinations.klaviyo_invisible]\ntype = "klaviyo_api"\n'
        f'api_key_file = "{keys / "invisible"}"\n{common}'
    )


@pytest.fixture
def scan_ws(ws_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The campaign workspace, its three Klaviyo destinations on a faulty sandbox."""
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "two-lines").write_text(f"{DEFAULT_API_KEY}\n{SECOND_LINE}\n", encoding="utf-8")
    (keys / "invisible").write_text(f"{INVISIBLE_KEY}\n", encoding="utf-8")
    monkeypatch.setenv("SCAN_WRONG_KEY", WRONG_KEY)
    config = SandboxConfig(limits="10", faults=FAULTS, seed=5, job_tick=0.01)
    with SandboxServer(config) as server:
        toml = ws_dir / "herald.toml"
        base = toml.read_text(encoding="utf-8").split("\n[destinations.klaviyo]")[0]
        toml.write_text(base + destinations(server.url, keys), encoding="utf-8")
        (tmp_path / "scan.yaml").write_text(CAMPAIGN, encoding="utf-8")
        yield ws_dir


def needles(demo_db: Path) -> dict[str, set[str]]:
    """Every email and phone number of the demo customers, as written and as normalised."""
    with duckdb.connect(str(demo_db), read_only=True) as con:
        rows = con.execute(
            "SELECT email, phone FROM Customer_360 UNION SELECT email, phone FROM Merged_Customers"
        ).fetchall()
    emails = {r[0].strip() for r in rows if r[0] and r[0].strip()}
    phones = {r[1].strip() for r in rows if r[1] and r[1].strip()}
    normal_emails, _ = normalize_emails(pa.array(sorted(emails)))
    normal_phones, _ = normalize_phones(pa.array(sorted(phones)))
    e164 = {p for p in normal_phones.to_pylist() if p}
    emails |= {e for e in normal_emails.to_pylist() if e} | {e.lower() for e in emails}
    phones |= e164 | {p[2:] for p in e164 if p.startswith("+1")}  # and the 10 national digits
    return {"email": emails, "phone": phones}


def found(text: str, demo: dict[str, set[str]], *, pii: bool = True) -> list[str]:
    hits = [f"key {k!r}" for k in KEYS if k in text]
    if pii:
        hits += [f"{kind} {v!r}" for kind, values in demo.items() for v in values if v in text]
    return hits


def state_texts(db: Path) -> str:
    engine = sa.create_engine(f"sqlite:///{db}")
    meta = sa.MetaData()
    meta.reflect(bind=engine)
    out = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(sa.select(table)):
                out.extend(v for v in row if isinstance(v, str))
    engine.dispose()
    return "\n".join(out)


def parquet_texts(path: Path) -> str:
    table = pq.read_table(path)
    out = [str(table.schema)]
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            out.extend(v for v in column.to_pylist() if v is not None)
    return "\n".join(out)


def herald_cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``herald ARGS`` in a new process with Python logging at DEBUG on stderr."""
    code = (
        "import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, "
        "format='%(levelname)s %(name)s %(message)s'); "
        "from herald.cli.main import main; sys.argv[0] = 'herald'; main()"
    )
    env = {**os.environ, "HERALD_WORKSPACE": str(ws), "SCAN_WRONG_KEY": WRONG_KEY}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True, text=True, env=env, timeout=240, check=False,
    )  # fmt: skip


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_no_key_email_or_phone_leaks_anywhere(
    scan_ws: Path, demo_db: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    demo = needles(demo_db)
    assert len(demo["email"]) > 2000
    assert len(demo["phone"]) > 2000
    outputs: list[str] = []

    applied = invoke("campaign", "apply", "-f", str(tmp_path / "scan.yaml"))
    assert applied.exit_code == 0, applied.output
    with caplog.at_level(logging.DEBUG):
        first = invoke("--debug", "campaign", "run", NAME, "--yes")
        outputs += [first.stdout, first.stderr]
        if first.exc_info is not None:
            # --debug lets an error through: its traceback must not hold a key either.
            outputs.append("".join(traceback.format_exception(*first.exc_info)))
        check = invoke("destination", "check", "klaviyo")
        outputs += [check.stdout, check.stderr]
        invisible = invoke("destination", "check", "klaviyo_invisible")
        outputs += [invisible.stdout, invisible.stderr]
    logs = caplog.text + "\n".join(r.getMessage() for r in caplog.records)

    # A second run in a new process, --debug, with logging at DEBUG on stderr; then --debug
    # tracebacks of a refused key and of api_key_env set to the key itself.
    again = herald_cli(scan_ws, "--debug", "campaign", "run", NAME, "--yes")
    refused = herald_cli(scan_ws, "--debug", "destination", "check", "klaviyo_invisible")
    toml = scan_ws / "herald.toml"
    saved = toml.read_text(encoding="utf-8")
    toml.write_text(saved.replace('"SCAN_WRONG_KEY"', f'"{WRONG_KEY}"'), encoding="utf-8")
    as_variable = herald_cli(scan_ws, "--debug", "destination", "list")
    toml.write_text(saved, encoding="utf-8")
    for done in (again, refused, as_variable):
        outputs += [done.stdout, done.stderr]

    leaks = {"output": found("\n".join(outputs), demo), "logs": found(logs, demo)}

    herald_dir = scan_ws / ".herald"
    files = sorted(p for p in herald_dir.rglob("*") if p.is_file())
    assert not [p for p in files if p.suffix in (".duckdb", ".db-wal") and p.name != "state.db"]
    excluded = []
    for path in files:
        where = str(path.relative_to(scan_ws))
        if path.suffix == ".parquet":
            text = parquet_texts(path)
            data = {"runs", "lists"} & set(path.relative_to(herald_dir).parts[:1])
            recipients = bool(data) and path.parent.name != "rejects"
            if recipients:
                excluded.append(where)
            leaks[where] = found(text, demo, pii=not recipients)
        else:
            leaks[where] = found(path.read_bytes().decode("utf-8", "replace"), demo)
    runs = state_texts(herald_dir / "state.db")
    leaks["state database (every text column)"] = found(runs, demo)

    assert {where: hits for where, hits in leaks.items() if hits} == {}

    # The scan means something only if the runs did what it is about.
    assert excluded, "the run wrote no recipient files: the scan did not exercise a delivery"
    assert "Klaviyo rejected the API key" in runs, runs[-2000:]  # the wrong key was tried
    assert check.exit_code == 0, check.output  # the two-line key file: its first line works
    assert invisible.exit_code == 1
    assert "has an invisible character" in invisible.stderr
    assert any("klaviyo_invisible" in o and "invisible character" in o for o in outputs)
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # logs were captured
    assert "DEBUG httpcore" in again.stderr  # the second run logged at DEBUG
    assert "Traceback" in refused.stderr
    assert "invisible character" in refused.stderr
    assert "Traceback" in as_variable.stderr
    assert "api_key_env must name an environment variable" in as_variable.stderr
