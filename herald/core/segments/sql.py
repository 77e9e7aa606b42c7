"""SQL segments: one read-only SELECT that returns only the customer key (DESIGN §1.2)."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, TokenError
from sqlglot.optimizer.scope import Scope, traverse_scope

from herald.core.catalog import Catalog, did_you_mean
from herald.exceptions import SqlSegmentError

# Anything that writes, changes the schema, or reaches outside the customer database.
_FORBIDDEN: tuple[type[exp.Expr], ...] = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Command,
    exp.Copy,
    exp.Into,
    exp.Pragma,
    exp.Use,
    exp.Set,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.LoadData,
)


def validate_sql_segment(sql: str, catalog: Catalog, *, dialect: str = "duckdb") -> exp.Query:
    """Parse a SQL segment and check it is one read-only SELECT of the customer key.

    Returns:
        The parsed query, to embed in the segment's compiled tree.

    Raises:
        SqlSegmentError: with what is wrong and how to fix it.

    >>> cat = Catalog.from_columns([("Customer_360", "amperity_id", "string", "VARCHAR")])
    >>> validate_sql_segment("SELECT amperity_id FROM Customer_360", cat).sql()
    'SELECT amperity_id FROM Customer_360'
    """
    statement = _single_statement(sql, dialect)
    _check_read_only(statement)
    if not isinstance(statement, exp.Query):
        first_word = sql.split(None, 1)[0] if sql.split() else ""
        msg = f"a SQL segment must be one SELECT statement; this one starts with '{first_word}'"
        raise SqlSegmentError(msg, location="sql")
    _check_projection(statement, catalog.customer_key)
    _check_sources(statement, catalog)
    return statement


def _single_statement(sql: str, dialect: str) -> exp.Expr:
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
        near = f" near '{first.get('highlight')}'" if first.get("highlight") else ""
        msg = f"the SQL does not parse{where}{near}; check the syntax of the SELECT"
        raise SqlSegmentError(msg, location="sql") from None
    except TokenError:
        msg = "the SQL does not parse: a quote or string is not closed"
        raise SqlSegmentError(msg, location="sql") from None
    if len(statements) != 1:
        msg = f"a SQL segment is exactly one SELECT statement; found {len(statements)}"
        raise SqlSegmentError(msg, location="sql")
    return statements[0]


def _check_read_only(statement: exp.Expr) -> None:
    for node in statement.walk():
        if isinstance(node, _FORBIDDEN):
            msg = f"a SQL segment may only read; {node.key.upper()} is not allowed"
            raise SqlSegmentError(msg, location="sql")


def _check_projection(query: exp.Query, key: str) -> None:
    branches = _select_branches(query)
    for select in branches:
        names = [e.alias_or_name for e in select.expressions]
        if len(names) != 1 or not _is_key_column(select.expressions[0], key):
            shown = ", ".join(e.sql() for e in select.expressions)
            msg = (
                f"a SQL segment must return only the customer key '{key}', but it selects: {shown}"
            )
            raise SqlSegmentError(msg, location="sql")


def _is_key_column(projection: exp.Expr, key: str) -> bool:
    """The key column itself (qualified or not, aliased only to its own name), not an
    expression renamed to look like it (``email AS amperity_id``)."""
    if projection.alias and projection.alias.lower() != key.lower():
        return False
    column = projection.unalias()
    return isinstance(column, exp.Column) and column.name.lower() == key.lower()


def _select_branches(query: exp.Expr) -> list[exp.Select]:
    if isinstance(query, exp.SetOperation):
        return _select_branches(query.left) + _select_branches(query.right)
    if isinstance(query, exp.Subquery):
        return _select_branches(query.this)
    assert isinstance(query, exp.Select)
    return [query]


def _check_sources(statement: exp.Expr, catalog: Catalog) -> None:
    """Every table the SQL reads is a catalog table or a CTE visible where it is read.

    Names are resolved per scope: a CTE defined in one subquery or UNION branch does not make
    the same name acceptable in another, where DuckDB would read it as a file path.
    """
    _check_cte_names(statement)
    try:
        scopes = traverse_scope(statement)
    except OptimizeError:
        msg = "cannot tell which tables the SQL reads; simplify the SELECT"
        raise SqlSegmentError(msg, location="sql") from None
    checked: set[int] = set()
    for scope in scopes:
        for table in scope.tables:
            _check_table(table, scope, catalog)
            checked.add(id(table))
    # A table reference outside every scope (a construct sqlglot does not scope) is refused
    # rather than trusted.
    for table in statement.find_all(exp.Table):
        if id(table) not in checked:
            msg = f"a SQL segment reads tables only in FROM and JOIN; '{table.sql()}' is elsewhere"
            raise SqlSegmentError(msg, location="sql")


def _check_cte_names(statement: exp.Expr) -> None:
    for cte in statement.find_all(exp.CTE):
        if not cte.alias_or_name.isidentifier():
            msg = (
                f"a CTE name is letters, digits and underscores only: '{cte.alias_or_name}'; "
                "rename it"
            )
            raise SqlSegmentError(msg, location="sql")


def _check_table(table: exp.Table, scope: Scope, catalog: Catalog) -> None:
    if not isinstance(table.this, exp.Identifier):
        msg = f"a SQL segment reads tables only; '{table.sql()}' is not a table"
        raise SqlSegmentError(msg, location="sql")
    if table.db or table.catalog:
        msg = f"use the table name alone, without a schema or database: '{table.sql()}'"
        raise SqlSegmentError(msg, location="sql")
    # Only the CTEs of this scope and its parents count; names match without case, as in
    # DuckDB, so a name taken here for a CTE is one for DuckDB too.
    visible = {name.lower() for name in scope.cte_sources}
    if table.name.lower() in visible or catalog.table(table.name) is not None:
        return
    hint = did_you_mean(table.name, catalog.table_names())
    msg = f"unknown table '{table.name}'.{hint}"
    raise SqlSegmentError(msg, location="sql")
