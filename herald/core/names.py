"""The rules every name follows: segments, campaigns, sub-audiences and groups.

Names become list and file names and show in terminals, so characters that are invisible or
change how text is displayed are refused: control characters (NUL included, which PostgreSQL
cannot store), format characters such as zero-width spaces and the bidirectional overrides and
isolates (U+202A–U+202E, U+2066–U+2069) that make a name read differently from what it is.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_LENGTH = 200
"""The longest name, in characters."""

_REFUSED = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character",
    "Cs": "a lone surrogate",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def name_problem(what: str, name: str) -> str | None:
    """Why ``name`` cannot be the name of a ``what``, or None when it can.

    >>> name_problem("group", "Offer A") is None
    True
    >>> name_problem("campaign", "Sale\\u202eelaS")
    'campaign name has an invisible formatting character (U+202E) at character 5; remove it'
    >>> name_problem("segment", "x" * 201)
    'segment name is 201 characters long; the limit is 200'
    """
    if len(name) > MAX_NAME_LENGTH:
        return f"{what} name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}"
    for position, char in enumerate(name, start=1):
        kind = _REFUSED.get(unicodedata.category(char))
        if kind is not None:
            return f"{what} name has {kind} (U+{ord(char):04X}) at character {position}; remove it"
    return None


def description_problem(description: str) -> str | None:
    """Why ``description`` cannot be stored, or None when it can.

    PostgreSQL cannot store a NUL character in text, so it is refused on every store alike
    (values in conditions may hold one: they are stored inside JSON, escaped).

    >>> description_problem("about \\x00 them")
    'description holds a NUL character (\\\\0), which cannot be stored; remove it'
    """
    if "\x00" in description:
        return "description holds a NUL character (\\0), which cannot be stored; remove it"
    return None
