"""``herald apply``."""

from __future__ import annotations

import click

from herald.apply import apply_path
from herald.cli._common import json_option, print_json, print_table, with_workspace
from herald.workspace import Workspace


@click.command("apply")
@click.option(
    "-f",
    "--file",
    "path",
    required=True,
    type=click.Path(),
    help="A definition file or a folder of them.",
)
@json_option
@with_workspace
def command(ws: Workspace, path: str, as_json: bool) -> None:
    """Make the stored definitions equal to the files (idempotent).

    Everything is checked before anything is written, and written in one transaction.

    Example:

        herald apply -f examples/segments
    """
    results = apply_path(ws, path)
    if as_json:
        print_json(results)
        return
    print_table(
        None,
        ["kind", "name", "version", "action", "file"],
        [(r.kind, r.name, r.version, r.action, r.source) for r in results],
    )
