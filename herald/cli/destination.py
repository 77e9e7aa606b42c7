"""``herald destination …``: list destinations and check their credentials."""

from __future__ import annotations

import asyncio

import click
from rich.markup import escape

from herald.cli._common import console, json_option, print_json, print_table, with_workspace
from herald.destinations.base import CheckResult
from herald.workspace import Workspace


@click.group("destination")
def command() -> None:
    """Where campaign groups are delivered: list them, check their keys.

    Example:

        herald destination check klaviyo
    """


@command.command("list")
@json_option
@with_workspace
def list_(ws: Workspace, as_json: bool) -> None:
    """List the destinations of herald.toml: name, type, where they deliver (never keys).

    Example:

        herald destination list
    """
    rows = [ws.destination(name).describe() for name in ws.settings.destinations]
    if as_json:
        print_json(rows)
        return
    print_table(None, ["name", "type", "target", "key from"], [tuple(r.values()) for r in rows])


@command.command("check")
@click.argument("name")
@json_option
@with_workspace
def check(ws: Workspace, name: str, as_json: bool) -> None:
    """Check that a destination can be delivered to: for Klaviyo, that its API key works and
    has the scopes Herald needs; for a folder, that it may be written; for an SFTP server,
    that its host key is the trusted one, the account logs in and may write in the folder.

    Nothing is written there. Exits with status 1 when the check fails.

    Example:

        herald destination check klaviyo
    """
    result = asyncio.run(ws.destination(name).check())
    if as_json:
        found = {"destination": name, "target": result.target, "ok": result.ok}
        print_json({**found, "detail": result.detail, "advice": result.advice, **result.data})
    else:
        _print_check(name, result)
    if not result.ok:
        raise click.exceptions.Exit(1)


def _print_check(name: str, result: CheckResult) -> None:
    where = f"{name} ({result.target})"
    if result.ok:
        console.print(f"[green]✓[/] {where}: {escape(result.detail)}.", markup=True)
        return
    advice = f"\n  Fix: {escape(result.advice)}." if result.advice else ""
    console.print(f"[red]✗[/] {where}: {escape(result.detail)}.{advice}", markup=True)
