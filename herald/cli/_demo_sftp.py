"""The demo's second road to Klaviyo: one group sent by the API and, as a CSV, through an
in-process SFTP sandbox that imports it into the demo's Klaviyo sandbox; both timed.

The SFTP sandbox keeps its host key and the client key it accepts in
``.herald/sandbox/sftp/`` (the folder `herald sandbox sftp` serves by default), so the
workspace's ``klaviyo_sftp`` destination still works when it is started again there.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from herald.apply import apply_path
from herald.cli._common import console, err_console, print_table
from herald.cli._progress import SyncProgress
from herald.cli._results import exit_if_failed, show_run
from herald.cli._sandbox_sftp import CLIENT_KEY, destination_table
from herald.cli.sandbox import sftp as serve_sftp
from herald.demo.examples import both_roads_campaign
from herald.destinations.base import Progress, SyncEvent
from herald.runs.groups import RunResult
from herald.runs.pipeline import run_campaign
from herald.sandbox import SandboxServer
from herald.sandbox.sftp import ImportResult, KlaviyoTarget, SftpSandbox, ensure_key
from herald.workspace import STATE_DIR, Workspace

SFTP_PORT = 8722
"""The demo's SFTP sandbox port: `herald sandbox sftp`'s default."""
SFTP_FOLDER = "sandbox/sftp"
"""The SFTP sandbox's folder under ``.herald/``: host key, client key, and root/."""
API = "klaviyo"
"""The demo workspace's destination of the API road (the SFTP road's is named by the
herald.toml table `herald sandbox sftp` prints: :func:`destination_name`)."""
IMPORT_LIST = "SFTP import (herald demo)"
"""The Klaviyo sandbox list the SFTP sandbox adds every imported profile to."""
IMPORT_TIMEOUT = 600.0


@contextmanager
def start_sftp_sandbox(root: Path, port: int, klaviyo: SandboxServer) -> Iterator[SftpSandbox]:
    """The demo's SFTP sandbox, on ``port`` when it is free, else on any free port; it
    imports into ``klaviyo``'s list ``IMPORT_LIST`` (created when missing)."""
    folder = root / STATE_DIR / SFTP_FOLDER
    keys = [ensure_key(folder / CLIENT_KEY)]
    target = KlaviyoTarget(klaviyo.url, list_id=_import_list(klaviyo))
    try:
        server = SftpSandbox(folder, authorized_keys=keys, klaviyo=target, port=port).start()
    except OSError:
        server = SftpSandbox(folder, authorized_keys=keys, klaviyo=target).start()
        console.print(f"Port {port} is taken, so the demo's SFTP sandbox uses port {server.port}.")
    try:
        yield server
    finally:
        server.stop()


def _import_list(klaviyo: SandboxServer) -> str:
    """The id of the list SFTP imports go to: the one a previous demo made, or a new one."""
    found = [k.id for k in klaviyo.state.lists() if k.name == IMPORT_LIST]
    return found[0] if found else klaviyo.state.create_list(IMPORT_LIST, "single_opt_in").id


def sftp_table(root: Path, server: SftpSandbox) -> str:
    """The herald.toml table of the workspace's destination that uploads to ``server``."""
    key = root / STATE_DIR / SFTP_FOLDER / CLIENT_KEY
    return destination_table(server, f'"{key}"')


def destination_name(table: str) -> str:
    """The NAME of a herald.toml table ``[destinations.NAME]``."""
    found = re.search(r"^\[destinations\.([^\]]+)\]", table, re.MULTILINE)
    if found is None:
        msg = f"not a destination table: {table[:40]!r}"
        raise ValueError(msg)
    return found.group(1)


def restart_hint(root: Path, server: SftpSandbox, klaviyo_port: int) -> str:
    """How to serve the demo's SFTP sandbox again, from the workspace folder (Rich markup)."""
    command = (
        f"herald sandbox {serve_sftp.name} --port {server.port} "
        f"--folder {STATE_DIR}/{SFTP_FOLDER} --klaviyo-url http://127.0.0.1:{klaviyo_port} "
        f"--list-id {_list_id(server)}"
    )
    name = destination_name(sftp_table(root, server))
    return (
        f"The SFTP sandbox that imports into it starts with [bold]{command}[/] "
        f"(then `herald destination check {name}`)."
    )


def _list_id(server: SftpSandbox) -> str | None:
    target = server.importer.target
    return target.list_id if target is not None else None


@dataclass
class _Timed:
    """Passes sync events on, noting how long each destination's delivery took."""

    progress: Progress
    started: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def __call__(self, event: SyncEvent) -> None:
        now = time.monotonic()
        if event.kind == "started":
            self.started.setdefault(event.destination, now)
        elif event.kind == "done" and event.destination in self.started:
            self.seconds[event.destination] = now - self.started[event.destination]
        self.progress(event)


def send_both_roads(root: Path, klaviyo: SandboxServer, sftp: SftpSandbox) -> None:
    """Apply the campaign whose group goes to both roads, run it, and time each road."""
    road = destination_name(sftp_table(root, sftp))
    with Workspace.open(root) as ws:
        [applied] = apply_path(ws, both_roads_campaign())
        console.print(
            f"[bold]8.[/] Sending '{applied.name}' to Klaviyo by both roads: the API, and a "
            f"CSV over SFTP (an in-process SFTP sandbox on port {sftp.port} that imports into "
            "the Klaviyo sandbox)",
            markup=True,
        )
        _fresh_api_lists(ws, klaviyo, applied.name)
        done = len(sftp.results)
        with SyncProgress() as progress:
            timed = _Timed(progress)
            result = run_campaign(ws, applied.name, progress=timed)
        show_run(result)
        exit_if_failed(result)
    imported = sftp.wait(IMPORT_TIMEOUT)[done:]
    _print_times(result, timed.seconds.get(API, 0.0), timed.seconds.get(road, 0.0), imported)


def _fresh_api_lists(ws: Workspace, klaviyo: SandboxServer, name: str) -> None:
    """Each demo sends the whole group by both roads: the API road's list from the last demo
    is deleted (and forgotten), so the API sends every profile again, as SFTP does."""
    api = ws.destination(API)
    present = {k.id for k in klaviyo.state.lists()}
    for item in ws.campaigns.build(name).resolved:
        if item.destination != API:
            continue
        list_id = ws.store.list_id(API, item.output_name)
        if list_id in present:
            klaviyo.state.delete_list(list_id)
        api.forget(item.output_name)


def _print_times(
    result: RunResult, api: float, upload: float, imported: list[ImportResult]
) -> None:
    """One row per group: what each road sent and how long it took, measured."""
    importing = sum(r.seconds for r in imported)
    rows = [
        (
            d.group,
            d.records,
            f"{api:.1f} s",
            sum(r.imported for r in imported),
            f"{upload + importing:.1f} s (upload {upload:.1f} + import {importing:.1f})",
        )
        for d in result.deliveries
        if d.destination == API
    ]
    print_table(
        "Both roads to Klaviyo, measured",
        ["group", "API profiles", "API time", "SFTP profiles", "SFTP time"],
        rows,
    )
    failed = [r.summary() for r in imported if r.status != "imported" or r.rejected]
    if failed or not imported:
        # A demo whose import failed must not look like a success.
        problem = "; ".join(failed) or "no uploaded file was imported"
        err_console.print(f"[bold red]Error:[/] SFTP import: {problem}", markup=True)
        sys.exit(1)
