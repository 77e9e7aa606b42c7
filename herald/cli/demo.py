"""``herald demo``: the showcase of the main job, and ``herald demo generate``."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

import click

from herald.apply import apply_path
from herald.atomic import atomic_file
from herald.cli._campaign_schedule import print_schedule
from herald.cli._common import console, given_workspace, print_table, workspace_option
from herald.cli._demo_effect import show_effect, simulate_for
from herald.cli._demo_engine import (
    ENGINES,
    LAKE,
    MASTER,
    refresh_lake,
    require_engine,
    set_engine,
)
from herald.cli._demo_sftp import (
    SFTP_PORT,
    destination_name,
    restart_hint,
    send_both_roads,
    sftp_table,
    start_sftp_sandbox,
)
from herald.cli._progress import SyncProgress
from herald.cli._results import exit_if_failed, show_run
from herald.cli.segment import print_insights
from herald.core.results.query import parse_window
from herald.demo import churn
from herald.demo.effect import clear_effect
from herald.demo.examples import examples_dir
from herald.runs.pipeline import run_campaign
from herald.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxServer, persist
from herald.workspace import STATE_DIR, Workspace, find_root

DEFAULT_DIR = "herald-demo"
DATABASE = "data/customers.duckdb"
"""The demo database (Workspace's default: a Spark workspace, without [engine] database, finds
it there too)."""
SANDBOX_PORT = 8700
"""The demo's sandbox port: `herald sandbox klaviyo`'s default."""
SANDBOX_STATE = "sandbox/klaviyo.json"
"""The demo sandbox's account, under ``.herald/``."""
SANDBOX_KEY = "sandbox/klaviyo.key"
"""The sandbox's (public, well-known) API key, under ``.herald/``: no secret."""


@click.group("demo", invoke_without_command=True)
@click.option(
    "--dir",
    "directory",
    default=DEFAULT_DIR,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Workspace folder to create or reuse.",
)
@click.option(
    "--customers",
    default=100_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Customers in the demo database.",
)
@click.option("--seed", default=42, show_default=True, help="Seed of the demo data.")
@click.option("--fresh", is_flag=True, help="Regenerate the database even if it exists.")
@click.option(
    "--sandbox-port",
    default=SANDBOX_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the Klaviyo sandbox the workspace points at (0: any free port).",
)
@click.option(
    "--sftp-port",
    default=SFTP_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the SFTP sandbox the workspace's SFTP destination points at (0: any free port).",
)
@click.option(
    "--uplift",
    default=0.15,
    show_default=True,
    type=click.FloatRange(-0.9, 1),
    help="Relative uplift in conversion simulated for the campaign's treated recipients after "
    "its launch date, then measured beside it.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="duckdb",
    show_default=True,
    help="Engine the workspace runs on. spark: Spark in local mode (pip install "
    "'herald[spark]', Java 17+) over the demo database exported to Parquet in data/lake/.",
)
@click.pass_context
def command(
    ctx: click.Context,
    directory: str,
    customers: int,
    seed: int,
    fresh: bool,
    sandbox_port: int,
    sftp_port: int,
    uplift: float,
    engine: str,
) -> None:
    """Run the showcase: workspace, demo database, example segments and their insights.

    The workspace's Klaviyo destination is a sandbox whose account is kept in
    .herald/sandbox/klaviyo.json; its klaviyo_sftp destination is an SFTP sandbox (keys in
    .herald/sandbox/sftp/) that imports into it. The demo says how to start both again.
    At the end it simulates the campaign's effect after its launch date (--uplift) and shows
    the lift it measures beside the uplift simulated. With --engine spark the same showcase
    runs on Spark in local mode, over the demo database exported to Parquet (data/lake/).

    Examples:

        herald demo --dir herald-demo --customers 100000

        herald demo --engine spark --customers 10000
    """
    if ctx.invoked_subcommand is not None:
        return
    require_engine(engine)
    root = Workspace.init(directory, database=DATABASE).root
    set_engine(root, engine, DATABASE)
    state_file = root / STATE_DIR / SANDBOX_STATE
    with _start_sandbox(sandbox_port) as sandbox:
        # The lists the last demo (or `herald sandbox klaviyo --state`) left, as the
        # workspace's ledgers remember them. A file that cannot be loaded stops the demo here,
        # before anything could overwrite it.
        kept = persist.load(sandbox.state, state_file)
        try:
            with start_sftp_sandbox(root, sftp_port, sandbox) as sftp:
                _point_klaviyo_at(root, sandbox.url)
                _set_destination(root, sftp_table(root, sftp))
                campaigns = _showcase(root, sandbox, customers, seed, fresh, forget_lists=not kept)
                send_both_roads(root, sandbox, sftp)
                _show_lists(sandbox)
        finally:
            persist.save(sandbox.state, state_file)
    for name in campaigns:
        show_effect(root, name, uplift=uplift, seed=seed, step="9.")
    _print_next_steps(directory, sandbox.port, restart_hint(root, sftp, sandbox.port))


def _showcase(
    root: Path,
    sandbox: SandboxServer,
    customers: int,
    seed: int,
    fresh: bool,
    *,
    forget_lists: bool,
) -> list[str]:
    """Steps 1 to 7; the example campaigns' names."""
    with Workspace.open(root) as ws:
        console.print(f"[bold]1.[/] Workspace: {ws.root}", markup=True)
        _ensure_database(ws, customers, seed, fresh)
        campaigns = _apply_examples(ws, forget_lists=forget_lists)
        database = ws.database_path
    for name in campaigns:
        with Workspace.open(root) as ws:
            console.print(
                f"[bold]5.[/] Running '{name}' to the CSV destination and to Klaviyo "
                f"(an in-process Klaviyo sandbox at {sandbox.url}, Klaviyo's rate limits)",
                markup=True,
            )
            _run(ws, name)
            _show_lists(sandbox)
        churned = churn.churn_customers(database, share=0.02, seed=seed)
        console.print(
            f"[bold]6.[/] {churned.became_employees:,} customers became employees (excluded by "
            f"'Do Not Contact') and {churned.left_company:,} left the company; running again "
            "syncs only the difference",
            markup=True,
        )
        with Workspace.open(root) as ws:
            refresh_lake(ws, [churn.TABLE])
            _run(ws, name)
            _show_lists(sandbox)
            _schedule(ws, name)
    return campaigns


def _schedule(ws: Workspace, name: str) -> None:
    """Schedule the campaign (recurring daily) and show its next runs."""
    scheduled = ws.campaigns.schedule(name)
    delivery = scheduled.campaign.delivery
    console.print(
        f"[bold]7.[/] Scheduled '{name}' ({delivery.mode} {delivery.cadence or ''}, "
        f"{delivery.timezone}); `herald scheduler` runs it unattended",
        markup=True,
    )
    print_schedule(scheduled)


def _unschedule_examples(ws: Workspace) -> None:
    """A demo run again may bring a changed example campaign: its schedule must not stop it
    from being applied (it is scheduled again at the end)."""
    for summary in ws.store.list("campaign"):
        if ws.store.settle_campaign(summary.name).status == "scheduled":
            ws.campaigns.unschedule(summary.name)


@contextmanager
def _start_sandbox(port: int) -> Iterator[SandboxServer]:
    """The demo's Klaviyo sandbox, on ``port`` when it is free, else on any free port."""
    config = SandboxConfig(limits="klaviyo")
    try:
        server = SandboxServer(config, port=port).start()
    except OSError:
        server = SandboxServer(config).start()
        console.print(
            f"Port {port} is taken, so the demo's Klaviyo sandbox uses port {server.port}. "
            "(If it is a `herald sandbox klaviyo --state` of this workspace, stop it: it would "
            "write its own account over the demo's when it stops.)"
        )
    try:
        yield server
    finally:
        server.stop()


def _print_next_steps(directory: str, port: int, sftp_hint: str) -> None:
    state = f"{STATE_DIR}/{SANDBOX_STATE}"
    console.print(
        f"\nNext: [bold]cd {directory}[/] and try `herald segment list`, "
        '`herald campaign estimate "Spring Reactivation"`, '
        '`herald campaign recipients "Spring Reactivation"`, `herald runs list`, or '
        "`herald scheduler` to run the scheduled campaign at its next slot, or "
        "`herald web` to open the workspace in the browser (it prints a sign-in token).\n"
        "Klaviyo in this workspace is a local sandbox holding the demo's lists. Start it in "
        f"another terminal with [bold]herald sandbox klaviyo --port {port} --state {state}[/] "
        "(in the same folder), then "
        '`herald destination check klaviyo` and `herald campaign run "Spring Reactivation"` '
        f"work as against Klaviyo. {sftp_hint}",
        markup=True,
    )


def _apply_examples(ws: Workspace, *, forget_lists: bool) -> list[str]:
    """Apply the examples, show the segments' insights, and return the campaigns' names."""
    console.print("[bold]3.[/] Applying the example segments and campaign", markup=True)
    _unschedule_examples(ws)
    applied = apply_path(ws, examples_dir())
    print_table(
        None,
        ["kind", "name", "version", "action"],
        [(a.kind, a.name, a.version, a.action) for a in applied],
    )
    console.print("[bold]4.[/] Segment insights", markup=True)
    segments = [a for a in applied if a.kind == "segment"]
    print_insights([(a.name, ws.segments.insights(a.name, "active")) for a in segments])
    campaigns = [a.name for a in applied if a.kind == "campaign"]
    if forget_lists:
        _forget_lists(ws, campaigns)
    return campaigns


def _point_klaviyo_at(root: Path, url: str) -> None:
    """Point the demo workspace's Klaviyo destination at the sandbox (whose key is no secret)."""
    key = root / STATE_DIR / SANDBOX_KEY
    with atomic_file(key) as out:
        out.write(f"{DEFAULT_API_KEY}\n")
    template = files("herald.demo").joinpath("sandbox_destination.toml").read_text("utf-8")
    _set_destination(root, template.format(key=key, url=url, port=url.rsplit(":", 1)[1]))


def _set_destination(root: Path, table: str) -> None:
    """Put ``table`` (``[destinations.NAME]``) in herald.toml in place of the table of the
    same name, or append it."""
    config = root / "herald.toml"
    name = re.escape(destination_name(table))
    existing = re.compile(rf"^\[destinations\.{name}\]\n(?:(?!\[).*\n?)*", re.MULTILINE)
    text = config.read_text(encoding="utf-8")
    if existing.search(text):
        text = existing.sub(lambda _: table, text, count=1)
    else:
        text = f"{text.rstrip()}\n\n{table}"
    with atomic_file(config) as out:
        out.write(text)


def _forget_lists(ws: Workspace, campaigns: list[str]) -> None:
    """A new sandbox starts empty: forget the lists (and ledgers) of the previous one."""
    for name in campaigns:
        for item in ws.campaigns.build(name).resolved:
            ws.destination(item.destination).forget(item.output_name)


def _run(ws: Workspace, name: str) -> None:
    with SyncProgress() as progress:
        result = run_campaign(ws, name, progress=progress)
    show_run(result)
    exit_if_failed(result)  # a demo whose delivery failed must not look like a success


def _show_lists(sandbox: SandboxServer) -> None:
    rows = [(k.name, k.id, len(sandbox.state.list_members(k.id))) for k in sandbox.state.lists()]
    print_table("Lists in the Klaviyo sandbox", ["list", "id", "members"], rows)


def _ensure_database(ws: Workspace, customers: int, seed: int, fresh: bool) -> None:
    from herald.demo.generate import generate_demo_database

    path = ws.database_path
    if path.exists() and not fresh:
        # Simulated orders (`demo generate --effect-campaign`) lie after a launch: the
        # segments of the demo's runs must not see them.
        clear_effect(path)
        console.print(
            f"[bold]2.[/] Demo database: {path} (exists; --fresh regenerates it)", markup=True
        )
        _export_lake(ws)
        return
    console.print(f"[bold]2.[/] Generating {customers:,} customers into {path}", markup=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with console.status("generating…") as status:
        summary = generate_demo_database(
            path,
            customers=customers,
            seed=seed,
            overwrite=fresh,
            progress=lambda m: status.update(m),
        )
    rows = ", ".join(f"{table} {count:,}" for table, count in summary.rows.items())
    console.print(f"   {rows} ({summary.seconds:.1f} s)")
    _export_lake(ws)


def _export_lake(ws: Workspace) -> None:
    """The demo database exported into the lake a Spark workspace reads (all of it: the file
    may have changed since, by another command)."""
    started = time.monotonic()
    if refresh_lake(ws):
        console.print(
            f"   exported to Parquet in {ws.resolve(LAKE)}/ for Spark "
            f"({ws.settings.engine.master or MASTER}, {time.monotonic() - started:.1f} s)"
        )


@command.command("generate")
@click.option(
    "--customers",
    default=100_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of customers.",
)
@click.option("--seed", default=42, show_default=True, help="Same seed, same data.")
@click.option(
    "-o",
    "--output",
    default=DATABASE,
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Database file to write.",
)
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The data's 'today' (default: today, UTC).",
)
@click.option(
    "--orders-per-customer", default=10.0, show_default=True, help="Average orders per customer."
)
@click.option("--no-items", is_flag=True, help="Skip Unified_Itemized_Transactions.")
@click.option("--force", is_flag=True, help="Replace the file if it exists.")
@click.option(
    "--effect-campaign",
    metavar="NAME",
    help="Generate nothing: add to the workspace's database a simulated effect of this "
    "campaign after its launch date (its delivered runs' recipients).",
)
@click.option(
    "--uplift",
    default=0.15,
    show_default=True,
    type=click.FloatRange(-0.9, 1),
    help="With --effect-campaign: relative uplift in conversion of the treated recipients.",
)
@click.option(
    "--effect-window",
    default="30d",
    show_default=True,
    help="With --effect-campaign: the days after the launch date in which recipients buy.",
)
@workspace_option
def generate(
    customers: int,
    seed: int,
    output: str,
    as_of: dt.datetime | None,
    orders_per_customer: float,
    no_items: bool,
    force: bool,
    effect_campaign: str | None,
    uplift: float,
    effect_window: str,
    workspace_path: str | None,
) -> None:
    """Write a demo customer 360 database (DuckDB) with the six standard tables, or (with
    --effect-campaign) simulate a campaign's effect in the workspace's demo database.

    The simulated effect: each recipient of the campaign's delivered runs may buy once in
    the window after the launch date, with a chance from their purchase history, times
    1 + uplift in a treatment group; `herald campaign results NAME --as-of END` measures it.
    Simulated orders (ids SIM-…) replace the previous simulation's; segments see them too
    (`herald demo` removes them).

    Examples:

        herald demo generate --customers 1000000 --seed 7 -o big.duckdb

        herald demo generate --effect-campaign "Spring Reactivation" --uplift 0.1
    """
    if effect_campaign is not None:
        _simulate(effect_campaign, uplift, parse_window(effect_window), seed, workspace_path)
        return
    from herald.demo.generate import generate_demo_database

    Path(output).parent.mkdir(parents=True, exist_ok=True)
    with console.status("generating…") as status:
        summary = generate_demo_database(
            output,
            customers=customers,
            seed=seed,
            as_of=as_of.date() if as_of else None,
            orders_per_customer=orders_per_customer,
            items=not no_items,
            overwrite=force,
            progress=lambda m: status.update(m),
        )
    print_table(
        f"{summary.path} ({summary.seconds:.1f} s, seed {seed}, as of {summary.as_of})",
        ["table", "rows"],
        list(summary.rows.items()),
    )


def _simulate(name: str, uplift: float, days: int, seed: int, workspace_path: str | None) -> None:
    root = find_root(given_workspace(workspace_path))
    effect = simulate_for(root, name, uplift=uplift, seed=seed, window_days=days)
    print_table(
        f"Simulated effect of '{name}' (seed {seed})",
        ["uplift", "window", "recipients", "treated", "orders added"],
        [(f"{uplift:+.0%}", f"{effect.start:%Y-%m-%d} → {effect.end:%Y-%m-%d}",
          effect.recipients, effect.treated, effect.orders)],
    )  # fmt: skip
    console.print(
        f'Measure it with: herald campaign results "{name}" --window {days}d '
        f"--as-of {effect.end:%Y-%m-%d}"
    )
