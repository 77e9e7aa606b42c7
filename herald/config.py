"""Typed settings read from a workspace's ``herald.toml``.

Secrets never live in the file: a destination names the environment variable
(``api_key_env``) or the file (``api_key_file``) that holds its key.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from herald.exceptions import ConfigError

SECRET_KEYS = ("api_key", "password", "private_key", "token", "secret")


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


class DestinationSettings(BaseModel):
    """One destination; its ``type`` decides which further keys it takes."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return value.strip()


class Settings(_Section):
    engine: EngineSettings = Field(default_factory=EngineSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    runs: RunsSettings = Field(default_factory=RunsSettings)
    destinations: dict[str, DestinationSettings] = Field(default_factory=dict)


def load_settings(path: Path) -> Settings:
    """Read and check ``herald.toml``.

    Raises:
        ConfigError: naming the file, the key and what to change.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        msg = f"{path}: not valid TOML: {error}"
        raise ConfigError(msg) from None
    _refuse_inline_secrets(data, path)
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = f"{path}: [{where}] {first['msg']}"
        raise ConfigError(msg) from None


def _refuse_inline_secrets(data: dict[str, Any], path: Path) -> None:
    for name, dest in (data.get("destinations") or {}).items():
        for key in dest if isinstance(dest, dict) else ():
            if key in SECRET_KEYS:
                msg = (
                    f"{path}: [destinations.{name}] has '{key}' written in the file; "
                    "secrets must not be stored there. "
                    f'Put it in an environment variable and write {key}_env = "NAME", '
                    f'or in a file and write {key}_file = "PATH"'
                )
                raise ConfigError(msg)


def read_secret(settings: DestinationSettings, key: str, destination: str) -> str:
    """The secret ``key`` of a destination, from its ``{key}_env`` variable or ``{key}_file``.

    Raises:
        ConfigError: when neither is set or the variable/file is empty; the secret itself is
            never part of the message.
    """
    extra = settings.model_extra or {}
    env_name, file_name = extra.get(f"{key}_env"), extra.get(f"{key}_file")
    if env_name:
        value = os.environ.get(str(env_name), "").strip()
        if value:
            return value
        msg = f"destination '{destination}': the environment variable {env_name} ({key}) is not set"
        raise ConfigError(msg)
    if file_name:
        try:
            value = Path(str(file_name)).expanduser().read_text(encoding="utf-8").strip()
        except OSError as error:
            msg = (
                f"destination '{destination}': cannot read {key}_file '{file_name}': "
                f"{error.strerror}"
            )
            raise ConfigError(msg) from None
        if value:
            return value
        msg = f"destination '{destination}': {key}_file '{file_name}' is empty"
        raise ConfigError(msg)
    msg = (
        f"destination '{destination}' needs "
        f'{key}_env = "VARIABLE" or {key}_file = "PATH" in herald.toml'
    )
    raise ConfigError(msg)


DEFAULT_TOML = """\
# Herald workspace settings. Secrets never go here: name an environment variable
# (api_key_env) or a file (api_key_file) instead.

[engine]
name = "duckdb"
database = "{database}"

[database]
customer_key = "amperity_id"
base_table = "Customer_360"
customer_tables = ["Customer_360", "Merged_Customers", "Customer_Attributes", "Transaction_Attributes_Extended"]
transactions_table = "Unified_Transactions"
items_table = "Unified_Itemized_Transactions"
attributes_table = "Merged_Customers"

[state]
url = "sqlite:///.herald/state.db"

[runs]
retention_days = 30                    # then a run's files with emails and phones are pruned

# Destinations that campaign groups send to, by name.
[destinations.files]
type = "csv_file"
folder = "exports"                     # relative to the workspace folder

# [destinations.klaviyo]
# type = "klaviyo_api"
# api_key_env = "KLAVIYO_API_KEY"        # a private key with lists:write and profiles:write
# base_url = "http://127.0.0.1:8700"    # rehearse against `herald sandbox klaviyo`
"""  # noqa: E501 - the text of the herald.toml that `herald init` writes, kept byte for byte
