"""Shared CLI plumbing: the workspace option, output options, error translation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import functools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from herald.workspace import Workspace

if TYPE_CHECKING:
    import pyarrow as pa

F = TypeVar("F", bound=Callable[..., Any])

console = Console(highlight=False)
if not console.is_terminal:
    # Piped output and logs get whole lines instead of an 80-column wrap.
    console = Console(highlight=False, width=200)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def workspace_option(func: F) -> F:
    """``--workspace DIR``; without it, HERALD_WORKSPACE or the current folder upwards."""
    return click.option(
        "--workspace",
        "-w",
        "workspace_path",
        type=click.Path(file_okay=False, path_type=str),
        default=None,
        help="Workspace folder (default: $HERALD_WORKSPACE, else the current folder or a parent).",
    )(func)


def as_of_option(func: F) -> F:
    """``--as-of DATE``: the day relative dates (``30 days ago``) resolve against."""
    return click.option(
        "--as-of",
        "as_of",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        default=None,
        help="Resolve relative dates as if today were DATE (YYYY-MM-DD; default: today, UTC).",
    )(func)


def as_date(value: dt.datetime | None) -> dt.date | None:
    """The date of an ``--as-of`` value."""
    return None if value is None else value.date()


def json_option(func: F) -> F:
    """``--json``: machine-readable output instead of tables."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        func
    )


WORKSPACE_META = "herald.workspace"
"""Where ``herald --workspace DIR …`` leaves DIR for the subcommand (``click.Context.meta``)."""


def given_workspace(workspace_path: str | None = None) -> str | None:
    """The subcommand's ``--workspace``, else the one given before the subcommand."""
    if workspace_path is not None:
        return workspace_path
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(WORKSPACE_META)


def with_workspace(func: F) -> F:
    """Open the workspace from ``workspace_path`` and pass it as ``ws``; close it afterwards."""

    @functools.wraps(func)
    def wrapper(*args: Any, workspace_path: str | None = None, **kwargs: Any) -> Any:
        with Workspace.open(given_workspace(workspace_path)) as ws:
            return func(*args, ws=ws, **kwargs)

    return workspace_option(wrapper)  # type: ignore[return-value]


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, PurePath):
        return str(value)
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")


WRAPPING_COLUMNS = frozenset({"description", "file", "dropped"})


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        # Long free text may wrap; names, numbers and dates stay on one line.
        wraps = column in WRAPPING_COLUMNS
        table.add_column(column, overflow="fold" if wraps else "ellipsis", no_wrap=not wraps)
    for row in rows:
        table.add_row(*(fmt(cell) for cell in row))
    console.print(table)


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    return str(value)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def show_or_export(
    table: pa.Table, *, title: str, csv_path: str | None, limit: int, as_json: bool
) -> None:
    """Export a whole table to CSV, or print its first ``limit`` rows (JSON or a table)."""
    if csv_path:
        from herald.engines.localdb import write_csv

        write_csv(table, Path(csv_path), table.column_names)
        console.print(f"Wrote {table.num_rows:,} rows to {csv_path}")
        return
    rows = table.slice(0, limit).to_pylist()
    if as_json:
        print_json(rows)
        return
    heading = f"{title}: {table.num_rows:,} rows (first {len(rows)})"
    print_table(heading, table.column_names, [tuple(r.values()) for r in rows])
