"""Short human labels for the conditions of a segment, as the Segment Editor shows them.

>>> from herald.core.segments.model import Attribute, InSegment, Purchase
>>> condition_label(Attribute("Customer_360.state", "is exactly", "CA"))
'Customer_360.state is exactly CA'
>>> condition_label(Attribute("lifetime_order_revenue", "between", values=(10, 20)))
'lifetime_order_revenue between 10 and 20'
>>> condition_label(InSegment("VIPs", negate=True))
"not in segment 'VIPs'"
>>> condition_label(Purchase(within="12 months", min_count=2))
'has purchased in the last 12 months, at least 2 orders'
"""

from __future__ import annotations

from typing import Any

from herald.core.segments.model import Attribute, Group, InSegment, Node, Purchase
from herald.core.segments.operators import lookup_operator

_MAX_VALUE = 40  # a long value or list is cut: the label sits beside the condition


def condition_label(node: Node) -> str:
    """One line describing ``node``: a condition, or a group by its kind and size."""
    if isinstance(node, Group):
        return _group_label(node)
    if isinstance(node, Attribute):
        return _attribute_label(node)
    if isinstance(node, InSegment):
        return f"{'not in' if node.negate else 'in'} segment '{node.segment}'"
    return _purchase_label(node)


def _group_label(group: Group) -> str:
    count = len(group.items)
    things = "condition" if count == 1 else "conditions"
    if group.kind == "not":
        return f"not all of {count} {things}"
    return f"{group.kind} of {count} {things}"


def _attribute_label(cond: Attribute) -> str:
    op = lookup_operator(cond.op)
    words = (op.name if op else cond.op).replace("_", " ")
    arity = op.arity if op else "one"
    if arity == "none":
        return f"{cond.attribute} {words}"
    items = cond.values if cond.values is not None else cond.value
    if arity == "two" and isinstance(items, list | tuple) and len(items) == 2:
        return f"{cond.attribute} {words} {_text(items[0])} and {_text(items[1])}"
    if isinstance(items, list | tuple):
        return f"{cond.attribute} {words} {_text(', '.join(str(x) for x in items))}"
    return f"{cond.attribute} {words} {_text(items)}"


def _purchase_label(cond: Purchase) -> str:
    parts = ["has not purchased" if cond.negate else "has purchased"]
    if cond.where is not None:
        only = cond.where.items[0] if len(cond.where.items) == 1 else cond.where
        parts.append(f"where {condition_label(only)}")
    if cond.within:
        parts.append(f"in the last {cond.within}")
    if cond.since is not None:
        parts.append(f"since {cond.since}")
    if cond.until is not None:
        parts.append(f"until {cond.until}")
    details = []
    if cond.min_count and cond.min_count > 1:
        details.append(f"at least {cond.min_count} orders")
    if cond.min_total is not None:
        details.append(f"totalling at least {cond.min_total}")
    return " ".join(parts) + "".join(f", {d}" for d in details)


def _text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"
