"""``herald results …``: campaign recipients for SQL users (Amperity's Campaign_Recipients)."""

from __future__ import annotations

from pathlib import Path

import click

from herald.cli._common import console, with_workspace
from herald.workspace import Workspace


@click.group("results")
def command() -> None:
    """Export who received which campaign, for measuring results in SQL.

    Example:

        herald results export --parquet campaign_recipients.parquet
    """


@command.command("export")
@click.option("--campaign", help="Only this campaign's runs (default: every campaign).")
@click.option("--parquet", "parquet", type=click.Path(dir_okay=False), help="Write a Parquet file.")
@click.option(
    "--duckdb",
    "duckdb_path",
    type=click.Path(dir_okay=False),
    help="Write a DuckDB file of its own (replaced) with the table Campaign_Recipients.",
)
@with_workspace
def export(
    ws: Workspace, campaign: str | None, parquet: str | None, duckdb_path: str | None
) -> None:
    """Write Campaign_Recipients: a row per recipient and destination of every delivered run
    (campaign_name, run_id, sub_audience_name, treatment_name, is_control, destination_name,
    delivery_datetime, launch_date, customer key); a control recipient has no destination.

    Example:

        herald results export --campaign "Spring Reactivation" --duckdb results.duckdb
    """
    from herald.runs.results import export_recipients

    if (parquet is None) == (duckdb_path is None):
        msg = "give one of --parquet FILE or --duckdb FILE"
        raise click.UsageError(msg)
    target = Path(parquet or duckdb_path or "")
    rows = export_recipients(
        ws, target, campaign=campaign, format="parquet" if parquet else "duckdb"
    )
    where = target if parquet else f"{target} (table Campaign_Recipients)"
    console.print(f"Wrote {rows:,} recipients rows to {where}", markup=False)
