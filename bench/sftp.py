"""Benchmark: a 1M-profile Klaviyo CSV written and uploaded over SFTP to a real OpenSSH server.

Issue 12's targets: the file written and uploaded in ≤ 15 s end to end, and Herald's upload at
least half as fast as OpenSSH's own ``sftp`` client sending the same file (the transport's
ceiling on this machine).

The server is the tests' (``tests/sftp_server.py``): Debian's sshd on a loopback port with its
own host key and a chrooted SFTP-only account; it needs root. The profiles are the demo
database's first ``--customers`` customers (``Merged_Customers``: email, phone, Amperity id),
put in a Parquet file beforehand: they stand for a group's prepared records (building the
audience and preparing it are measured by bench/campaigns.py and bench/prepare.py).

Herald's side is the ``klaviyo_sftp`` destination's own code, as a campaign run calls it,
in a fresh process each round: ``stage`` (the CSV written from the records' stream with the
``Email``, ``PhoneNumber``, ``ExternalID`` headers, listed with its SHA-256, outcomes staged),
then ``deliver`` (connect, verify the host key, upload under a temporary name, check the
size, rename, record the remote file). OpenSSH's side is ``sftp -b`` putting the file Herald
wrote in that round. The sides alternate, Herald, OpenSSH, Herald, … for ``--rounds`` rounds;
every uploaded file is compared byte for byte on the server. In the same run, the API road's
estimate for the same audience (a first sync of a new list, under Klaviyo's rate limits, as
``herald campaign estimate`` computes it) is set beside the SFTP time.

    python bench/sftp.py                          # 1M customers, 3 rounds
    python bench/sftp.py --customers 100000 --rounds 1 --no-report   # a quick check

Results go to docs/benchmarks.md (section "sftp").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report
from _report import demo_database, git_revision, machine, peak_rss_mb, write_section

# The OpenSSH test server and its keys are the tests' own helpers (tests/sftp_server.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

if TYPE_CHECKING:
    import pyarrow as pa

AS_OF = dt.date(2026, 6, 30)
TARGET_SECONDS = 15.0
CEILING_SHARE = 0.5
MB = 1_000_000
FIELDS = ("Email", "PhoneNumber", "ExternalID")
KEY = "amperity_id"
SIDES = ("herald", "openssh")
CAMPAIGN, GROUP = "Bench", "All"


# --- the profiles ---------------------------------------------------------------------------


def write_profiles(database: Path, customers: int, path: Path) -> int:
    """The first ``customers`` customers' identifiers as a Parquet file; how many there are."""
    import duckdb
    import pyarrow.parquet as pq

    sql = (
        "SELECT email AS Email, phone AS PhoneNumber, amperity_id AS ExternalID, amperity_id "
        f"FROM Merged_Customers ORDER BY amperity_id LIMIT {int(customers)}"
    )
    with duckdb.connect(str(database), read_only=True) as con:
        table = con.sql(sql).to_arrow_table()
    # Row groups of 100,000, so the records stream as a run's prepared group does.
    pq.write_table(table, path, row_group_size=100_000)
    return table.num_rows


class ParquetRecords:
    """A group's prepared records read from a Parquet file, in the shape a destination takes
    (``herald.destinations.base.Records``): every row sent, none dropped.

    PyArrow is imported where it is used: OpenSSH's side, a child of this script, must not
    load it, or the ``sftp`` it forks would inherit its peak RSS."""

    key = KEY
    fields = FIELDS

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self.path = path
        self.num_rows = pq.ParquetFile(path).metadata.num_rows

    @property
    def dropped(self) -> pa.Table:
        import pyarrow as pa

        from herald.core.prepare import empty_dropped

        return empty_dropped(KEY, pa.string())

    def batches(self, *, order: str = "snapshot") -> pa.RecordBatchReader:
        import pyarrow as pa
        import pyarrow.parquet as pq

        file = pq.ParquetFile(self.path, pre_buffer=False)  # read a row group at a time
        return pa.RecordBatchReader.from_batches(
            file.schema_arrow, file.iter_batches(batch_size=100_000, use_threads=False)
        )

    def sent_keys(self) -> pa.RecordBatchReader:
        import pyarrow as pa
        import pyarrow.parquet as pq

        file = pq.ParquetFile(self.path, pre_buffer=False)  # read a row group at a time
        schema = pa.schema([("key", pa.string())])
        batches = (
            pa.RecordBatch.from_arrays([b.column(KEY)], schema=schema)
            for b in file.iter_batches(batch_size=100_000, columns=[KEY], use_threads=False)
        )
        return pa.RecordBatchReader.from_batches(schema, batches)


# --- Herald's side (a child process) ---------------------------------------------------------


def herald_side(work: Path, records_path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Stage, then deliver, one group of ``records_path`` to the server, as a run does."""
    from herald.destinations.base import DeliveryTarget, DestinationContext
    from herald.destinations.klaviyo_sftp import KlaviyoSftpDestination
    from herald.destinations.klaviyo_sftp.configuration import KlaviyoSftpSettings

    context = DestinationContext(work, work / ".herald", _no_store)
    destination = KlaviyoSftpDestination(
        "klaviyo_sftp", KlaviyoSftpSettings(type="klaviyo_sftp", **settings), context
    )
    target = DeliveryTarget(
        run_id="bench", destination="klaviyo_sftp", sub_audience="All", group=GROUP,
        output_name=f"{CAMPAIGN}_{GROUP}", dated_name=f"{CAMPAIGN}_{GROUP}", number=1,
        runs_dir=work / "runs", campaign=CAMPAIGN, day=str(AS_OF), recurring=True,
    )  # fmt: skip
    records = ParquetRecords(records_path)
    cpu, start = time.process_time(), time.perf_counter()
    destination.stage(target, records)
    staged = time.perf_counter()
    delivered = asyncio.run(_deliver(destination, target))
    done = time.perf_counter()
    cpu = time.process_time() - cpu
    assert delivered.status == "written", delivered.message
    [uploaded] = json.loads((target.folder / "uploaded.json").read_text()).values()
    [local] = target.folder.glob("records*.csv")
    return {
        "write_s": staged - start,
        "upload_s": done - staged,
        "total_s": done - start,
        "cpu_s": cpu,
        "rss_mb": peak_rss_mb(),
        "rows": delivered.counts["rows"],
        "local": str(local),
        **uploaded,
        "estimate_s": destination.estimate([target]).total.seconds,
    }


def _no_store() -> Any:
    raise AssertionError("an SFTP delivery needs no state store")


async def _deliver(destination: Any, target: Any) -> Any:
    async with destination.open() as session:
        return await session.deliver(target, reconcile=False, progress=None)


# --- OpenSSH's side (a child process, so that its rusage is sftp's alone) ----------------------


def openssh_side(local: Path, remote: str, server: dict[str, Any]) -> dict[str, Any]:
    """``sftp -b`` putting ``local`` at ``remote``, with the same key and pinned host key."""
    batch = Path(f"{local}.sftp-batch")
    batch.write_text(f'put "{local}" "{remote}"\n')
    command = [
        "sftp", "-q", "-b", str(batch), "-i", server["key"], "-P", str(server["port"]),
        "-o", f"UserKnownHostsFile={server['known_hosts']}", "-o", "StrictHostKeyChecking=yes",
        "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
        f"{server['username']}@{server['host']}",
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    wall = time.perf_counter() - start
    used = resource.getrusage(resource.RUSAGE_CHILDREN)  # sftp and the ssh it ran
    return {
        "upload_s": wall,
        "cpu_s": used.ru_utime + used.ru_stime,
        "rss_mb": used.ru_maxrss / 1024,
        "remote_path": remote,
        "size": local.stat().st_size,
    }


def run_child(*arguments: str) -> dict[str, Any]:
    return _report.run_child(__file__, *arguments)


# --- the run --------------------------------------------------------------------------------


def api_estimate(adds: int, add_bytes: int) -> dict[str, Any]:
    """The API road for ``adds`` new profiles: a new list's first sync under Klaviyo's limits,
    as ``herald campaign estimate`` plans it (``herald.core.estimate``)."""
    from herald.core.estimate import ListPlan, estimate, sftp_seconds
    from herald.destinations.klaviyo_api.configuration import KlaviyoDestinationSettings
    from herald.destinations.klaviyo_api.estimate import CSV_BYTES_PER_PROFILE
    from herald.destinations.klaviyo_api.limits import CAPS, limits_for

    poll = KlaviyoDestinationSettings.model_fields["poll_interval"].default
    plan = ListPlan("Bench_All", adds=adds, removes=0, add_bytes=add_bytes)
    found = estimate([plan], limits_for(), CAPS, poll_interval=poll)
    return {
        "seconds": found.seconds,
        "imports": found.calls.get("bulk_import_profiles", 0),
        # What `campaign estimate` shows beside it before any upload was measured.
        "sftp_default_s": sftp_seconds(adds * CSV_BYTES_PER_PROFILE),
    }


def same_bytes(path: Path, sha256: str) -> None:
    """The file on the server is the one sent, byte for byte."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    assert digest.hexdigest() == sha256, f"{path} differs from the file sent"


def one_round(number: int, folder: Path, records: Path, server: Any, keys: dict) -> dict:
    """Herald, then OpenSSH with the file Herald wrote; both checked on the server."""
    server.clear()
    work = folder / f"round-{number}"
    settings = server.settings(folder="/profiles", file_name=f"{CAMPAIGN}_{GROUP}_{number}")
    herald = run_child("--side", "herald", "--work", str(work), "--records", str(records),
                       "--settings", json.dumps(settings))  # fmt: skip
    same_bytes(server.path(herald["remote_path"]), herald["sha256"])
    remote = f"/profiles/openssh_{number}.csv"
    openssh = run_child("--side", "openssh", "--local", herald["local"], "--remote", remote,
                        "--settings", json.dumps(keys))  # fmt: skip
    same_bytes(server.path(remote), herald["sha256"])
    return {"herald": herald, "openssh": openssh}


def main() -> None:
    args = parse_args()
    if args.side:
        print(json.dumps(child(args)))
        return
    from sftp_server import KeyRing, OpenSshServer, unavailable

    if (reason := unavailable()) is not None:
        sys.exit(f"bench/sftp.py needs a local OpenSSH server: {reason}")
    database = args.database or demo_database(args.customers, AS_OF)
    found: dict[str, list[dict]] = {side: [] for side in SIDES}
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="herald-bench-")))
        records = folder / "records.parquet"
        # In a child: Linux carries a process's peak RSS over to the children it forks.
        rows = run_child("--side", "profiles", "--database", str(database), "--customers",
                         str(args.customers), "--records", str(records))["rows"]  # fmt: skip
        server = stack.enter_context(OpenSshServer(KeyRing.make(folder / "keys")))
        keys = _client(server, folder)
        for number in range(1, args.rounds + 1):
            done = one_round(number, folder, records, server, keys)
            for side in SIDES:  # interleaved, so a noisy moment hits both
                found[side].append(done[side])
            print(_progress(number, done), flush=True)
    api = api_estimate(rows, found["herald"][-1]["size"])
    body = report(args, rows, found, api)
    if not args.no_report:
        write_section("sftp", body)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "api": api, **found}, indent=1))
    print(body)


def _client(server: Any, folder: Path) -> dict[str, Any]:
    """What OpenSSH's sftp needs: the same ed25519 key and a known_hosts file pinning the
    server's host key."""
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(server.known_hosts_line())
    return {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "key": str(server.keys.clients["ed25519"]),
        "known_hosts": str(known_hosts),
    }


def _progress(number: int, done: dict) -> str:
    h, o = done["herald"], done["openssh"]
    return (
        f"round {number}: Herald write {h['write_s']:.2f} s + upload {h['upload_s']:.2f} s "
        f"({h['size'] / MB / h['upload_s']:.0f} MB/s); OpenSSH sftp {o['upload_s']:.2f} s "
        f"({o['size'] / MB / o['upload_s']:.0f} MB/s)"
    )


def child(args: argparse.Namespace) -> dict[str, Any]:
    if args.side == "profiles":
        return {"rows": write_profiles(args.database, args.customers, args.records)}
    settings = json.loads(args.settings)
    if args.side == "herald":
        return herald_side(args.work, args.records, settings)
    return openssh_side(args.local, args.remote, settings)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--database", type=Path, help="A demo database (default: generated into bench/.data/)."
    )
    parser.add_argument("--no-report", action="store_true", help="Do not write docs/benchmarks.md.")
    parser.add_argument("--json", type=Path, help="Also write every measure to this file.")
    parser.add_argument("--side", choices=(*SIDES, "profiles"), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--records", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--local", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--remote", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    return parser.parse_args()


# --- the report -----------------------------------------------------------------------------


def _stats(values: list[float]) -> tuple[float, float]:
    return min(values), statistics.median(values)


def report(args: argparse.Namespace, rows: int, found: dict, api: dict) -> str:
    herald, openssh = found["herald"], found["openssh"]
    size = herald[-1]["size"]
    command = "python bench/sftp.py" + "".join(
        f" --{name} {value}"
        for name, value, default in (
            ("customers", args.customers, 1_000_000),
            ("rounds", args.rounds, 3),
            ("database", args.database, None),
        )
        if value != default
    )
    lines = [
        f"## Klaviyo SFTP: a {rows:,}-profile CSV written and uploaded (`bench/sftp.py`)",
        "",
        f"Command: `{command}` · revision {git_revision()} · {dt.date.today()}",
        f"Machine: {machine()}; shared, so the sides alternate round by round.",
        f"Data: the demo database's first {rows:,} customers' `Email`, `PhoneNumber`, "
        f"`ExternalID` (a {size / MB:.1f} MB CSV with its header row). Server: OpenSSH's sshd "
        "on a loopback port, a chrooted SFTP-only account, ed25519 keys "
        "(`tests/sftp_server.py`); its CPU is in neither side's column. Herald: the "
        "`klaviyo_sftp` destination's `stage` (CSV written from the records' stream, with its "
        "SHA-256) then `deliver` (connect, host key verified, upload under a temporary name, "
        "size checked, renamed, recorded), in a fresh process each round. OpenSSH: "
        "`sftp -b` putting the file Herald wrote in that round (its own default cipher). "
        "Both uploads' times include connecting and logging in. "
        f"{args.rounds} rounds; every upload compared byte for byte on the server. OpenSSH's "
        "peak RSS is that of `sftp` and its `ssh` (at most: a forked child starts from its "
        "Python parent's). Herald's includes its imports (about 165 MB: PyArrow, DuckDB, "
        "paramiko) and this bench's reading of the records' Parquet file.",
        "",
        "| side | write, min / median | upload, min / median | upload MB/s, median "
        "| end to end, min / median | CPU, min / median | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [_herald_row(herald, size), _openssh_row(openssh, size)]
    lines += _verdicts(herald, openssh, size, api)
    return "\n".join(lines)


def _herald_row(herald: list[dict], size: int) -> str:
    write, upload, total = (
        _stats([r[k] for r in herald]) for k in ("write_s", "upload_s", "total_s")
    )
    cpu = _stats([r["cpu_s"] for r in herald])
    return (
        f"| Herald (`klaviyo_sftp`, paramiko) | {write[0]:.2f} / {write[1]:.2f} s "
        f"| {upload[0]:.2f} / {upload[1]:.2f} s | {size / MB / upload[1]:.0f} "
        f"| {total[0]:.2f} / {total[1]:.2f} s | {cpu[0]:.2f} / {cpu[1]:.2f} s "
        f"| {max(r['rss_mb'] for r in herald):.0f} MB |"
    )


def _openssh_row(openssh: list[dict], size: int) -> str:
    upload, cpu = _stats([r["upload_s"] for r in openssh]), _stats([r["cpu_s"] for r in openssh])
    return (
        f"| OpenSSH `sftp -b` | (Herald's file) | {upload[0]:.2f} / {upload[1]:.2f} s "
        f"| {size / MB / upload[1]:.0f} | – | {cpu[0]:.2f} / {cpu[1]:.2f} s "
        f"| {max(r['rss_mb'] for r in openssh):.0f} MB |"
    )


def _verdicts(herald: list[dict], openssh: list[dict], size: int, api: dict) -> list[str]:
    upload = statistics.median(r["upload_s"] for r in herald)
    ceiling = statistics.median(r["upload_s"] for r in openssh)
    total = statistics.median(r["total_s"] for r in herald)
    share = ceiling / upload  # MB/s over MB/s, the same file
    fast = share >= CEILING_SHARE and total <= TARGET_SECONDS
    return [
        "",
        f"- Herald's upload ÷ OpenSSH's (MB/s, medians): **{share:.2f}** "
        f"(target ≥ {CEILING_SHARE:.2f})",
        f"- End to end (written and uploaded), median ÷ {TARGET_SECONDS:.0f} s target: "
        f"**{total / TARGET_SECONDS:.2f}** ({total:.2f} s)",
        f"- The API road for the same {herald[-1]['rows']:,} profiles (a new list's first sync "
        f"under Klaviyo's rate limits, {api['imports']} bulk import jobs, as "
        f"`herald campaign estimate` plans it): **{api['seconds']:.1f} s**; API estimate ÷ "
        f"SFTP end to end: **{api['seconds'] / total:.1f}×**. Neither counts Klaviyo's own "
        "import work after the file or the jobs arrive.",
        f"- The SFTP estimate after the run (the measured throughput, kept by the destination): "
        f"{statistics.median(r['estimate_s'] for r in herald):.1f} s; before any upload "
        f"(`campaign estimate`'s default 5 MB/s and 30 s set-up): {api['sftp_default_s']:.0f} s.",
        "",
        f"Upload within half of OpenSSH's speed and within 15 s end to end: "
        f"**{'PASS' if fast else 'FAIL'}**",
    ]


if __name__ == "__main__":
    main()
