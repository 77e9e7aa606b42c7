"""The ``herald`` command: a thin layer over the library.

Each subcommand's module is imported when that subcommand runs, so that ``herald --help``
loads no engine, state store or vendor client, and a command only what it uses.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from types import TracebackType
from typing import Any, NamedTuple

import click
from rich.markup import escape

from herald._version import __version__
from herald.cli._common import WORKSPACE_META, err_console, workspace_option
from herald.exceptions import HeraldError
from herald.redact import install_log_redaction, redact


class Subcommand(NamedTuple):
    target: str
    """``module:attribute`` of the click command."""
    summary: str
    """The first paragraph of its help, which ``herald --help`` lists without importing it
    (tests/cli/test_main.py checks that the two agree)."""


SUBCOMMANDS = {
    "apply": Subcommand(
        "herald.cli.apply:command",
        "Make the stored definitions equal to the files (idempotent).",
    ),
    "campaign": Subcommand(
        "herald.cli.campaign:command",
        "Compose campaigns from segments and send their recipient groups.",
    ),
    "demo": Subcommand(
        "herald.cli.demo:command",
        "Run the showcase: workspace, demo database, example segments and their insights.",
    ),
    "destination": Subcommand(
        "herald.cli.destination:command",
        "Where campaign groups are delivered: list them, check their keys.",
    ),
    "init": Subcommand(
        "herald.cli.init:command",
        "Create a workspace: herald.toml, .herald/ and the state database in DIRECTORY "
        "(default: `herald --workspace DIR`, else here).",
    ),
    "results": Subcommand(
        "herald.cli.results:command",
        "Export who received which campaign, for measuring results in SQL.",
    ),
    "runs": Subcommand(
        "herald.cli.runs:command",
        "Inspect campaign runs, resume interrupted ones, export per-profile outcomes.",
    ),
    "sandbox": Subcommand(
        "herald.cli.sandbox:sandbox",
        "Local stand-ins for the services Herald delivers to.",
    ),
    "scheduler": Subcommand(
        "herald.cli.scheduler:command",
        "Start the runs of scheduled campaigns when they are due, until stopped.",
    ),
    "segment": Subcommand("herald.cli.segment:command", "Build, version and inspect segments."),
    "web": Subcommand(
        "herald.cli.web:command",
        "Serve the web app: Segments, Campaigns, Runs and Destinations, behind a sign-in.",
    ),
}


def load_command(name: str) -> click.Command:
    """Import the subcommand ``name`` (one of :data:`SUBCOMMANDS`)."""
    module, attribute = SUBCOMMANDS[name].target.split(":")
    command: click.Command = getattr(importlib.import_module(module), attribute)
    return command


class HeraldGroup(click.Group):
    """Turns library errors into one clear line and a non-zero exit, unless --debug.

    Everything the command line shows of an error goes through ``herald.redact``: the
    one-line message, a traceback under --debug, and every log record.

    The subcommands are imported when one is resolved (:data:`SUBCOMMANDS`).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*SUBCOMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in SUBCOMMANDS and cmd_name not in self.commands:
            self.add_command(load_command(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in SUBCOMMANDS:
            # click suggests a close name among the commands loaded: an unknown (or
            # mistyped) one loads them all first, so "Did you mean 'segment'?" still shows.
            for name in SUBCOMMANDS:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the subcommands from their summaries, importing none of them."""
        listed = click.Group(
            commands=[click.Command(name, help=s.summary) for name, s in SUBCOMMANDS.items()]
        )
        listed.format_commands(ctx, formatter)

    def invoke(self, ctx: click.Context) -> Any:
        install_log_redaction()
        sys.excepthook = _redacted_traceback
        try:
            return super().invoke(ctx)
        except HeraldError as error:
            if ctx.meta.get("herald.debug"):
                raise
            err_console.print(
                f"[bold red]Error:[/] {escape(redact(str(error)))}", markup=True, highlight=False
            )
            sys.exit(1)
        except KeyboardInterrupt:
            err_console.print("Interrupted.")
            sys.exit(130)


@click.group(cls=HeraldGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="herald")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@workspace_option
@click.pass_context
def main(ctx: click.Context, debug: bool, workspace_path: str | None) -> None:
    """Herald: segments over your customer 360 database, campaigns, and delivery to Klaviyo.

    Example:

        herald demo
    """
    ctx.meta["herald.debug"] = debug
    # The default of every subcommand's own --workspace (see with_workspace).
    ctx.meta[WORKSPACE_META] = workspace_path


def _redacted_traceback(
    kind: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    """Print an uncaught exception's traceback (--debug, or a bug) redacted."""
    sys.stderr.write(redact("".join(traceback.format_exception(kind, error, tb))))
