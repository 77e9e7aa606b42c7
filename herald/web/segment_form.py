"""The Segment Editor's form: its fields to a definition (the mapping `herald apply` reads) and
back, and the add/remove actions on the condition tree.

The editor's state is the definition itself, possibly incomplete while being built (a
condition without a column yet). Every node of the tree has a form path: ``r`` for the root
group, ``r.0`` for its first item, ``r.2.w`` for a purchase condition's filters; its fields
are ``<path>.<field>``. Another form holding the same condition editor puts its root under a
prefix (the Campaign builder's sub-audience ``s0`` has its root at ``s0.r``): `where_of`,
`tree_of` and `apply_action` take that root.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from herald.core.catalog import Catalog
from herald.core.segments.operators import OPERATORS, lookup_operator, operators_for

Form = Callable[[str], list[str]]
"""A form's values by field name (``FormData.getlist``)."""

GROUP_KINDS = ("all", "any", "not")
STARTING_SQL = "SELECT amperity_id FROM Customer_360"
UNITS = ("days", "weeks", "months", "years")
_AGO = re.compile(r"^\s*(\d+)\s+(day|week|month|year)s?\s+ago\s*$", re.IGNORECASE)
_PREFERRED_OP = {"string": "in_list", "boolean": "is_true", "date": "after", "datetime": "after"}


def blank_condition() -> dict[str, Any]:
    return {"attribute": "", "op": ""}


def blank_definition() -> dict[str, Any]:
    return {"name": "", "where": {"all": [blank_condition()]}}


# --- form fields to a definition ------------------------------------------------------------


def definition_of(get: Form) -> dict[str, Any]:
    """The definition the editor's fields describe (incomplete conditions included)."""
    doc: dict[str, Any] = {"name": _one(get, "name")}
    description = _one(get, "description")
    if description:
        doc["description"] = description
    if _one(get, "mode") == "sql":
        # just switched to SQL mode: a starting point rather than an empty box
        doc["sql"] = _one(get, "sql") if get("sql") else STARTING_SQL
    elif (where := where_of(get, "r")) is not None:
        doc["where"] = where
    return doc


def where_of(get: Form, root: str) -> dict[str, Any] | None:
    """The conditions of the condition editor rooted at ``root`` (``r``, or ``s0.r`` in the
    Campaign builder), as a segment's ``where``; None when the form has no such editor."""
    return _node(get, root) if get(f"{root}.type") else None


def _one(get: Form, key: str) -> str:
    values = get(key)
    return values[0].strip() if values else ""


def _children(get: Form, path: str) -> list[str]:
    """The item paths of the group at ``path``, in their order on the form."""
    found: list[int] = []
    index = 0
    # items are numbered 0.. when rendered; a removed one leaves no gap (re-rendered)
    while get(f"{path}.{index}.type"):
        found.append(index)
        index += 1
    return [f"{path}.{i}" for i in found]


def _node(get: Form, path: str) -> dict[str, Any]:
    kind = _one(get, f"{path}.type")
    if kind == "group":
        group = _one(get, f"{path}.kind")
        group = group if group in GROUP_KINDS else "all"
        return {group: [_node(get, child) for child in _children(get, path)]}
    if kind == "segment":
        op = "not_in" if _one(get, f"{path}.op") == "not_in" else "in"
        return {"segment": _one(get, f"{path}.segment"), "op": op}
    if kind == "purchase":
        return _purchase(get, path)
    return _attribute(get, path)


def _purchase(get: Form, path: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if get(f"{path}.w.type"):
        body["where"] = _node(get, f"{path}.w")
    for key in ("within", "since", "until"):
        if _one(get, f"{path}.{key}"):
            body[key] = _one(get, f"{path}.{key}")
    for key in ("min_count", "min_total"):
        if _one(get, f"{path}.{key}"):
            body[key] = _number(_one(get, f"{path}.{key}"))
    negate = _one(get, f"{path}.op") == "has_not_purchased"
    return {"has_not_purchased" if negate else "has_purchased": body}


def _attribute(get: Form, path: str) -> dict[str, Any]:
    table, column = _one(get, f"{path}.table"), _one(get, f"{path}.column")
    out: dict[str, Any] = {"attribute": f"{table}.{column}" if table else column}
    out["op"] = _one(get, f"{path}.op")
    operator = lookup_operator(out["op"]) if out["op"] else None
    numeric = _one(get, f"{path}.vtype") in ("integer", "decimal")
    convert = _number if numeric else str
    if operator is None or operator.arity == "none":
        return out
    if operator.arity == "one":
        value = _dated(get, path) or _one(get, f"{path}.value") or _one(get, f"{path}.pick")
        out["value"] = convert(value) if value else None
    elif operator.arity == "two":
        out["values"] = [convert(_one(get, f"{path}.value")), convert(_one(get, f"{path}.value2"))]
    else:
        out["values"] = [convert(v) for v in _list_values(get, path)]
    if out.get("value") is None:
        out.pop("value", None)
    return out


def _dated(get: Form, path: str) -> str:
    """A one-value date condition's value: a date, ``N units ago``, today or yesterday."""
    when = _one(get, f"{path}.when")
    if when in ("today", "yesterday"):
        return when
    if when == "ago":
        count, unit = _one(get, f"{path}.n") or "0", _one(get, f"{path}.unit") or "days"
        return f"{count} {unit} ago"
    return ""


def _list_values(get: Form, path: str) -> list[str]:
    """The chosen values, the picklist's ticks, and any typed ones (comma-separated)."""
    found: list[str] = []
    typed = [part for text in get(f"{path}.extra") for part in text.split(",")]
    for value in [*get(f"{path}.values"), *get(f"{path}.pick"), *typed]:
        value = value.strip()
        if value and value not in found:
            found.append(value)
    return found


def _number(text: str) -> Any:
    """A number typed in the form; text that is not one stays text (the check names it)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


# --- actions on the tree ----------------------------------------------------------------------


def apply_action(doc: dict[str, Any], action: str, *, root: str = "r") -> str | None:
    """Change the tree of ``doc["where"]`` for an ``add:<path>:<what>`` or ``remove:<path>``
    button whose paths start at ``root``; what is wrong with an action that names no node of
    the tree (None when it applied)."""
    try:
        _apply(doc, _from_root(action, root))
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        return f"the editor's form is out of date ({action}); reload the page"
    return None


def _from_root(action: str, root: str) -> str:
    """The action with its path starting at ``r`` (the tree's own root) instead of ``root``."""
    if root == "r":
        return action
    verb, _, rest = action.partition(":")
    if not (rest == root or rest.startswith((f"{root}.", f"{root}:"))):
        msg = f"{action} is not under {root}"
        raise ValueError(msg)
    return f"{verb}:r{rest[len(root) :]}"


def _apply(doc: dict[str, Any], action: str) -> None:
    verb, _, rest = action.partition(":")
    path, _, what = rest.partition(":")
    if verb == "add" and "where" in doc:
        _add(doc, path, what)
    elif verb == "remove" and path.count(".") >= 1:
        parent_path, _, index = path.rpartition(".")
        if index == "w":
            _node_at(doc, parent_path)[_purchase_key(_node_at(doc, parent_path))].pop("where")
            return
        _items(_node_at(doc, parent_path)).pop(int(index))


def _add(doc: dict[str, Any], path: str, what: str) -> None:
    kinds: dict[str, dict[str, Any]] = {
        "group": {"any": [blank_condition()]},
        "segment": {"segment": "", "op": "in"},
        "purchase": {"has_purchased": {"within": "12 months"}},
    }
    new = kinds.get(what, blank_condition())
    if path.endswith(".w"):
        purchase = _node_at(doc, path[:-2])
        body = purchase[_purchase_key(purchase)]
        body.setdefault("where", {"all": []})
        _items(body["where"]).append(blank_condition())
        return
    _items(_node_at(doc, path)).append(new)


def _node_at(doc: dict[str, Any], path: str) -> dict[str, Any]:
    node = doc["where"]
    for step in path.split(".")[1:]:
        node = node[_purchase_key(node)]["where"] if step == "w" else _items(node)[int(step)]
    return node  # type: ignore[no-any-return]


def _items(group: dict[str, Any]) -> list[dict[str, Any]]:
    for kind in GROUP_KINDS:
        if kind in group:
            return group[kind]  # type: ignore[no-any-return]
    msg = "not a group"
    raise KeyError(msg)


def _purchase_key(node: dict[str, Any]) -> str:
    return "has_not_purchased" if "has_not_purchased" in node else "has_purchased"


# --- a definition to what the template shows --------------------------------------------------


@dataclass
class NodeView:
    """One node of the tree as the template draws it."""

    path: str
    loc: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    items: list[NodeView] = field(default_factory=list)
    filters: NodeView | None = None


def tree_of(
    where: dict[str, Any],
    catalog: Catalog,
    *,
    root: str = "r",
    loc: str = "where",
    purchase_tables: bool = False,
) -> NodeView:
    """The root group of a definition, with each node's form path (under ``root``) and its
    location in the canonical definition (under ``loc``: ``where.all[1]``, what the
    waterfall's steps and the errors name)."""
    return _view(where, root, loc, catalog, purchase_tables)


def _view(
    given: dict[str, Any] | list[Any], path: str, loc: str, catalog: Catalog, in_purchase: bool
) -> NodeView:
    node = {"all": given} if isinstance(given, list) else given  # YAML's short "all" group
    kind = next((k for k in GROUP_KINDS if k in node), None)
    if kind is not None:
        found = node[kind]
        found = [found] if isinstance(found, dict) else found  # "not" of one condition
        items = [
            _view(item, f"{path}.{i}", f"{loc}.{kind}[{i}]", catalog, in_purchase)
            for i, item in enumerate(found if isinstance(found, list) else [])
        ]
        return NodeView(path, loc, "group", {"kind": kind}, items)
    if "segment" in node:
        return NodeView(path, loc, "segment", dict(node))
    if "has_purchased" in node or "has_not_purchased" in node:
        return _purchase_view(node, path, loc, catalog)
    return NodeView(path, loc, "attribute", attribute_view(node, catalog, in_purchase))


def node_at_location(tree: NodeView | None, location: str | None) -> str | None:
    """The form path of the deepest node a problem's location (``where.all[1].value``) is
    in, to show the message beside it; None when it is in none."""
    if tree is None or not location:
        return None
    found = None
    stack = [tree]
    while stack:
        node = stack.pop()
        if location == node.loc or location.startswith((node.loc + ".", node.loc + "[")):
            found = node.path if found is None or len(node.path) > len(found) else found
        stack.extend(node.items)
        if node.filters is not None:
            stack.append(node.filters)
    return found


def _purchase_view(node: dict[str, Any], path: str, loc: str, catalog: Catalog) -> NodeView:
    key = _purchase_key(node)
    body = dict(node.get(key) or {})
    where = body.pop("where", None)  # drawn as the filters' own tree
    view = NodeView(path, loc, "purchase", {"op": key, **body})
    if isinstance(where, dict | list):
        view.filters = _view(where, f"{path}.w", f"{loc}.{key}.where", catalog, True)
    return view


def attribute_view(node: dict[str, Any], catalog: Catalog, in_purchase: bool) -> dict[str, Any]:
    """A condition's drop-downs: tables, the table's columns, the column's operators, and
    how its value is entered."""
    text = str(node.get("attribute") or "")
    table, _, column = text.rpartition(".") if "." in text else (catalog.base_table, "", text)
    tables = _tables(catalog, in_purchase)
    found = catalog.table(table) if table else None
    table = found.name if found else (table if table else "")
    columns = [c for c in found.columns.values() if c.type is not None] if found else []
    chosen = next((c for c in columns if c.name.lower() == column.lower()), None)
    ops = operators_for(chosen.type) if chosen and chosen.type else []
    op = lookup_operator(str(node.get("op") or ""))
    op_name = (
        op.name if op and op.name in ops else _default_op(ops, chosen.type if chosen else None)
    )
    values = node.get("values") or []
    return {
        "tables": tables,
        "table": table,
        "columns": [c.name for c in columns],
        "column": chosen.name if chosen else "",
        "vtype": chosen.type if chosen else "",
        "ops": ops,
        "op": op_name,
        "arity": OPERATORS[op_name].arity if op_name else "none",
        "value": node.get("value"),
        "values": [str(v) for v in values],
        "date": date_parts(node.get("value")),
    }


def _tables(catalog: Catalog, in_purchase: bool) -> list[str]:
    names = [catalog.table(n).name for n in catalog.table_names()]  # type: ignore[union-attr]
    if in_purchase:
        wanted = {catalog.transactions_table.lower(), catalog.items_table.lower()}
        return [n for n in names if n.lower() in wanted]
    return names


def _default_op(ops: list[str], attr_type: str | None) -> str:
    if not ops:
        return ""
    preferred = _PREFERRED_OP.get(attr_type or "", "greater_than")
    return preferred if preferred in ops else ops[0]


def date_parts(value: Any) -> dict[str, Any]:
    """How a date value shows: ``when`` (date, ago, today, yesterday) and its parts."""
    text = str(value or "").strip()
    if text.lower() in ("today", "yesterday"):
        return {"when": text.lower(), "date": "", "n": 30, "unit": "days"}
    found = _AGO.match(text)
    if found:
        return {"when": "ago", "date": "", "n": int(found[1]), "unit": found[2].lower() + "s"}
    return {"when": "date", "date": text[:10], "n": 30, "unit": "days"}
