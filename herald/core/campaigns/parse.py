"""Read campaign definitions from YAML/JSON mappings, with errors that say where."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from herald.core.campaigns.model import (
    AttributeMapping,
    Campaign,
    Delivery,
    GroupDestination,
    RecipientGroup,
    SubAudience,
)
from herald.core.catalog import did_you_mean, unknown_key
from herald.core.names import description_problem, name_problem
from herald.core.segments.parse import as_group, check_size, parse_node
from herald.core.splitting import to_basis_points
from herald.exceptions import CampaignError, DefinitionError

TOP_KEYS = (
    "kind",
    "name",
    "description",
    "status",
    "include",
    "exclude",
    "first_match_only",
    "sub_audiences",
    "remaining",
    "delivery",
    "launch_date",
    "attributes_table",
)
SUB_KEYS = ("name", "segment", "where", "groups")
GROUP_KEYS = ("name", "percent", "control", "destinations")
DEST_KEYS = ("destination", "attributes")
DELIVERY_KEYS = (
    "schedule",
    "at",
    "timezone",
    "cadence",
    "cron",
    "start",
    "end",
    "time",
    "weekdays",
    "day",
)
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$")


def parse_campaign(doc: Any, *, source: str | None = None) -> Campaign:
    """Turn a mapping into a :class:`Campaign`, or raise with the problem's place.

    >>> parse_campaign({"name": "Spring", "include": "VIPs", "remaining": {"groups": [
    ...     {"name": "All", "percent": 100, "destinations": ["files"]}]}}).remaining[0].basis_points
    10000
    """
    try:
        return _parse(doc)
    except DefinitionError as error:
        raise CampaignError(error.message, location=error.location, source=source) from None


def _parse(doc: Any) -> Campaign:
    if not isinstance(doc, Mapping):
        _fail("a campaign must be a mapping with a name", "")
    _check_keys(doc, TOP_KEYS, "")
    if doc.get("kind", "campaign") != "campaign":
        _fail(f"kind is '{doc['kind']}', expected 'campaign'", "kind")
    name = _name(doc.get("name"), "name", "campaign")
    include = _names(doc.get("include"), "include", required=True)
    remaining = doc.get("remaining")
    if remaining is not None and not isinstance(remaining, Mapping):
        _fail("'remaining' takes a mapping with 'groups'", "remaining")
    if remaining is not None:
        _check_keys(remaining, ("groups",), "remaining")
    launch = _launch(doc.get("launch_date"))
    return Campaign(
        name=name,
        include=include,
        exclude=_names(doc.get("exclude"), "exclude", required=False),
        sub_audiences=_sub_audiences(doc.get("sub_audiences")),
        remaining=_groups(remaining.get("groups"), "remaining.groups") if remaining else (),
        first_match_only=_bool(doc.get("first_match_only", True), "first_match_only"),
        delivery=_delivery(doc.get("delivery")),
        launch_date=launch[0],
        launch_after_days=launch[1],
        attributes_table=_optional_text(doc.get("attributes_table"), "attributes_table"),
        description=_description(doc.get("description")),
    )


def _sub_audiences(items: Any) -> tuple[SubAudience, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        _fail("'sub_audiences' takes a list", "sub_audiences")
    check_size(
        [
            (item["where"], f"sub_audiences[{i}].where")
            for i, item in enumerate(items)
            if isinstance(item, Mapping) and item.get("where") is not None
        ]
    )
    return tuple(_sub_audience(item, f"sub_audiences[{i}]") for i, item in enumerate(items))


def _sub_audience(item: Any, loc: str) -> SubAudience:
    if not isinstance(item, Mapping):
        _fail("a sub-audience is a mapping with name, segment or where, and groups", loc)
    _check_keys(item, SUB_KEYS, loc)
    name = _name(item.get("name"), f"{loc}.name", "sub-audience")
    if ("segment" in item) == ("where" in item):
        _fail(f"sub-audience '{name}' needs exactly one of 'segment' or 'where'", loc)
    segment = _name(item["segment"], f"{loc}.segment", "segment") if "segment" in item else None
    where = as_group(parse_node(item["where"], f"{loc}.where")) if "where" in item else None
    groups = _groups(item.get("groups"), f"{loc}.groups")
    return SubAudience(name=name, groups=groups, segment=segment, where=where, location=loc)


def _groups(items: Any, loc: str) -> tuple[RecipientGroup, ...]:
    if not isinstance(items, list) or not items:
        _fail("'groups' takes a list of recipient groups (name, percent, destinations)", loc)
    return tuple(_group(item, f"{loc}[{i}]") for i, item in enumerate(items))


def _group(item: Any, loc: str) -> RecipientGroup:
    if not isinstance(item, Mapping):
        _fail("a recipient group is a mapping with name, percent and destinations", loc)
    _check_keys(item, GROUP_KEYS, loc)
    name = _name(item.get("name"), f"{loc}.name", "group")
    if "percent" not in item:
        _fail(f"group '{name}' needs a 'percent'", f"{loc}.percent")
    percent = item["percent"]
    if isinstance(percent, bool) or not isinstance(percent, int | float | str):
        _fail(f"percent must be a number, got {percent!r}", f"{loc}.percent")
    try:
        basis_points = to_basis_points(percent)
    except ValueError as problem:
        _fail(str(problem), f"{loc}.percent")
    control = _bool(item.get("control", False), f"{loc}.control")
    destinations = _destinations(item.get("destinations"), f"{loc}.destinations")
    return RecipientGroup(name, basis_points, control, destinations, loc)


def _destinations(items: Any, loc: str) -> tuple[GroupDestination, ...]:
    if items is None:
        return ()
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list):
        _fail("'destinations' takes a list of destination names or mappings", loc)
    return tuple(_destination(item, f"{loc}[{i}]") for i, item in enumerate(items))


def _destination(item: Any, loc: str) -> GroupDestination:
    if isinstance(item, str):
        return GroupDestination(_name(item, loc, "destination"), None, loc)
    if not isinstance(item, Mapping):
        _fail("a destination is a name or a mapping with destination and attributes", loc)
    _check_keys(item, DEST_KEYS, loc)
    name = _name(item.get("destination"), f"{loc}.destination", "destination")
    attrs = item.get("attributes")
    if attrs is None:
        return GroupDestination(name, None, loc)
    if not isinstance(attrs, list) or not attrs:
        _fail("'attributes' takes a non-empty list", f"{loc}.attributes")
    mappings = tuple(_attribute(a, f"{loc}.attributes[{i}]") for i, a in enumerate(attrs))
    return GroupDestination(name, mappings, loc)


def _attribute(item: Any, loc: str) -> AttributeMapping:
    """``column``, ``{Table.column: field}`` or ``{source: Table.column, field: name}``."""
    if isinstance(item, str) and item.strip():
        return AttributeMapping(item.strip(), item.strip().rpartition(".")[2], loc)
    if isinstance(item, Mapping) and set(item) == {"source", "field"}:
        source, target = item["source"], item["field"]
    elif isinstance(item, Mapping) and len(item) == 1:
        source, target = next(iter(item.items()))
    else:
        _fail("an attribute is 'column', '{column: field}' or '{source: …, field: …}'", loc)
    if not isinstance(source, str) or not isinstance(target, str) or not source or not target:
        _fail("an attribute's source and field must be non-empty text", loc)
    return AttributeMapping(source.strip(), target.strip(), loc)


def _delivery(doc: Any) -> Delivery:
    if doc is None:
        return Delivery()
    if not isinstance(doc, Mapping):
        _fail(
            "'delivery' takes a mapping (schedule, at, cadence, start, end, timezone)", "delivery"
        )
    _check_keys(doc, DELIVERY_KEYS, "delivery")
    mode = doc.get("schedule", "once")
    if mode not in ("once", "recurring"):
        _fail(f"schedule must be 'once' or 'recurring', got {mode!r}", "delivery.schedule")
    timezone = _timezone(doc.get("timezone"))
    return _once(doc, timezone) if mode == "once" else _recurring(doc, timezone)


def _once(doc: Mapping[str, Any], timezone: str) -> Delivery:
    for key in ("cadence", "cron", "start", "end", "time", "weekdays", "day"):
        if key in doc:
            _fail(f"'{key}' is for recurring delivery; this one is once", f"delivery.{key}")
    at = doc.get("at", "asap")
    moment = None if at in (None, "asap") else _datetime(at, "delivery.at", timezone)
    return Delivery("once", at=moment, timezone=timezone)


def _recurring(doc: Mapping[str, Any], timezone: str) -> Delivery:
    if "at" in doc:
        _fail("'at' is for one-time delivery; recurring uses 'start'", "delivery.at")
    cadence = doc.get("cadence")
    if cadence not in ("daily", "weekly", "monthly", "cron"):
        _fail(
            "recurring delivery needs cadence: daily, weekly, monthly or cron", "delivery.cadence"
        )
    cron = _cron(doc.get("cron"), cadence)
    _check_cadence_keys(doc, cadence)
    start = doc.get("start")
    end_on, end_after = _end(doc.get("end", "never"))
    return Delivery(
        "recurring",
        timezone=timezone,
        cadence=cadence,
        cron=cron,
        start=_datetime(start, "delivery.start", timezone) if start is not None else None,
        end_on=end_on,
        end_after=end_after,
        time=_time(doc["time"]) if "time" in doc else None,
        weekdays=_weekdays(doc["weekdays"]) if "weekdays" in doc else (),
        day=_day(doc["day"]) if "day" in doc else None,
    )


def _cron(value: Any, cadence: str) -> str | None:
    cron = _optional_text(value, "delivery.cron")
    if (cadence == "cron") != (cron is not None):
        _fail("give 'cron' (5 fields) exactly when cadence is cron", "delivery.cron")
    if cron is not None and len(cron.split()) != 5:
        _fail(f"cron '{cron}' must have 5 fields: minute hour day month weekday", "delivery.cron")
    if cron is not None:
        _check_cron(cron)
    return cron


_CADENCE_KEYS = {
    "time": (("daily", "weekly", "monthly"), "put the time in the cron expression instead"),
    "weekdays": (("weekly",), "use cadence: weekly, or remove it"),
    "day": (("monthly",), "use cadence: monthly, or remove it"),
}


def _check_cadence_keys(doc: Mapping[str, Any], cadence: str) -> None:
    """``time``, ``weekdays`` and ``day`` only with the cadences they belong to."""
    for key, (cadences, advice) in _CADENCE_KEYS.items():
        if key in doc and cadence not in cadences:
            _fail(
                f"'{key}' is for {_either(cadences)} delivery; this one is {cadence}: {advice}",
                f"delivery.{key}",
            )


def _either(words: tuple[str, ...]) -> str:
    return " or ".join(words) if len(words) < 3 else f"{', '.join(words[:-1])} or {words[-1]}"


_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


def _time(value: Any) -> dt.time:
    """``"HH:MM"`` on a 24-hour clock; YAML reads an unquoted ``9:30`` as a number."""
    if isinstance(value, dt.time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    match = _TIME.match(value.strip()) if isinstance(value, str) else None
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        _fail(f'time must be "HH:MM" (24-hour, quoted), got {value!r}', "delivery.time")
    return dt.time(int(match.group(1)), int(match.group(2)))


WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


def _weekdays(value: Any) -> tuple[int, ...]:
    """Weekday names (``mon`` … ``sun``, any case) or numbers (0 = Monday … 6 = Sunday)."""
    items = value if isinstance(value, list) else [value]
    if not items:
        _fail("'weekdays' needs at least one day, such as [mon, thu]", "delivery.weekdays")
    loc = "delivery.weekdays" if not isinstance(value, list) else None
    return tuple(
        sorted({_weekday(item, loc or f"delivery.weekdays[{i}]") for i, item in enumerate(items)})
    )


def _weekday(item: Any, loc: str) -> int:
    if isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 6:
        return item
    name = item.strip().lower() if isinstance(item, str) else None
    if name in WEEKDAY_NAMES:
        return WEEKDAY_NAMES.index(name)
    if name in _FULL_DAY_NAMES:
        return _FULL_DAY_NAMES.index(name)
    _fail(
        f"weekday {item!r} is not a day; use mon, tue, wed, thu, fri, sat, sun "
        "or 0 (Monday) to 6 (Sunday)",
        loc,
    )


def _day(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 31:
        return value
    _fail(
        f"day must be a day of the month from 1 to 31 (29-31 mean the last day of shorter "
        f"months), got {value!r}",
        "delivery.day",
    )


def _timezone(value: Any) -> str:
    """An IANA time zone name (runs date one-time files in it), checked here, not at run time."""
    name = _optional_text(value, "delivery.timezone") or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        hint = did_you_mean(name, available_timezones())
        _fail(
            f"unknown time zone '{name}'.{hint} Use an IANA name such as 'America/Los_Angeles'",
            "delivery.timezone",
        )
    return name


_CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("weekday", 0, 7),
)
_CRON_NAMES = {
    "month": {
        m: i + 1
        for i, m in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    },
    "weekday": {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}
_CRON_ITEM = re.compile(r"^(?:\*|(\w+)(?:-(\w+))?)(?:/(\d+))?$")


def _check_cron(cron: str) -> None:
    """Each of the 5 fields is ``*``, a value, a range, a step or a list of them, in range."""
    for text, (field_name, low, high) in zip(cron.split(), _CRON_FIELDS, strict=True):
        for item in text.split(","):
            match = _CRON_ITEM.match(item)
            if match is None or match.group(3) == "0":
                _fail(
                    f"cron '{cron}': {field_name} '{item}' is not *, a value, a range, "
                    "a step or a list",
                    "delivery.cron",
                )
            for value in match.group(1, 2):
                if value is None:
                    continue
                number = _CRON_NAMES.get(field_name, {}).get(value.lower())
                if number is None and not value.isdigit():
                    _fail(f"cron '{cron}': {field_name} '{value}' is not a number", "delivery.cron")
                number = int(value) if number is None else number
                if not low <= number <= high:
                    _fail(
                        f"cron '{cron}': {field_name} {number} is not between {low} and {high}",
                        "delivery.cron",
                    )


def _end(value: Any) -> tuple[dt.date | None, int | None]:
    if value in (None, "never"):
        return None, None
    if isinstance(value, Mapping) and set(value) == {"after"}:
        after = value["after"]
        if isinstance(after, bool) or not isinstance(after, int) or after < 1:
            _fail("'end: {after: N}' needs a whole number of sends ≥ 1", "delivery.end.after")
        return None, after
    return _date(value, "delivery.end"), None


def _launch(value: Any) -> tuple[dt.date | None, int | None]:
    """``launch_date``: a date, or ``{after_days: N}`` days after the delivery date."""
    if not isinstance(value, Mapping):
        return _date(value, "launch_date"), None
    if set(value) != {"after_days"}:
        _fail("launch_date takes a date YYYY-MM-DD or {after_days: N}", "launch_date")
    days = value["after_days"]
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        _fail(
            f"'launch_date: {{after_days: N}}' needs a whole number of days ≥ 0, got {days!r}",
            "launch_date.after_days",
        )
    return None, days


def _datetime(value: Any, loc: str, timezone: str) -> dt.datetime:
    """A wall time in ``timezone``; one written with an offset is turned into that wall time."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(ZoneInfo(timezone)).replace(tzinfo=None, fold=0)
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, str) and _DATETIME.match(value.strip()):
        try:
            return _datetime(dt.datetime.fromisoformat(value.strip()), loc, timezone)
        except ValueError:
            pass
    _fail(f"expected a date and time 'YYYY-MM-DD HH:MM', got {value!r}", loc)
    raise AssertionError  # unreachable: _fail raises


def _date(value: Any, loc: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    _fail(f"expected a date YYYY-MM-DD, got {value!r}", loc)
    return None


def _names(value: Any, loc: str, *, required: bool) -> tuple[str, ...]:
    if value is None:
        if required:
            _fail("a campaign needs at least one 'include' segment", loc)
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or (required and not items):
        _fail(f"'{loc}' takes a segment name or a list of them", loc)
    return tuple(_name(item, f"{loc}[{i}]", "segment") for i, item in enumerate(items))


def _name(value: Any, loc: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(f"a {what} needs a non-empty name", loc)
    if value != value.strip():
        _fail(f"{what} name '{value.strip()}' has leading or trailing spaces; remove them", loc)
    problem = name_problem(what, value)
    if problem:
        _fail(problem, loc)
    return value


def _bool(value: Any, loc: str) -> bool:
    if not isinstance(value, bool):
        _fail(f"expected true or false, got {value!r}", loc)
    return value


def _description(value: Any) -> str | None:
    text = _optional_text(value, "description")
    problem = description_problem(text) if text else None
    if problem:
        _fail(problem, "description")
    return text


def _optional_text(value: Any, loc: str) -> str | None:
    if value is not None and not isinstance(value, str):
        _fail("expected text", loc)
    return value


def _check_keys(node: Mapping[str, Any], allowed: tuple[str, ...], loc: str) -> None:
    problem = unknown_key(node, allowed, loc)
    if problem:
        _fail(*problem)


def _fail(message: str, loc: str) -> NoReturn:
    raise CampaignError(message, location=loc or None)
