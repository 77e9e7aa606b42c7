"""``herald init``."""

from __future__ import annotations

import click

from herald.cli._common import console, given_workspace
from herald.workspace import CONFIG_FILE, Workspace


@click.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--database", help="Path of the customer database, relative to DIRECTORY.")
def command(directory: str | None, database: str | None) -> None:
    """Create a workspace: herald.toml, .herald/ and the state database in DIRECTORY
    (default: `herald --workspace DIR`, else here).

    An existing herald.toml is left as it is; an existing state database is brought to the
    newest schema. Only init creates a state database.

    Example:

        herald init my-workspace --database data/customers.duckdb
    """
    with Workspace.init(directory or given_workspace() or ".", database=database) as ws:
        console.print(f"Workspace ready: {ws.root / CONFIG_FILE}")
