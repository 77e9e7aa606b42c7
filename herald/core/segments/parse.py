"""Read segment definitions from YAML/JSON mappings, with errors that say where the problem is."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, NoReturn

from herald.core.catalog import did_you_mean, unknown_key
from herald.core.names import description_problem, name_problem
from herald.core.segments.model import Attribute, Group, InSegment, Node, Purchase, Segment
from herald.exceptions import SegmentError

TOP_KEYS = ("kind", "name", "description", "status", "where", "sql")
ATTRIBUTE_KEYS = ("attribute", "op", "value", "values")
PURCHASE_KEYS = ("where", "within", "since", "until", "min_count", "min_total")
NODE_KEYS = ("all", "any", "not", "attribute", "segment", "has_purchased", "has_not_purchased")

MAX_CONDITIONS = 1_000
"""The most conditions (attribute, segment and purchase ones) one definition may hold."""

MAX_NESTING = 64
"""How deeply the lists and groups of conditions may nest."""


def parse_segment(doc: Any, *, source: str | None = None) -> Segment:
    """Turn a mapping (from YAML, JSON or Python) into a :class:`Segment`.

    Raises:
        SegmentError: naming the problem and its place, such as ``where.all[1].op``.

    >>> parse_segment({"name": "Gold", "where": {"all": [
    ...     {"attribute": "loyalty_tier", "op": "is exactly", "value": "Gold"}]}}).where.items[0].op
    'is exactly'
    """
    try:
        return _parse_segment(doc)
    except SegmentError as error:
        raise error.located(source=source) from None


def _parse_segment(doc: Any) -> Segment:
    if not isinstance(doc, Mapping):
        _fail(f"a segment must be a mapping with a name, got {_kind(doc)}", "")
    _check_keys(doc, TOP_KEYS, "")
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        _fail("a segment needs a non-empty 'name'", "name")
    if name != name.strip():
        _fail(f"segment name '{name.strip()}' has leading or trailing spaces; remove them", "name")
    problem = name_problem("segment", name)
    if problem:
        _fail(problem, "name")
    if doc.get("kind", "segment") != "segment":
        _fail(f"kind is '{doc['kind']}', expected 'segment'", "kind")
    status = doc.get("status", "draft")
    if status not in ("draft", "active"):
        _fail(f"status must be 'draft' or 'active', got {status!r}", "status")
    description = doc.get("description")
    if description is not None and not isinstance(description, str):
        _fail("description must be text", "description")
    problem = description_problem(description) if description else None
    if problem:
        _fail(problem, "description")
    if "where" in doc and "sql" in doc:
        _fail("a segment has either 'where' (conditions) or 'sql', not both", "sql")
    sql = doc.get("sql")
    if sql is not None and (not isinstance(sql, str) or not sql.strip()):
        _fail("sql must be one SELECT statement as text", "sql")
    where = None
    if doc.get("where") is not None:
        check_size([(doc["where"], "where")])
        where = as_group(parse_node(doc["where"], "where"))
    return Segment(name=name, where=where, sql=sql, description=description, status=status)


def check_size(trees: list[tuple[Any, str]]) -> None:
    """Refuse condition trees with more than `MAX_CONDITIONS` conditions in all, or nested
    deeper than `MAX_NESTING` levels, before parsing them.

    The walk needs no recursion, and a structure that contains itself (possible in Python)
    ends at the depth limit.
    """
    stack = [(tree, loc, 1) for tree, loc in reversed(trees)]
    count = 0
    while stack:
        node, loc, depth = stack.pop()
        if depth > MAX_NESTING:
            _too_deep(loc)
        if isinstance(node, list | tuple):
            stack.extend((item, f"{loc}[{i}]", depth + 1) for i, item in enumerate(node))
            continue
        if not isinstance(node, Mapping):
            continue
        groups = [key for key in ("all", "any", "not") if key in node]
        count += not groups  # groups are bounded by the depth; conditions are counted
        if count > MAX_CONDITIONS:
            _too_many(trees[0][1])
        for key in groups:
            stack.append((node[key], f"{loc}.{key}", depth + 1))
        for key in ("has_purchased", "has_not_purchased"):
            body = node.get(key)
            if isinstance(body, Mapping) and body.get("where") is not None:
                stack.append((body["where"], f"{loc}.{key}.where", depth + 1))


def check_segment_size(segment: Segment) -> None:
    """The limits of `check_size` for a segment built in Python rather than parsed.

    Raises:
        SegmentError: too many conditions, or nested too deeply.
    """
    stack: list[tuple[Node, str, int]] = []
    if segment.where is not None:
        stack.append((segment.where, "where", 1))
    count = 0
    while stack:
        node, loc, depth = stack.pop()
        if depth > MAX_NESTING:
            _too_deep(loc)
        count += not isinstance(node, Group)
        if count > MAX_CONDITIONS:
            _too_many("where")
        # a group is a mapping holding a list: two levels, as check_size counts them
        if isinstance(node, Group):
            stack.extend((item, item.location or loc, depth + 2) for item in node.items)
        elif isinstance(node, Purchase) and node.where is not None:
            stack.append((node.where, node.location or loc, depth + 2))


def _too_many(loc: str) -> NoReturn:
    _fail(
        f"more than {MAX_CONDITIONS:,} conditions in one definition; "
        "split it into several segments",
        loc,
    )


def _too_deep(loc: str) -> NoReturn:
    _fail(f"conditions nest deeper than {MAX_NESTING} levels; flatten them", loc)


def as_group(node: Node) -> Group:
    return node if isinstance(node, Group) else Group("all", (node,), node.location)


def parse_node(node: Any, loc: str) -> Node:
    if isinstance(node, list):
        if not node:
            _fail("the list of conditions is empty; add at least one condition or remove it", loc)
        return Group("all", _parse_items(node, loc), loc)
    if not isinstance(node, Mapping):
        _fail(f"expected a condition or a group (all/any/not), got {_kind(node)}", loc)
    kinds = [k for k in NODE_KEYS if k in node]
    if len(kinds) != 1:
        _fail_node_kind(node, kinds, loc)
    kind = kinds[0]
    if kind in ("all", "any", "not"):
        return _parse_group(node, kind, loc)
    if kind == "attribute":
        return _parse_attribute(node, loc)
    if kind == "segment":
        return _parse_in_segment(node, loc)
    return _parse_purchase(node, kind, loc)


def _fail_node_kind(node: Mapping[str, Any], kinds: list[str], loc: str) -> NoReturn:
    if kinds:
        _fail(f"a condition has exactly one of {', '.join(NODE_KEYS)}; found {kinds}", loc)
    unknown = next(iter(node), "")
    hint = did_you_mean(str(unknown), NODE_KEYS)
    _fail(
        f"unknown condition '{unknown}'.{hint} A condition starts with one of: "
        f"{', '.join(NODE_KEYS)}",
        loc,
    )


def _parse_group(node: Mapping[str, Any], kind: str, loc: str) -> Group:
    _check_keys(node, (kind,), loc)
    here = f"{loc}.{kind}" if loc else kind
    items = node[kind]
    if kind == "not" and isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list):
        _fail(f"'{kind}' takes a list of conditions, got {_kind(items)}", here)
    if not items:
        _fail(f"'{kind}' is empty; add at least one condition or remove it", here)
    return Group(kind, _parse_items(items, here), here)  # type: ignore[arg-type]


def _parse_items(items: list[Any], loc: str) -> tuple[Node, ...]:
    return tuple(parse_node(item, f"{loc}[{i}]") for i, item in enumerate(items))


def _parse_attribute(node: Mapping[str, Any], loc: str) -> Attribute:
    _check_keys(node, ATTRIBUTE_KEYS, loc)
    attribute = node["attribute"]
    if not isinstance(attribute, str) or not attribute.strip():
        _fail(
            "'attribute' must be 'Table.column' or a column of the base table", f"{loc}.attribute"
        )
    op = node.get("op")
    if not isinstance(op, str):
        _fail(f"condition on '{attribute}' needs an 'op' (operator)", f"{loc}.op")
    if "value" in node and "values" in node:
        _fail("give either 'value' or 'values', not both", f"{loc}.values")
    values = node.get("values")
    if values is not None and not isinstance(values, list | tuple):
        _fail(f"'values' must be a list, got {_kind(values)}", f"{loc}.values")
    return Attribute(
        attribute=attribute.strip(),
        op=op,
        value=node.get("value"),
        values=tuple(values) if values is not None else None,
        location=loc,
    )


def _parse_in_segment(node: Mapping[str, Any], loc: str) -> InSegment:
    _check_keys(node, ("segment", "op"), loc)
    name = node["segment"]
    if not isinstance(name, str) or not name.strip():
        _fail("'segment' must name another segment", f"{loc}.segment")
    problem = name_problem("segment", name)
    if problem:
        _fail(problem, f"{loc}.segment")
    op = str(node.get("op", "in")).strip().lower().replace(" ", "_")
    if op not in ("in", "not_in"):
        _fail(
            f"segment membership op must be 'in' or 'not in', got {node.get('op')!r}", f"{loc}.op"
        )
    return InSegment(segment=name, negate=op == "not_in", location=loc)


def _parse_purchase(node: Mapping[str, Any], kind: str, loc: str) -> Purchase:
    _check_keys(node, (kind,), loc)
    here = f"{loc}.{kind}" if loc else kind
    body = node[kind] or {}
    if not isinstance(body, Mapping):
        _fail(f"'{kind}' takes a mapping of {', '.join(PURCHASE_KEYS)}", here)
    _check_keys(body, PURCHASE_KEYS, here)
    where = body.get("where")
    return Purchase(
        where=as_group(parse_node(where, f"{here}.where")) if where is not None else None,
        within=_optional_text(body, "within", here),
        since=_date_like(body, "since", here),
        until=_date_like(body, "until", here),
        min_count=_optional_count(body, here),
        min_total=body.get("min_total"),
        negate=kind == "has_not_purchased",
        location=here,
    )


def _optional_text(body: Mapping[str, Any], key: str, loc: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        _fail(f"'{key}' must be text such as '12 months', got {_kind(value)}", f"{loc}.{key}")
    return value


def _date_like(body: Mapping[str, Any], key: str, loc: str) -> Any:
    value = body.get(key)
    if value is not None and not isinstance(value, str | dt.date):
        _fail(f"'{key}' must be a date (YYYY-MM-DD) or a relative date", f"{loc}.{key}")
    return value


def _optional_count(body: Mapping[str, Any], loc: str) -> int | None:
    value = body.get("min_count")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(
            f"'min_count' must be a whole number of at least 1, got {value!r}", f"{loc}.min_count"
        )
    return value


def _check_keys(node: Mapping[str, Any], allowed: tuple[str, ...], loc: str) -> None:
    problem = unknown_key(node, allowed, loc)
    if problem:
        _fail(*problem)


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def _fail(message: str, loc: str) -> NoReturn:
    raise SegmentError(message, location=loc or None)


def segment_to_dict(segment: Segment) -> dict[str, Any]:
    """The canonical mapping of a segment: what is stored, hashed and written back to YAML.

    >>> segment_to_dict(parse_segment({"name": "All", "status": "active"}))
    {'name': 'All', 'status': 'active'}
    """
    doc: dict[str, Any] = {"name": segment.name}
    if segment.description:
        doc["description"] = segment.description
    doc["status"] = segment.status
    if segment.where is not None:
        doc["where"] = _node_to_dict(segment.where)
    if segment.sql is not None:
        doc["sql"] = segment.sql
    return doc


def _node_to_dict(node: Node) -> dict[str, Any]:
    if isinstance(node, Group):
        return {node.kind: [_node_to_dict(item) for item in node.items]}
    if isinstance(node, Attribute):
        out: dict[str, Any] = {"attribute": node.attribute, "op": node.op}
        if node.value is not None:
            out["value"] = _plain(node.value)
        if node.values is not None:
            out["values"] = [_plain(v) for v in node.values]
        return out
    if isinstance(node, InSegment):
        return {"segment": node.segment, "op": "not_in" if node.negate else "in"}
    body: dict[str, Any] = {}
    if node.where is not None:
        body["where"] = _node_to_dict(node.where)
    for key in ("within", "since", "until", "min_count", "min_total"):
        if getattr(node, key) is not None:
            body[key] = _plain(getattr(node, key))
    return {"has_not_purchased" if node.negate else "has_purchased": body}


def _plain(value: Any) -> Any:
    """JSON-safe form of a value: dates become ISO text, decimals stay numbers."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value
