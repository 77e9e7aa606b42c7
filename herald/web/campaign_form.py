"""The Campaign builder's form and the campaign definition, both ways.

The builder edits the very mapping ``herald apply`` accepts (`herald.core.campaigns.serialize.
campaign_to_doc`): the form's fields are read into that mapping (`doc_of_form`), the page is
drawn from it (`herald.web.campaign_view.view_of`), and the add, remove and move buttons change
it (`edit`). Nothing here checks the definition: `herald.campaigns.Campaigns.parse` and
``validate`` do, so the builder and the YAML refuse the same things with the same messages.

Field names: ``s{i}.name`` (sub-audience *i*), ``s{i}.g{j}.percent`` (its group *j*), ``r.g{j}``
for All Remaining Recipients, ``d.*`` for the delivery, ``l.*`` for the launch date.

The criteria of a sub-audience are the Segment Editor's condition editor rooted at ``s{i}.r``
(`herald.web.segment_form`; the template ``_campaign_criteria.html``), read into the ``where``
mapping a segment has; ``s{i}.where`` holds, as JSON, the criteria the page was drawn from, kept
when the fields still show them (`criteria_of_form`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.datastructures import FormData

from herald.core.campaigns.model import REMAINDER
from herald.core.catalog import Catalog
from herald.core.segments.parse import parse_node
from herald.exceptions import DefinitionError, HeraldError
from herald.redact import redact
from herald.web.segment_form import (
    GROUP_KINDS,
    apply_action,
    blank_condition,
    tree_of,
    where_of,
)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CADENCES = ("daily", "weekly", "monthly", "cron")


def new_doc() -> dict[str, Any]:
    """A campaign to start from: everyone included goes to one group."""
    return {
        "kind": "campaign",
        "name": "",
        "include": [],
        "remaining": {"groups": [new_group("All", 100)]},
        "delivery": {"schedule": "once", "timezone": "UTC", "at": "asap"},
    }


def new_group(name: str, percent: float) -> dict[str, Any]:
    return {"name": name, "percent": percent, "destinations": []}


# --- form → definition ----------------------------------------------------------------------


def doc_of_form(form: FormData, catalog: Catalog) -> dict[str, Any]:
    """The campaign definition the builder's form describes (unchecked)."""
    doc: dict[str, Any] = {"kind": "campaign", "name": _text(form, "name")}
    if description := _text(form, "description"):
        doc["description"] = description
    doc["include"] = form.getlist("include")
    if exclude := form.getlist("exclude"):
        doc["exclude"] = exclude
    if "first_match_only" not in form:
        doc["first_match_only"] = False
    if table := _text(form, "attributes_table"):
        doc["attributes_table"] = table
    subs = [_sub_of_form(form, f"s{i}", catalog) for i in range(_count(form, "subs"))]
    if subs:
        doc["sub_audiences"] = subs
    remaining = _groups_of_form(form, "r")
    if remaining:
        doc["remaining"] = {"groups": remaining}
    doc["delivery"] = _delivery_of_form(form)
    if launch := _launch_of_form(form):
        doc["launch_date"] = launch
    return doc


def _text(form: FormData, key: str) -> str:
    return str(form.get(key) or "").strip()


def _count(form: FormData, key: str) -> int:
    value = _text(form, key)
    return min(int(value), 100) if value.isdigit() else 0


def _number(value: str) -> Any:
    """A number when the text is one; else the text, for the parser to name the problem."""
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number == int(number) else number


def _sub_of_form(form: FormData, key: str, catalog: Catalog) -> dict[str, Any]:
    sub: dict[str, Any] = {"name": _text(form, f"{key}.name")}
    if _text(form, f"{key}.by") == "criteria":
        sub["where"] = criteria_of_form(form, key, catalog)
    else:
        sub["segment"] = _text(form, f"{key}.segment")
    sub["groups"] = _groups_of_form(form, key)
    return sub


def criteria_of_form(form: FormData, key: str, catalog: Catalog) -> Any:
    """The criteria of sub-audience ``key`` from its condition editor; the criteria the page
    was drawn from (``<key>.where``) when the editor shows them unchanged, so that a campaign
    written in YAML (a bare condition, ``op: is exactly``) saves back as it was written."""
    where = where_of(form.getlist, f"{key}.r") or rooted(None)  # type: ignore[arg-type]
    if _text(form, "action").partition(":")[2].startswith(f"{key}."):
        return where  # a button changes this tree: the form's own shape has its paths
    try:
        drawn = json.loads(_text(form, f"{key}.where"))
        parse_node(drawn, "where")  # so that a made-up field cannot trip the comparison
    except (ValueError, DefinitionError):
        return where
    if tree_of(rooted(drawn), catalog) == tree_of(rooted(where), catalog):
        return drawn
    return where


def rooted(where: Any) -> dict[str, Any]:
    """Criteria under a root group, as the condition editor shows them (YAML may give one
    condition, or a list meaning all of them); a blank condition when there are none."""
    if isinstance(where, list):
        return {"all": where}
    if isinstance(where, dict) and any(kind in where for kind in GROUP_KINDS):
        return where
    return {"all": [where if isinstance(where, dict) and where else blank_condition()]}


def _groups_of_form(form: FormData, key: str) -> list[dict[str, Any]]:
    return [_group_of_form(form, f"{key}.g{j}") for j in range(_count(form, f"{key}.groups"))]


def _group_of_form(form: FormData, key: str) -> dict[str, Any]:
    group: dict[str, Any] = {
        "name": _text(form, f"{key}.name"),
        "percent": _number(_text(form, f"{key}.percent")),
    }
    if f"{key}.control" in form:
        group["control"] = True
    else:
        group["destinations"] = [
            _destination_of_form(form, f"{key}.{name}", str(name))
            for name in form.getlist(f"{key}.dest")
        ]
    return group


def _destination_of_form(form: FormData, key: str, name: str) -> str | dict[str, Any]:
    if f"{key}.custom" not in form:
        return name  # the destination's default attributes
    return {"destination": name, "attributes": parse_attributes(_text(form, f"{key}.attrs"))}


def parse_attributes(text: str) -> list[dict[str, str]]:
    """``source -> field`` lines (a bare ``column`` sends it under its own name)."""
    found = []
    for line in text.splitlines():
        if not line.strip():
            continue
        source, _, field = line.partition("->")
        found.append({"source": source.strip(), "field": (field or source).strip()})
    return found


def attributes_text(attributes: Sequence[Mapping[str, str]]) -> str:
    return "\n".join(f"{a['source']} -> {a['field']}" for a in attributes)


def _delivery_of_form(form: FormData) -> dict[str, Any]:
    delivery: dict[str, Any] = {
        "schedule": _text(form, "d.schedule") or "once",
        "timezone": _text(form, "d.timezone") or "UTC",
    }
    if delivery["schedule"] == "once":
        at = _text(form, "d.at").replace("T", " ")
        delivery["at"] = at if _text(form, "d.when") == "at" and at else "asap"
        return delivery
    cadence = _text(form, "d.cadence") or "daily"
    delivery["cadence"] = cadence
    optional = {
        "cron": _text(form, "d.cron") if cadence == "cron" else "",
        "start": _text(form, "d.start").replace("T", " "),
        "time": _text(form, "d.time") if cadence != "cron" else "",
        "day": _number(_text(form, "d.day"))
        if cadence == "monthly" and _text(form, "d.day")
        else "",
    }
    delivery.update({k: v for k, v in optional.items() if v != ""})
    if cadence == "weekly" and (days := form.getlist("d.weekdays")):
        delivery["weekdays"] = days
    if end := _end_of_form(form):
        delivery["end"] = end
    return delivery


def _end_of_form(form: FormData) -> Any:
    mode = _text(form, "d.end_mode")
    if mode == "on":
        return _text(form, "d.end_on") or None
    if mode == "after":
        return {"after": _number(_text(form, "d.end_after"))}
    return None


def _launch_of_form(form: FormData) -> Any:
    mode = _text(form, "l.mode")
    if mode == "date":
        return _text(form, "l.date") or None
    if mode == "after":
        return {"after_days": _number(_text(form, "l.after_days"))}
    return None


def problem_of(error: HeraldError) -> dict[str, Any]:
    """A refused definition as the page shows it: one line on top, and the problem alone
    beside the criteria's condition it is in (`view_of`'s ``error_path``), as in the editor."""
    return {
        "errors": [redact(str(error)).splitlines()[0]],
        "error_location": getattr(error, "location", None),
        "error_inline": redact(str(getattr(error, "message", error))).splitlines()[0],
    }


# --- the add, remove and move buttons -------------------------------------------------------


def edit(doc: dict[str, Any], op: str) -> dict[str, Any]:
    """Apply one builder button, such as ``add-sub``, ``up-sub:1`` or ``remove-group:s0:2``."""
    verb, _, where = op.partition(":")
    subs: list[dict[str, Any]] = doc.setdefault("sub_audiences", [])
    if verb == "add-sub":
        name = f"Sub-audience {len(subs) + 1}"
        subs.append({"name": name, "segment": "", "groups": [new_group("All", 100)]})
    elif verb in ("remove-sub", "up-sub", "down-sub") and where.isdigit():
        _move(subs, int(where), verb)
    elif verb == "add-group":
        groups = _groups_at(doc, where)
        groups.append(new_group(f"Group {len(groups) + 1}", 0))
    elif verb == "remove-group":
        key, _, index = where.rpartition(":")
        groups = _groups_at(doc, key)
        if index.isdigit() and int(index) < len(groups):
            groups.pop(int(index))
    if not subs:
        doc.pop("sub_audiences")
    return doc


def edit_criteria(doc: dict[str, Any], action: str) -> str | None:
    """Apply one button of a sub-audience's condition editor (``add:s0.r.1:group``,
    ``remove:s0.r.0``); what is wrong when it names no condition of the form (else None)."""
    key = action.partition(":")[2].partition(".")[0]
    index = int(key[1:]) if key[:1] == "s" and key[1:].isdigit() else -1
    subs = doc.get("sub_audiences") or []
    if not 0 <= index < len(subs) or "where" not in subs[index]:
        return f"the builder's form is out of date ({action}); open the campaign again"
    return apply_action(subs[index], action, root=f"{key}.r")


def _move(items: list[Any], index: int, verb: str) -> None:
    if index >= len(items):
        return
    if verb == "remove-sub":
        items.pop(index)
        return
    other = index - 1 if verb == "up-sub" else index + 1
    if 0 <= other < len(items):
        items[index], items[other] = items[other], items[index]


def _groups_at(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    if key == "r":
        groups: list[dict[str, Any]] = doc.setdefault("remaining", {}).setdefault("groups", [])
        return groups
    index = int(key[1:]) if key[1:].isdigit() else -1
    subs = doc.get("sub_audiences") or []
    if not 0 <= index < len(subs):
        return []
    found: list[dict[str, Any]] = subs[index].setdefault("groups", [])
    return found


# --- percentages ----------------------------------------------------------------------------


def percent_total(values: list[Any]) -> float | None:
    """The sum of the percentages, or None when one is not a number."""
    total = 0.0
    for value in values:
        number = _number(str(value).strip() or "0")
        if isinstance(number, str):
            return None
        total += number
    return round(total, 2)


def totals(doc: Mapping[str, Any]) -> dict[str, float | None]:
    """Each sub-audience's percent total, by field key (``s0``, …, ``r``)."""
    found = {
        f"s{i}": percent_total([g.get("percent", 0) for g in sub.get("groups") or []])
        for i, sub in enumerate(doc.get("sub_audiences") or [])
    }
    remaining = (doc.get("remaining") or {}).get("groups") or []
    if remaining:
        found["r"] = percent_total([g.get("percent", 0) for g in remaining])
    return found


def total_problems(doc: Mapping[str, Any]) -> list[str]:
    """One line per sub-audience whose percentages do not total 100."""
    subs = doc.get("sub_audiences") or []
    names = [s.get("name") or f"sub-audience {i + 1}" for i, s in enumerate(subs)] + [REMAINDER]
    problems = []
    for key, total in totals(doc).items():
        name = names[-1] if key == "r" else names[int(key[1:])]
        if total != 100:
            shown = "not a number" if total is None else f"{total:g}%"
            problems.append(f"the groups of '{name}' total {shown}: make them total 100%")
    return problems
