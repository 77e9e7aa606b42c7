"""``herald segment …``: list, show, create, edit, activate, sql, insights, preview."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
import yaml

from herald.apply import Definition, explained, one_definition, read_one
from herald.cli._common import (
    as_date,
    as_of_option,
    console,
    fmt,
    json_option,
    percent,
    print_json,
    print_table,
    with_workspace,
)
from herald.core.insights import Insights
from herald.core.segments import parse_segment
from herald.exceptions import DefinitionError, NotFoundError
from herald.segments import Which, stored_form
from herald.state import DefinitionVersion
from herald.workspace import Workspace
from herald.yaml_loader import load_yaml


@click.group("segment")
def command() -> None:
    """Build, version and inspect segments.

    Example:

        herald segment insights "High value"
    """


def version_option(func: Any) -> Any:
    func = click.option("--version", "version", type=int, help="A specific version number.")(func)
    func = click.option("--active", "which", flag_value="active", help="The active version.")(func)
    return click.option("--draft", "which", flag_value="draft", help="The draft version.")(func)


def _which(which: str | None, version: int | None) -> Which:
    if version is not None:
        return version
    return which or "latest"  # type: ignore[return-value]


@command.command("list")
@json_option
@with_workspace
def list_(ws: Workspace, as_json: bool) -> None:
    """List segments with their active and draft versions.

    Example:

        herald segment list --json
    """
    items = ws.segments.list()
    if as_json:
        print_json(items)
        return
    rows = [(s.name, s.active_version, s.draft_version, s.updated_at, s.description) for s in items]
    print_table(None, ["name", "active", "draft", "updated", "description"], rows)


@command.command("show")
@click.argument("name")
@version_option
@json_option
@with_workspace
def show(ws: Workspace, name: str, which: str | None, version: int | None, as_json: bool) -> None:
    """Show a segment's definition and versions.

    Example:

        herald segment show "High value" --active
    """
    stored = ws.store.get("segment", name, _which(which, version))
    versions = ws.segments.versions(name)
    if as_json:
        print_json({"version": stored, "versions": [(v.version, v.status) for v in versions]})
        return
    console.print(f"[bold]{name}[/]  version {stored.version} ({stored.status})", markup=True)
    console.print(yaml.safe_dump(stored.definition, sort_keys=False, allow_unicode=True).rstrip())
    listed = ", ".join(f"v{v.version} {v.status}{_by(v)}" for v in versions)
    console.print(f"[dim]versions: {listed}[/]", markup=True)


@command.command("create")
@click.option(
    "-f",
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML or JSON definition.",
)
@click.option("--name", help="Name, for a SQL segment given with --sql.")
@click.option("--sql", help="A SQL segment: one SELECT returning only the customer key.")
@click.option("--description", help="Description, with --sql.")
@with_workspace
def create(
    ws: Workspace, path: str | None, name: str | None, sql: str | None, description: str | None
) -> None:
    """Create a segment as a draft, from a file or from SQL.

    Example:

        herald segment create --name "CA customers" --sql "SELECT amperity_id FROM Customer_360 WHERE state = 'CA'"
    """  # noqa: E501 - one command; a split line's indent would show in --help
    if bool(path) == bool(sql):
        msg = "give either -f FILE or --name NAME --sql QUERY"
        raise click.UsageError(msg)
    if path is None and not name:
        msg = "--sql needs --name"
        raise click.UsageError(msg)
    given = {"name": name, "sql": sql, "description": description}
    definition = read_one(path) if path else Definition(given, "--sql")
    with explained(definition):
        segment = parse_segment(definition.doc, source=path)
        if any(s.name == segment.name for s in ws.segments.list()):
            msg = (
                f"segment '{segment.name}' already exists; "
                f"change it with `herald segment edit '{segment.name}' -f FILE`"
            )
            raise DefinitionError(msg)
        result = ws.segments.create(segment)
    console.print(f"Created segment '{segment.name}' as draft version {result.version.version}.")


@command.command("edit")
@click.argument("name")
@click.option(
    "-f", "--file", "path", type=click.Path(exists=True, dir_okay=False), help="The new definition."
)
@with_workspace
def edit(ws: Workspace, name: str, path: str | None) -> None:
    """Change a segment. Editing an active segment makes a draft beside it.

    Without -f, opens the current definition in $EDITOR.

    Example:

        herald segment edit "High value" -f high-value.yaml
    """
    current = ws.segments.load(name)
    if path:
        definition = read_one(path)
    else:
        text = click.edit(
            yaml.safe_dump(stored_form(current), sort_keys=False, allow_unicode=True),
            extension=".yaml",
        )
        if text is None:
            console.print("No change.")
            return
        edited = [Definition(d.data, "the edited definition", d) for d in load_yaml(text)]
        definition = one_definition(edited, "the edited definition", None)
    doc = definition.doc
    doc = {**doc, "name": doc.get("name", name)} if isinstance(doc, dict) else doc
    with explained(definition):
        segment = parse_segment(doc, source=path)
        if segment.name != name:
            msg = (
                f"the definition is named '{segment.name}', not '{name}'; "
                "segments cannot be renamed by edit"
            )
            raise DefinitionError(msg, location="name", source=path)
        result = ws.segments.create(segment)
    state = "changed" if result.changed else "unchanged"
    console.print(f"Segment '{name}': draft version {result.version.version} ({state}).")


@command.command("activate")
@click.argument("name")
@with_workspace
def activate(ws: Workspace, name: str) -> None:
    """Activate a segment's draft; campaigns use active versions only.

    Example:

        herald segment activate "High value"
    """
    version = ws.segments.activate(name)
    console.print(f"Segment '{name}' version {version.version} is active.")


@command.command("sql")
@click.argument("name")
@version_option
@as_of_option
@with_workspace
def sql(
    ws: Workspace, name: str, which: str | None, version: int | None, as_of: dt.datetime | None
) -> None:
    """Print the SQL a segment runs.

    Example:

        herald segment sql "High value" --active --as-of 2026-06-30
    """
    click.echo(ws.segments.sql(name, _which(which, version), today=as_date(as_of)))


@command.command("insights")
@click.argument("name")
@version_option
@click.option("--history", is_flag=True, help="Show the stored refreshes instead of refreshing.")
@as_of_option
@json_option
@with_workspace
def insights(
    ws: Workspace,
    name: str,
    which: str | None,
    version: int | None,
    history: bool,
    as_of: dt.datetime | None,
    as_json: bool,
) -> None:
    """Refresh and show a segment's insights: customers, active, revenue, reachable.

    Example:

        herald segment insights "High value" --history
    """
    if history:
        _show_history(ws, name, as_json)
        return
    result = ws.segments.insights(name, _which(which, version), today=as_date(as_of))
    if as_json:
        print_json(result.as_dict())
        return
    print_insights([(name, result)])


def print_insights(rows: list[tuple[str, Insights]]) -> None:
    """The insights table shared by ``segment insights`` and ``demo``."""
    print_table(
        None,
        ["segment", "customers", "active 1y", "revenue 1y", "reachable", "% email", "% phone"],
        [
            (
                name,
                r.unique_customers,
                r.active_customers_1y,
                None if r.revenue_1y is None else f"${r.revenue_1y:,.0f}",
                r.reachable_customers,
                percent(r.share_reachable_email),
                percent(r.share_reachable_phone),
            )
            for name, r in rows
        ],
    )


def _show_history(ws: Workspace, name: str, as_json: bool) -> None:
    records = ws.segments.history(name)
    if as_json:
        print_json(records)
        return
    if not records:
        msg = f"segment '{name}' has no stored insights yet; run `herald segment insights '{name}'`"
        raise NotFoundError(msg)
    rows = []
    previous: float | None = None
    for record in records:
        m = record.metrics
        customers = m["unique_customers"]
        change = ""
        if previous is not None and customers is not None:
            change = f"{customers - previous:+,}"
        previous = customers
        revenue = m.get("revenue_1y")
        rows.append(
            (
                record.computed_at,
                record.version,
                fmt(m["unique_customers"]),
                change,
                None if revenue is None else f"${revenue:,.0f}",
                percent(m.get("share_reachable_email")),
            )
        )
    print_table(
        f"Insights of '{name}'",
        ["refreshed", "version", "customers", "change", "revenue 1y", "% email"],
        rows,
    )


@command.command("preview")
@click.argument("name")
@click.option("-n", "--limit", default=10, show_default=True, help="How many customers.")
@click.option("--columns", help="Comma-separated base-table columns to show.")
@version_option
@as_of_option
@json_option
@with_workspace
def preview(
    ws: Workspace,
    name: str,
    limit: int,
    columns: str | None,
    which: str | None,
    version: int | None,
    as_of: dt.datetime | None,
    as_json: bool,
) -> None:
    """Show a stable sample of the segment's customers.

    Example:

        herald segment preview "High value" -n 5 --columns amperity_id,email,state
    """
    wanted = [c.strip() for c in columns.split(",")] if columns else None
    table = ws.segments.preview(
        name, limit, _which(which, version), columns=wanted, today=as_date(as_of)
    )
    if as_json:
        print_json(table.to_pylist())
        return
    print_table(
        f"{name}: {table.num_rows} sample customers",
        table.column_names,
        [tuple(r.values()) for r in table.to_pylist()],
    )


def _by(version: DefinitionVersion) -> str:
    """`` (saved by ana, activated by ben)``: who did what to a version (the audit trail)."""
    parts = [
        f"{what} by {who}"
        for what, who in (("saved", version.saved_by), ("activated", version.activated_by))
        if who
    ]
    return f" ({', '.join(parts)})" if parts else ""
