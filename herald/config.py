"""Typed settings read from a workspace's ``herald.toml``.

Secrets never live in the file: a destination names the environment variable
(``api_key_env``) or the file (``api_key_file``) that holds its key.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from herald.exceptions import ConfigError
from herald.redact import register_secret

# A key whose name, lower-cased without separators, holds one of these is a secret written
# inline ("API_KEY", "apikey", "Api-Key", "klaviyo_private_key"), unless it ends in env/file.
_SECRET_WORDS = ("apikey", "password", "passwd", "privatekey", "token", "secret", "key")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_KLAVIYO_KEY = re.compile(r"pk_[A-Za-z0-9_]{4,}")
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineSettings(_Section):
    name: str = "duckdb"
    """The engine: ``duckdb`` (default)."""
    database: str = "data/customers.duckdb"
    """The database file, relative to the workspace folder."""
    threads: int | None = None
    """Worker threads; all cores when unset."""
    memory_limit: str | None = None
    """Such as ``"4GB"``; the engine's default when unset."""


class DatabaseSettings(_Section):
    customer_key: str = "amperity_id"
    """The column every table joins on."""
    base_table: str = "Customer_360"
    """Every segment starts from all customers of this table."""
    customer_tables: list[str] = Field(
        default_factory=lambda: [
            "Customer_360",
            "Merged_Customers",
            "Customer_Attributes",
            "Transaction_Attributes_Extended",
        ]
    )
    """Tables with at most one row per customer."""
    transactions_table: str = "Unified_Transactions"
    items_table: str = "Unified_Itemized_Transactions"
    attributes_table: str = "Merged_Customers"
    """Where attributes sent to destinations come from by default."""

    def catalog_roles(self) -> dict[str, Any]:
        return {
            "customer_key": self.customer_key,
            "base_table": self.base_table,
            "customer_tables": frozenset(t.lower() for t in self.customer_tables),
            "transactions_table": self.transactions_table,
            "items_table": self.items_table,
        }


class StateSettings(_Section):
    url: str = "sqlite:///.herald/state.db"
    """SQLAlchemy URL; a relative SQLite path is relative to the workspace folder."""


class RunsSettings(_Section):
    retention_days: int = Field(default=30, ge=1)
    """Days a finished run keeps its files holding emails and phones (snapshot, prepared and
    diff files); ``herald runs prune`` and each ``campaign run`` remove older ones."""


# --- destinations -----------------------------------------------------------------------------


class DestinationSettings(_Section):
    """One ``[destinations.NAME]`` table. Each destination type extends it with its own keys
    (its ``settings_model``, see :mod:`herald.destinations.base`); a key the type does not
    take is an error, so a typo such as ``baseurl`` cannot silently leave a default in place."""

    type: str
    """The destination type, such as ``klaviyo_api`` or ``csv_file``."""


class SecretSettings(DestinationSettings):
    """A destination with an API key, read from ``api_key_env`` or ``api_key_file``."""

    api_key_env: str | None = None
    """The environment variable that holds the key, such as ``KLAVIYO_API_KEY``."""
    api_key_file: str | None = None
    """A file whose first line is the key."""

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        # The message never repeats the value: it may be the key itself.
        if value is None or (_ENV_NAME.fullmatch(value) and not _looks_like_key(value)):
            return value
        if _looks_like_key(value):
            msg = (
                "api_key_env must name an environment variable such as KLAVIYO_API_KEY; "
                "the value given looks like a key: put the key in that variable"
            )
        else:
            msg = (
                "api_key_env must name an environment variable such as KLAVIYO_API_KEY "
                "(letters, digits and _, not starting with a digit)"
            )
        raise ValueError(msg)

    @field_validator("api_key_file")
    @classmethod
    def _file_name(cls, value: str | None) -> str | None:
        # Only the key's own shape: a path has digits, letters and no "_" often enough.
        if value is not None and _KLAVIYO_KEY.match(value):
            msg = (
                "api_key_file must name the file that holds the key; "
                "the value given looks like a key: put the key in that file"
            )
            raise ValueError(msg)
        return value


def _looks_like_key(value: str) -> bool:
    """A Klaviyo private key, or a long run of mixed letters and digits with no ``_``."""
    if _KLAVIYO_KEY.match(value):
        return True
    mixed = any(c.isdigit() for c in value) and any(c.islower() for c in value)
    return len(value) >= 20 and mixed and "_" not in value


def destination_model(type_name: str) -> type[DestinationSettings]:
    """The settings model of a destination type (see :mod:`herald.destinations.registry`).

    Raises:
        ConfigError: an unknown type, naming the known ones with a "did you mean".
    """
    from herald.destinations.registry import destination_class

    return destination_class(type_name).settings_model


def destination_types() -> list[str]:
    """The destination types herald.toml may use, sorted."""
    from herald.destinations.registry import destination_types as types

    return types()


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
        if bare.endswith(("env", "file")) or not any(w in bare for w in _SECRET_WORDS):
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


class Settings(_Section):
    engine: EngineSettings = Field(default_factory=EngineSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    runs: RunsSettings = Field(default_factory=RunsSettings)
    destinations: dict[str, SerializeAsAny[DestinationSettings]] = Field(default_factory=dict)

    @field_validator("destinations", mode="before")
    @classmethod
    def _typed_destinations(cls, value: Any, info: ValidationInfo) -> Any:
        # Each table becomes its type's model here; ConfigError passes through pydantic.
        if not isinstance(value, Mapping):
            return value
        source = (info.context or {}).get("source", "herald.toml")
        return {
            name: table
            if isinstance(table, DestinationSettings)
            else parse_destination(str(name), table, source=source)
            for name, table in value.items()
        }


def load_settings(path: Path) -> Settings:
    """Read and check ``herald.toml``.

    Raises:
        ConfigError: naming the file, the key and what to change.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        msg = f"{path} is not UTF-8 text: save it as UTF-8"
        raise ConfigError(msg) from None
    except OSError as error:
        msg = f"cannot read {path}: {error.strerror}"
        raise ConfigError(msg) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        msg = f"{path}: not valid TOML: {error}"
        raise ConfigError(msg) from None
    try:
        return Settings.model_validate(data, context={"source": str(path)})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = f"{path}: [{where}] {first['msg']}"
        raise ConfigError(msg) from None


# --- secrets ----------------------------------------------------------------------------------


def read_secret(settings: DestinationSettings, key: str, destination: str) -> str:
    """The secret ``key`` of a destination, from its ``{key}_env`` variable or ``{key}_file``.

    A file is read as its first line, stripped. The value is registered with
    :func:`herald.redact.register_secret`, so no message, log line or stored error shows it.

    Raises:
        ConfigError: when neither is set, the variable or file is empty, or the secret has a
            line break, a space or an invisible character inside; the secret itself is never
            part of the message.
    """
    env_name = getattr(settings, f"{key}_env", None)
    file_name = getattr(settings, f"{key}_file", None)
    prefix = f"destination '{destination}':"
    if env_name:
        return _checked_secret(
            os.environ.get(str(env_name), "").strip(),
            missing=f"{prefix} the environment variable {env_name} ({key}) is not set",
            where=f"{prefix} the {key} in the environment variable {env_name}",
        )
    if file_name:
        return _checked_secret(
            _first_line(Path(str(file_name)).expanduser(), f"{prefix} {key}_file '{file_name}'"),
            missing=f"{prefix} {key}_file '{file_name}' is empty",
            where=f"{prefix} the {key} in {file_name}",
        )
    msg = (
        f"destination '{destination}' needs "
        f'{key}_env = "VARIABLE" or {key}_file = "PATH" in herald.toml'
    )
    raise ConfigError(msg)


def _checked_secret(value: str, *, missing: str, where: str) -> str:
    """``value`` registered with the redactor (before any check can fail and quote it), then
    refused when it is empty or has characters no key has."""
    register_secret(value)
    if not value:
        raise ConfigError(missing)
    check_secret(value, where)
    return value


def _first_line(path: Path, what: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        msg = f"{what}: cannot read it: {error.strerror}"
        raise ConfigError(msg) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        msg = f"{what} is not UTF-8 text: write the key as plain text"
        raise ConfigError(msg) from None
    # Only "\n" ends the line: a lone "\r" or U+2028 inside is a line break in the key.
    return text.strip().split("\n", 1)[0].strip()


def check_secret(value: str, what: str) -> None:
    """Refuse a secret with a line break, a space, an invisible or a non-ASCII character
    inside: an HTTP header cannot carry it, and the message would otherwise show it.

    Args:
        value: the secret.
        what: names it, such as ``the api_key in ~/.klaviyo``; starts the message.

    Raises:
        ConfigError: ``{what} has a line break`` (or a space, an invisible character, a
            character that is not plain ASCII); the value is never part of it.
    """
    for char in value:
        if char in _LINE_BREAKS:
            problem = "a line break: keep only the key, on one line"
        elif char.isspace():
            problem = "a space inside: keep only the key, without spaces"
        elif unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs", "Cn"):
            problem = (
                "an invisible character (such as a zero-width space) inside: "
                "type the key again or copy it from Klaviyo as plain text"
            )
        elif not " " < char < "\x7f":
            problem = "a character that is not plain ASCII: keys are letters, digits and _"
        else:
            continue
        msg = f"{what} has {problem}"
        raise ConfigError(msg)


DEFAULT_TOML = (Path(__file__).parent / "workspace.toml").read_text(encoding="utf-8")
"""The text of the herald.toml that `herald init` writes (a ``str.format`` template of
``database``), kept in a file of its own, byte for byte."""
