"""What the Campaign builder's template draws: a campaign definition mapping (as
`herald.web.campaign_form` reads it) turned into rows with their field keys, and each
sub-audience's criteria as the Segment Editor's condition tree (`herald.web.segment_form`)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from herald.core.campaigns.model import REMAINDER
from herald.core.catalog import Catalog
from herald.core.destinations import DestinationKind
from herald.web.campaign_form import attributes_text, rooted, totals
from herald.web.segment_form import NodeView, node_at_location, tree_of


def view_of(
    doc: Mapping[str, Any],
    kinds: Mapping[str, DestinationKind],
    catalog: Catalog,
    error_location: str | None = None,
) -> dict[str, Any]:
    """The builder's sections: sub-audiences (with the remaining recipients last), delivery
    and launch, each field with its value; ``error_path``, the form path of the criteria's
    condition a problem at ``error_location`` is in (None when it is in none)."""
    sums = totals(doc)
    subs = [
        _sub_view(sub, f"s{i}", kinds, sums.get(f"s{i}"))
        for i, sub in enumerate(doc.get("sub_audiences") or [])
    ]
    for i, sub in enumerate(subs):
        sub["tree"] = _criteria_tree(sub, i, catalog)
    remaining = {"name": REMAINDER, "groups": (doc.get("remaining") or {}).get("groups") or []}
    paths = [node_at_location(sub["tree"], error_location) for sub in subs]
    return {
        "subs": subs,
        "remaining": _sub_view(remaining, "r", kinds, sums.get("r", 0.0)),
        "delivery": _delivery_view(doc.get("delivery") or {}),
        "launch": _launch_view(doc.get("launch_date")),
        "error_path": next((path for path in paths if path), None),
    }


def _criteria_tree(sub: Mapping[str, Any], index: int, catalog: Catalog) -> NodeView | None:
    """The condition editor of a sub-audience by criteria, its root at ``s{index}.r``."""
    if sub["by"] != "criteria":
        return None
    loc = f"sub_audiences[{index}].where"
    return tree_of(rooted(sub["where"]), catalog, root=f"{sub['key']}.r", loc=loc)


def _sub_view(
    sub: Mapping[str, Any], key: str, kinds: Mapping[str, DestinationKind], total: float | None
) -> dict[str, Any]:
    where = sub.get("where")
    return {
        "key": key,
        "name": sub.get("name", ""),
        "by": "criteria" if "where" in sub else "segment",
        "segment": sub.get("segment", ""),
        "where": where,
        "where_json": json.dumps(where, default=str) if "where" in sub else "",
        "groups": [
            _group_view(g, f"{key}.g{j}", kinds) for j, g in enumerate(sub.get("groups") or [])
        ],
        "total": total,
    }


def _group_view(
    group: Mapping[str, Any], key: str, kinds: Mapping[str, DestinationKind]
) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for target in group.get("destinations") or []:
        if isinstance(target, str):
            chosen[target] = None
        elif isinstance(target, Mapping):
            chosen[str(target.get("destination"))] = target.get("attributes") or []
    return {
        "key": key,
        "name": group.get("name", ""),
        "percent": group.get("percent", ""),
        "control": bool(group.get("control")),
        "destinations": [_target_view(name, kind, chosen, key) for name, kind in kinds.items()],
    }


def _target_view(
    name: str, kind: DestinationKind, chosen: Mapping[str, Any], key: str
) -> dict[str, Any]:
    custom = chosen.get(name)
    defaults = [{"source": a.source, "field": a.field} for a in kind.default_attributes]
    return {
        "name": name,
        "label": kind.label,
        "key": f"{key}.{name}",
        "chosen": name in chosen,
        "custom": custom is not None,
        "attrs": attributes_text(custom if custom is not None else defaults),
    }


def _delivery_view(delivery: Mapping[str, Any]) -> dict[str, Any]:
    at = str(delivery.get("at") or "asap")
    end = delivery.get("end")
    return {
        "schedule": delivery.get("schedule", "once"),
        "timezone": delivery.get("timezone", "UTC"),
        "when": "asap" if at == "asap" else "at",
        "at": "" if at == "asap" else _local(at),
        "cadence": delivery.get("cadence", "daily"),
        "cron": delivery.get("cron", ""),
        "start": _local(str(delivery.get("start") or "")),
        "time": delivery.get("time", ""),
        "weekdays": [str(d).lower() for d in delivery.get("weekdays") or []],
        "day": delivery.get("day", ""),
        "end_mode": "after" if isinstance(end, Mapping) else ("on" if end else "never"),
        "end_on": end if isinstance(end, str | dt.date) else "",
        "end_after": end.get("after", "") if isinstance(end, Mapping) else "",
    }


def _local(value: str) -> str:
    """A datetime as the ``datetime-local`` input shows it."""
    return value.replace(" ", "T")[:16]


def _launch_view(launch: Any) -> dict[str, Any]:
    if isinstance(launch, Mapping):
        return {"mode": "after", "date": "", "after_days": launch.get("after_days", "")}
    if launch:
        return {"mode": "date", "date": str(launch), "after_days": ""}
    return {"mode": "none", "date": "", "after_days": ""}
