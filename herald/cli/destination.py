"""``herald destination …``: list destinations and check their credentials."""

from __future__ import annotations

import asyncio
import difflib
from typing import Any

import click

from herald.cli._common import console, json_option, print_json, print_table, with_workspace
from herald.config import DestinationSettings
from herald.destinations.klaviyo_api.api import ScopeCheck
from herald.destinations.klaviyo_api.configuration import (
    DESTINATION_TYPE,
    KlaviyoSettings,
    key_source,
)
from herald.exceptions import ConfigError, NotFoundError
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
    rows = [_row(name, dest) for name, dest in ws.settings.destinations.items()]
    if as_json:
        print_json(rows)
        return
    print_table(None, ["name", "type", "target", "key from"], [tuple(r.values()) for r in rows])


def _row(name: str, dest: DestinationSettings) -> dict[str, Any]:
    if dest.type == DESTINATION_TYPE:
        url = KlaviyoSettings.from_destination(name, dest, load_key=False).base_url
        return {"name": name, "type": dest.type, "target": url, "key_from": key_source(dest)}
    folder = getattr(dest, "folder", None)
    target = None if folder is None else str(folder)
    return {"name": name, "type": dest.type, "target": target, "key_from": None}


@command.command("check")
@click.argument("name")
@json_option
@with_workspace
def check(ws: Workspace, name: str, as_json: bool) -> None:
    """Check that a Klaviyo destination's API key works and has the scopes Herald needs.

    Nothing is written to Klaviyo. Exits with status 1 when the key is invalid or lacks a
    scope.

    Example:

        herald destination check klaviyo
    """
    settings = KlaviyoSettings.from_destination(name, _destination(ws, name))
    result = asyncio.run(_check(settings))
    ok = result.key_valid and not result.missing
    if as_json:
        print_json(
            {"destination": name, "base_url": settings.base_url, "ok": ok, **_jsonable(result)}
        )
    else:
        _print_check(name, settings, result)
    if not ok:
        raise click.exceptions.Exit(1)


async def _check(settings: KlaviyoSettings) -> ScopeCheck:
    from herald.destinations.klaviyo_api.client import KlaviyoClient

    async with KlaviyoClient(settings) as client:
        return await client.check_scopes()


def _destination(ws: Workspace, name: str) -> DestinationSettings:
    destinations = ws.settings.destinations
    if name not in destinations:
        close = difflib.get_close_matches(name, list(destinations), n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        known = ", ".join(sorted(destinations)) or "none"
        msg = f"no destination '{name}' in herald.toml (known: {known}).{hint}"
        raise NotFoundError(msg)
    dest = destinations[name]
    if dest.type != DESTINATION_TYPE:
        msg = (
            f"destination '{name}' has type '{dest.type}'; "
            f"`destination check` checks {DESTINATION_TYPE} destinations"
        )
        raise ConfigError(msg)
    return dest


def _jsonable(result: ScopeCheck) -> dict[str, Any]:
    return {"key_valid": result.key_valid, "missing": list(result.missing), "detail": result.detail}


def _print_check(name: str, settings: KlaviyoSettings, result: ScopeCheck) -> None:
    where = f"{name} ({settings.base_url})"
    if not result.key_valid:
        console.print(f"[red]✗[/] {where}: {result.detail}.", markup=True)
    elif result.missing:
        console.print(
            f"[red]✗[/] {where}: the key works but lacks {', '.join(result.missing)}.\n"
            "  Fix: create a private key with lists:write and profiles:write "
            "(Klaviyo: Settings → API keys → Create Private API Key) and put it in the "
            "destination's api_key_env or api_key_file.",
            markup=True,
        )
    else:
        console.print(f"[green]✓[/] {where}: {result.detail}.", markup=True)
