"""``herald init``."""

from __future__ import annotations

import click

from herald.cli._common import console
from herald.workspace import CONFIG_FILE, Workspace


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--database", help="Path of the customer database, relative to DIRECTORY.")
def command(directory: str, database: str | None) -> None:
    """Create a workspace: herald.toml and .herald/ in DIRECTORY (default: here).

    An existing herald.toml is left as it is.

    Example:

        herald init my-workspace --database data/customers.duckdb
    """
    with Workspace.init(directory, database=database) as ws:
        console.print(f"Workspace ready: {ws.root / CONFIG_FILE}")
