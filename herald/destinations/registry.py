"""Destination types by name (the built-in ones and those of installed plugins), and the
reading of a ``[destinations.NAME]`` table with its type's settings model.

A type is a :class:`~herald.destinations.base.Destination` subclass. The built-in types are
named here (and only here, outside their own folders); a package adds one through the
``herald.destinations`` entry-point group (``my_type = "my_package.module:MyDestination"``).
Nothing is imported until a type is first asked for, so reading the names costs nothing.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from herald.destinations.settings import DestinationSettings
from herald.exceptions import ConfigError

if TYPE_CHECKING:
    from herald.core.destinations import DestinationKind
    from herald.destinations.base import Destination

__all__ = [
    "destination_class",
    "destination_model",
    "destination_types",
    "kind_of",
    "kinds",
    "parse_destination",
    "register",
]

ENTRY_POINT_GROUP = "herald.destinations"

_BUILT_IN: dict[str, str] = {
    "csv_file": "herald.destinations.csv_file:CsvFileDestination",
    "klaviyo_api": "herald.destinations.klaviyo_api.factory:KlaviyoApiDestination",
    "klaviyo_sftp": "herald.destinations.klaviyo_sftp.factory:KlaviyoSftpDestination",
    "sftp": "herald.destinations.sftp.factory:SftpDestination",
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


# A key whose name, lower-cased without separators, holds one of these is a secret written
# inline ("API_KEY", "apikey", "Api-Key", "klaviyo_private_key"), unless it ends in env/file.
_SECRET_WORDS = ("apikey", "password", "passwd", "privatekey", "token", "secret", "key")


def destination_model(type_name: str) -> type[DestinationSettings]:
    """The settings model of a destination type.

    Raises:
        ConfigError: an unknown type, naming the known ones with a "did you mean".
    """
    return destination_class(type_name).settings_model


def parse_destination(
    name: str, table: Any, *, source: str | os.PathLike[str] = "herald.toml"
) -> DestinationSettings:
    """Read one ``[destinations.NAME]`` table with the model of its type.

    Raises:
        ConfigError: naming ``source``, the destination and the key: a missing or unknown
            type, a secret written inline, an unknown key (with "did you mean"), a bad value.
            A secret's value is never part of the message.
    """
    where = f"{source}: [destinations.{name}]"
    if not isinstance(table, Mapping):
        msg = f'{where} must be a table such as {{ type = "csv_file", folder = "exports" }}'
        raise ConfigError(msg)
    kind = table.get("type")
    if not isinstance(kind, str) or not kind.strip():
        msg = f"{where} needs a type, one of: {', '.join(destination_types())}"
        raise ConfigError(msg)
    try:
        model = destination_model(kind.strip())
    except ConfigError as error:
        msg = f"{where} has an {error}"
        raise ConfigError(msg) from None
    _refuse_inline_secrets(table, model, where)
    _refuse_unknown_keys(table, model, where)
    try:
        return model.model_validate({**table, "type": kind.strip()})
    except ValidationError as error:
        msg = f"{where} {_first_problem(error)}"
        raise ConfigError(msg) from None


def _refuse_inline_secrets(
    table: Mapping[str, Any], model: type[DestinationSettings], where: str
) -> None:
    for key in table:
        bare = _bare(str(key))
        # A host key fingerprint names a public key: no secret, though its name says "key".
        references = ("env", "file", "fingerprint")
        if bare.endswith(references) or not any(w in bare for w in _SECRET_WORDS):
            continue
        takes = [f for f in model.model_fields if f.endswith(("_env", "_file"))]
        how = (
            f"secrets never go in herald.toml: put it in an environment variable or a file "
            f"and name that with {' or '.join(takes)}"
            if takes
            else f"secrets never go in herald.toml, and a {table['type']} destination takes none"
        )
        msg = f"{where} has the secret {str(key)!r} written in the file; {how}"
        raise ConfigError(msg)


def _refuse_unknown_keys(
    table: Mapping[str, Any], model: type[DestinationSettings], where: str
) -> None:
    known = list(model.model_fields)
    bare = {_bare(k): k for k in known}  # "BASE-URL" and "baseurl" mean base_url
    for key in table:
        if key in known:
            continue
        same = bare.get(_bare(str(key)))
        close = [same] if same else difflib.get_close_matches(str(key).lower(), known, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        msg = (
            f"{where} has an unknown key {str(key)!r}.{hint} "
            f"A {table['type']} destination takes: {', '.join(k for k in known if k != 'type')}"
        )
        raise ConfigError(msg)


def _bare(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    if first["type"] == "value_error":
        return str(first["ctx"]["error"])  # our own message, which names the key
    return f"{where}: {first['msg']}" if where else str(first["msg"])
