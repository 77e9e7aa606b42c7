"""Destination types by name: the built-in ones and those of installed plugins.

A type is a :class:`~herald.destinations.base.Destination` subclass. The built-in types are
named here (and only here, outside their own folders); a package adds one through the
``herald.destinations`` entry-point group (``my_type = "my_package.module:MyDestination"``).
Nothing is imported until a type is first asked for, so reading the names costs nothing.
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from herald.exceptions import ConfigError

if TYPE_CHECKING:
    from herald.core.destinations import DestinationKind
    from herald.destinations.base import Destination

__all__ = ["destination_class", "destination_types", "kind_of", "kinds", "register"]

ENTRY_POINT_GROUP = "herald.destinations"

_BUILT_IN: dict[str, str] = {
    "csv_file": "herald.destinations.csv_file:CsvFileDestination",
    "klaviyo_api": "herald.destinations.klaviyo_api.factory:KlaviyoApiDestination",
}

_types: dict[str, str | type[Destination]] | None = None


def _known() -> dict[str, str | type[Destination]]:
    global _types
    if _types is None:
        found: dict[str, str | type[Destination]] = dict(_BUILT_IN)
        for point in entry_points(group=ENTRY_POINT_GROUP):
            found.setdefault(point.name, point.value)
        _types = found
    return _types


def register(type_name: str, target: str | type[Destination]) -> None:
    """Add a destination type: a class, or ``"module:Class"`` imported when first needed."""
    _known()[type_name] = target


def destination_types() -> list[str]:
    """The destination types herald.toml may use, sorted."""
    return sorted(_known())


def destination_class(type_name: str) -> type[Destination]:
    """The class of a destination type.

    Raises:
        ConfigError: an unknown type, naming the known ones with a "did you mean".
    """
    known = _known()
    target = known.get(type_name)
    if target is None:
        close = difflib.get_close_matches(type_name, list(known), n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        msg = (
            f"unknown destination type {type_name!r}.{hint} "
            f"Known types: {', '.join(destination_types())}"
        )
        raise ConfigError(msg)
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
        known[type_name] = target
    return target


def kind_of(type_name: str) -> DestinationKind:
    """What a campaign group sending to this type needs and gets by default."""
    return destination_class(type_name).kind


def kinds() -> dict[str, DestinationKind]:
    """Every known type's kind, by type name."""
    return {name: kind_of(name) for name in destination_types()}
