"""Typed settings read from a workspace's ``herald.toml``.

Secrets never live in the file: a destination names the environment variable
(``api_key_env``) or the file (``api_key_file``) that holds its key.
"""

from __future__ import annotations

import tomllib
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

from herald.destinations.registry import destination_model, destination_types, parse_destination
from herald.destinations.settings import (
    DestinationSettings,
    SecretSettings,
    check_secret,
    read_secret,
)
from herald.exceptions import ConfigError

# The destinations' settings and their parsing live with the destinations; they are named
# here too, as the settings of a workspace.
__all__ = [
    "DEFAULT_TOML",
    "DatabaseSettings",
    "DestinationSettings",
    "EngineSettings",
    "RunsSettings",
    "SecretSettings",
    "Settings",
    "StateSettings",
    "check_secret",
    "destination_model",
    "destination_types",
    "load_settings",
    "parse_destination",
    "read_secret",
]


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


DEFAULT_TOML = (Path(__file__).parent / "workspace.toml").read_text(encoding="utf-8")
"""The text of the herald.toml that `herald init` writes (a ``str.format`` template of
``database``), kept in a file of its own, byte for byte."""
