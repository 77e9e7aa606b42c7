"""``herald web``: serve the web app; ``herald web user add|remove`` and ``herald web users``
manage its named users."""

from __future__ import annotations

import ipaddress
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, cast

import click

from herald.alerts import check_notifications
from herald.cli._common import (
    console,
    given_workspace,
    print_table,
    with_workspace,
    workspace_option,
)
from herald.workspace import Workspace

if TYPE_CHECKING:
    from herald.config import Settings
    from herald.state.models import WebRole

ROLES = ("viewer", "editor")


@click.group("web", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--new-token", is_flag=True, help="Replace the sign-in token with a new one.")
@click.option(
    "--scheduler",
    "with_scheduler",
    is_flag=True,
    help="Also start scheduled campaigns' runs, as `herald scheduler` does (one machine).",
)
@workspace_option
@click.pass_context
def command(
    ctx: click.Context,
    host: str,
    port: int,
    new_token: bool,
    with_scheduler: bool,
    workspace_path: str | None,
) -> None:
    """Serve the web app: Segments, Campaigns, Runs and Destinations, behind a sign-in.

    Scheduled campaigns run when a scheduler serves the workspace: `herald scheduler` as a
    service, or `--scheduler` here to keep both in one process.

    Example:

        herald web --port 8000 --scheduler
    """
    if ctx.invoked_subcommand is not None:
        return
    from herald.web._auth import TOKEN_ENV, check_env_token, ensure_token

    check_env_token()
    with Workspace.open(given_workspace(workspace_path)) as ws:
        if not _loopback(host) and not (os.environ.get(TOKEN_ENV) or ws.store.web_users()):
            msg = (
                f"refusing to listen on {host} without a configured sign-in: set {TOKEN_ENV} "
                "or add a user with `herald web user add NAME --role editor` (or keep the "
                "default --host 127.0.0.1)"
            )
            raise click.ClickException(msg)
        if with_scheduler:
            check_notifications(ws.settings.notifications)  # as `herald scheduler` does
        token = ensure_token(ws.state_dir, renew=new_token)
        root, settings = ws.root, ws.settings
    if token:
        console.print(
            f"Sign-in token (shown once; `herald web --new-token` makes another): {token}",
            markup=False,
        )
    # uvicorn stops on SIGINT or SIGTERM, then raises the signal again for the handler it
    # found. With this one, that (or a signal before uvicorn listens) is a clean exit through
    # here, which stops the scheduler, rather than the process dying on the spot.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _exit_cleanly)
    stop_scheduler = _scheduler_beside(root) if with_scheduler else None
    try:
        _serve(root, settings, host, port)
    finally:
        if stop_scheduler is not None:
            stop_scheduler()


def _serve(root: Path, settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from herald.web import create_app

    app = create_app(root, settings=settings)
    shown = f"[{host}]" if ":" in host else host
    console.print(f"Herald web app on http://{shown}:{port}/ (Ctrl+C stops it)", markup=False)
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _scheduler_beside(root: Path) -> Callable[[], None]:
    """Serve the workspace's schedules in a thread beside the web app; returns what stops it
    (its runs are stopped as `herald scheduler` stops them, to be resumed at the next
    start)."""
    from herald.actor import SCHEDULER, acting_as
    from herald.runs.scheduler import Scheduler

    stop = threading.Event()

    def serve() -> None:
        with Workspace.open(root) as ws, acting_as(SCHEDULER):
            Scheduler(ws, ws.settings.scheduler).serve(stop)

    thread = threading.Thread(target=serve, name="herald-scheduler", daemon=True)
    thread.start()
    console.print("Scheduler started beside the web app.", markup=False)

    def halt() -> None:
        stop.set()
        thread.join(timeout=10)

    return halt


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@command.group("user")
def user() -> None:
    """Add or remove a named user of the web app.

    Example:

        herald web user add ana --role editor
    """


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_workspace
def add(ws: Workspace, name: str, role: str, password_stdin: bool) -> None:
    """Add a user (or set their password and role); viewers look, editors change things.

    Example:

        herald web user add ana --role editor
    """
    from herald.web._auth import hash_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        msg = "the password must have at least 8 characters"
        raise click.ClickException(msg)
    ws.store.save_web_user(name, hash_password(password), cast("WebRole", role))
    console.print(f"Web user {name} ({role}) saved.", markup=False)


@user.command("remove")
@click.argument("name")
@with_workspace
def remove(ws: Workspace, name: str) -> None:
    """Remove a user; their sessions end at their next request.

    Example:

        herald web user remove ana
    """
    ws.store.delete_web_user(name)
    console.print(f"Web user {name} removed.", markup=False)


@command.command("users")
@with_workspace
def users(ws: Workspace) -> None:
    """List the web app's named users and their roles (never their password hashes).

    Example:

        herald web users
    """
    print_table(
        None,
        ["name", "role", "created", "updated"],
        [(u.name, u.role, u.created_at, u.updated_at) for u in ws.store.web_users()],
    )
