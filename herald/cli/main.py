"""The ``herald`` command: a thin layer over the library."""

from __future__ import annotations

import sys
import traceback
from types import TracebackType
from typing import Any

import click
from rich.markup import escape

from herald import __version__
from herald.cli._common import WORKSPACE_META, err_console, workspace_option
from herald.exceptions import HeraldError
from herald.redact import install_log_redaction, redact


class HeraldGroup(click.Group):
    """Turns library errors into one clear line and a non-zero exit, unless --debug.

    Everything the command line shows of an error goes through ``herald.redact``: the
    one-line message, a traceback under --debug, and every log record.
    """

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


def _register() -> None:
    from herald.cli import apply, campaign, demo, destination, init, runs, segment
    from herald.cli.sandbox import sandbox

    for module in (init, demo, apply, segment, campaign, destination, runs):
        main.add_command(module.command)
    main.add_command(sandbox)


_register()
