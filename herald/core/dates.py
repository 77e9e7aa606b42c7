"""Relative dates ("today", "3 months ago") resolved at run time in UTC, at 00:00 (DESIGN §1.2)."""

from __future__ import annotations

import calendar
import datetime as dt
import email.utils
import re

_RELATIVE = re.compile(r"^\s*(\d+)\s+(day|week|month|year)s?\s+ago\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+)\s+(day|week|month|year)s?\s*$", re.IGNORECASE)
_NAMED = {"today": 0, "yesterday": -1, "tomorrow": 1}

RELATIVE_DATE_HELP = "'today', 'yesterday', 'tomorrow' or 'N days|weeks|months|years ago'"


def is_relative_date(text: str) -> bool:
    """Whether ``text`` is a relative date such as ``today`` or ``30 days ago``.

    >>> is_relative_date("30 days ago"), is_relative_date("2024-01-31")
    (True, False)
    """
    return text.strip().lower() in _NAMED or bool(_RELATIVE.match(text))


def resolve_relative_date(text: str, today: dt.date) -> dt.date:
    """The calendar date a relative date means on ``today``.

    Months and years keep the day of the month, clamped to the month's last day.

    >>> resolve_relative_date("1 month ago", dt.date(2024, 3, 31))
    datetime.date(2024, 2, 29)
    >>> resolve_relative_date("yesterday", dt.date(2024, 1, 1))
    datetime.date(2023, 12, 31)
    """
    named = _NAMED.get(text.strip().lower())
    if named is not None:
        return today + dt.timedelta(days=named)
    match = _RELATIVE.match(text)
    if not match:
        msg = f"'{text}' is not a relative date; use {RELATIVE_DATE_HELP}"
        raise ValueError(msg)
    return shift(today, -int(match.group(1)), match.group(2).lower())


def parse_duration(text: str) -> tuple[int, str]:
    """Parse a window such as ``12 months`` into ``(12, "month")``.

    >>> parse_duration("90 days")
    (90, 'day')
    """
    match = _DURATION.match(text)
    if not match:
        msg = f"'{text}' is not a duration; use 'N days', 'N weeks', 'N months' or 'N years'"
        raise ValueError(msg)
    return int(match.group(1)), match.group(2).lower()


def shift(day: dt.date, amount: int, unit: str) -> dt.date:
    """Move ``day`` by ``amount`` days, weeks, months or years.

    >>> shift(dt.date(2024, 2, 29), -1, "year")
    datetime.date(2023, 2, 28)
    """
    if unit == "day":
        return day + dt.timedelta(days=amount)
    if unit == "week":
        return day + dt.timedelta(weeks=amount)
    months = amount * (12 if unit == "year" else 1)
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    last_day = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last_day))


_SPAN_PART = re.compile(r"\s*(\d+)\s*([smhdw])", re.IGNORECASE)
_SPAN_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

SPAN_HELP = "a duration such as 90m, 2h, 1h30m or 1d (units s, m, h, d, w)"


def parse_span(text: str) -> dt.timedelta:
    """A length of time written as numbers with units: ``90m``, ``2h``, ``1h 30m``, ``7d``.

    >>> parse_span("1h30m"), parse_span(" 2 h ")
    (datetime.timedelta(seconds=5400), datetime.timedelta(seconds=7200))

    Raises:
        ValueError: for anything else, a bare number included (minutes or days?).
    """
    seconds, end = 0, 0
    for match in _SPAN_PART.finditer(text):
        if match.start() != end:
            break
        seconds += int(match.group(1)) * _SPAN_UNITS[match.group(2).lower()]
        end = match.end()
    if end == 0 or text[end:].strip():
        msg = f"'{text}' is not {SPAN_HELP}"
        raise ValueError(msg)
    return dt.timedelta(seconds=seconds)


def format_span(seconds: float) -> str:
    """``seconds`` in the units :func:`parse_span` reads, to the second below an hour and to
    the minute above.

    >>> format_span(45.4), format_span(5400), format_span(93784)
    ('45s', '1h30m', '1d2h3m')
    """
    whole = int(seconds) if seconds < 3600 else int(seconds) // 60 * 60
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, whole = divmod(whole, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"


def retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    """An HTTP ``Retry-After`` header in seconds from ``now``: a number of seconds or an HTTP
    date (one in the past is 0); None when absent or unreadable.

    >>> now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    >>> retry_after_seconds("3", now), retry_after_seconds(None, now)
    (3.0, None)
    >>> retry_after_seconds("Sun, 06 Dec 2026 12:00:30 GMT", now), retry_after_seconds("soon", now)
    (30.0, None)
    """
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())
