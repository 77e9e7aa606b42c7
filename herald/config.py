"""Typed settings read from a workspace's ``herald.toml``.

Secrets never live in the file: a destination names the environment variable
(``api_key_env``) or the file (``api_key_file``) that holds its key.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import tomllib
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from herald.core.dates import SPAN_HELP, parse_span
from herald.destinations.registry import destination_model, destination_types, parse_destination
from herald.destinations.settings import (
    DestinationSettings,
    SecretSettings,
    check_env_name,
    check_secret,
    read_secret,
)
from herald.exceptions import ConfigError

# The destinations' settings and their parsing live with the destinations; they are named
# here too, as the settings of a workspace.
__all__ = [
    "DEFAULT_TOML",
    "CommandSettings",
    "DatabaseSettings",
    "DestinationSettings",
    "EngineSettings",
    "NotificationSettings",
    "RunsSettings",
    "SchedulerSettings",
    "SecretSettings",
    "Settings",
    "StateSettings",
    "WebSettings",
    "WebhookSettings",
    "check_secret",
    "destination_model",
    "destination_types",
    "load_settings",
    "parse_destination",
    "parse_notifications",
    "read_secret",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineSettings(_Section):
    name: str = "duckdb"
    """The engine: ``duckdb`` (default) or ``spark`` (the extra ``herald[spark]``)."""
    database: str | None = None
    """DuckDB: the database file, relative to the workspace folder (default
    ``data/customers.duckdb``). Spark: the catalog database holding the customer tables."""
    tables: dict[str, str] = Field(default_factory=dict)
    """Table name → lake location (Parquet files or a folder of them; relative paths are
    relative to the workspace folder). DuckDB reads them without a database file; Spark reads
    them as ``table_format``."""
    table_format: str = "parquet"
    """Spark: the format of the ``tables`` locations (``parquet``, ``delta``, ``orc`` …)."""
    threads: int | None = None
    """Worker threads; all cores when unset (Spark, local master: ``local[threads]``)."""
    memory_limit: str | None = None
    """Such as ``"4GB"``; the engine's default when unset (Spark, local master: the driver's
    memory)."""
    master: str | None = None
    """Spark: the master URL (``local[*]``, ``spark://host:7077``, ``yarn``, ``k8s://…``)."""
    connect: str | None = None
    """Spark: a Spark Connect address (``sc://host:15002``), instead of ``master``."""
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Spark: settings for the session (``"spark.executor.memory" = "8g"`` …)."""
    work_dir: str | None = None
    """Spark: where Spark writes large results (snapshots) for Herald to stream; a folder
    (default ``.herald/spark``) or a URI both the cluster and Herald reach (``s3://…``)."""

    @model_validator(mode="after")
    def _one_engine_s_settings(self) -> EngineSettings:
        spark_only = {"master", "connect", "work_dir"} & self.model_fields_set
        if self.options:
            spark_only.add("options")
        if self.name == "duckdb" and spark_only:
            msg = (
                f"[engine] {', '.join(sorted(spark_only))} only applies to Spark; "
                'remove it or set name = "spark"'
            )
            raise ValueError(msg)
        if self.master and self.connect:
            msg = "[engine] sets both master and connect; keep one of them"
            raise ValueError(msg)
        return self


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
    order_time_column: str = "order_datetime"
    """The transactions table's order time, for campaign results."""
    order_revenue_column: str = "order_revenue"
    """The transactions table's order revenue, for campaign results."""

    def catalog_roles(self) -> dict[str, Any]:
        return {
            "customer_key": self.customer_key,
            "base_table": self.base_table,
            "customer_tables": frozenset(t.lower() for t in self.customer_tables),
            "transactions_table": self.transactions_table,
            "items_table": self.items_table,
            "order_time_column": self.order_time_column,
            "order_revenue_column": self.order_revenue_column,
        }


class StateSettings(_Section):
    url: str = "sqlite:///.herald/state.db"
    """SQLAlchemy URL; a relative SQLite path is relative to the workspace folder."""


class RunsSettings(_Section):
    retention_days: int = Field(default=30, ge=1)
    """Days a finished run keeps its files holding emails and phones (snapshot, prepared and
    diff files); ``herald runs prune`` and each ``campaign run`` remove older ones."""


def span_value(value: Any, key: str) -> dt.timedelta:
    """A length of time from herald.toml (``"90m"``, ``"2h"``), longer than 0.

    Raises:
        ValueError: naming ``key`` and what to write instead.
    """
    if isinstance(value, dt.timedelta):
        span = value
    elif isinstance(value, str):
        span = parse_span(value)  # its ValueError says what to write
    else:
        msg = f"{key} must be {SPAN_HELP}, in quotes"
        raise ValueError(msg)
    if span <= dt.timedelta(0):
        msg = f"{key} must be longer than 0: write {SPAN_HELP}"
        raise ValueError(msg)
    return span


class SchedulerSettings(_Section):
    """``[scheduler]``: how ``herald scheduler`` starts the runs that schedules make due."""

    max_runs: int = Field(default=2, ge=1, le=64)
    """Runs at once, each in its own worker process."""
    grace: dt.timedelta = dt.timedelta(hours=6)
    """A slot found later than this (the scheduler was down) is recorded as missed, not run."""
    poll: dt.timedelta = dt.timedelta(seconds=15)
    """The longest the scheduler sleeps between two looks at the schedules."""

    @field_validator("grace", "poll", mode="before")
    @classmethod
    def _span(cls, value: Any, info: ValidationInfo) -> Any:
        return span_value(value, str(info.field_name))


class WebSettings(_Section):
    """``[web]``: the sessions of ``herald web`` (its sign-in is set by ``HERALD_WEB_TOKEN`` and
    ``herald web user add``, never in this file)."""

    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    """Hours a sign-in lasts."""
    login_attempts: int = Field(default=5, ge=1, le=1000)
    """Sign-in attempts allowed per minute from one client; more get 429."""


# --- [notifications] -------------------------------------------------------------------------

Event = Literal["failure", "success", "slow"]
_EVENTS: tuple[str, ...] = get_args(Event)
_TABLES = ("webhook", "command")
_SECRET_WORDS = ("secret", "token", "password", "key")


class WebhookSettings(_Section):
    """``[notifications.webhook]``: a JSON POST to ``url`` for each notice (see
    :mod:`herald.alerts`)."""

    url: str
    """Where to POST: an ``http://`` or ``https://`` URL."""
    secret_env: str | None = None
    """The environment variable holding the secret that signs each body (HMAC-SHA256)."""
    secret_file: str | None = None
    """Or a file whose first line is that secret."""
    timeout: float = Field(default=10.0, gt=0, le=300)
    """Seconds each attempt may take."""
    retries: int = Field(default=3, ge=0, le=10)
    """Attempts after the first on a connection error, a timeout, a 429 or a 5xx."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # The message never repeats the URL: a hook's path is often its credential.
        parts = urllib.parse.urlsplit(value.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            msg = "url must be an http:// or https:// URL, such as https://hooks.example.com/herald"
            raise ValueError(msg)
        return value.strip()

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None:
            check_env_name(value, "secret_env", "HERALD_WEBHOOK_SECRET")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> WebhookSettings:
        if self.secret_env and self.secret_file:
            msg = "set secret_env or secret_file, not both"
            raise ValueError(msg)
        return self


class CommandSettings(_Section):
    """``[notifications.command]``: a program run for each notice, the notice as JSON on its
    standard input (see :mod:`herald.alerts`)."""

    argv: list[str] = Field(min_length=1)
    """The program and its arguments, run without a shell."""
    timeout: float = Field(default=30.0, gt=0, le=3600)
    """Seconds before the program is killed."""


class NotificationSettings(_Section):
    """``[notifications]``: when runs are announced, and where (a webhook, a command, both)."""

    on: tuple[Event, ...] = ("failure",)
    """The events announced: ``failure``, ``success``, ``slow``."""
    slow_after: dt.timedelta | None = None
    """A run taking longer than this is slow (herald.toml: ``"90m"``, ``"2h"``)."""
    slow_factor: float | None = Field(default=None, ge=1)
    """A run taking longer than its estimate times this is slow."""
    webhook: WebhookSettings | None = None
    command: CommandSettings | None = None

    @field_validator("on", mode="before")
    @classmethod
    def _events(cls, value: Any) -> Any:
        events = [value] if isinstance(value, str) else value
        if not isinstance(events, list | tuple):
            return value  # pydantic says what it should be
        for event in events:
            if event not in _EVENTS:
                close = difflib.get_close_matches(str(event), _EVENTS, n=1)
                hint = f" Did you mean {close[0]}?" if close else ""
                msg = f"on: {str(event)!r} is no event.{hint} Events: {', '.join(_EVENTS)}"
                raise ValueError(msg)
        return tuple(dict.fromkeys(events))

    @field_validator("slow_after", mode="before")
    @classmethod
    def _span(cls, value: Any) -> Any:
        return None if value is None else span_value(value, "slow_after")

    @model_validator(mode="after")
    def _slow_has_a_threshold(self) -> NotificationSettings:
        has_threshold = self.slow_after is not None or self.slow_factor is not None
        if "slow" in self.on and not has_threshold:
            msg = 'on has "slow": set slow_after (such as "2h"), slow_factor (such as 2.0) or both'
            raise ValueError(msg)
        if has_threshold and "slow" not in self.on:
            msg = 'slow_after or slow_factor is set but on has no "slow": add it to on'
            raise ValueError(msg)
        return self


def parse_notifications(table: Any, *, source: str | Path = "herald.toml") -> NotificationSettings:
    """Read the ``[notifications]`` table.

    Raises:
        ConfigError: one line naming ``source``, the table and the key: an unknown key (with
            "did you mean"), a secret written inline, a bad value. A secret or the webhook's
            URL is never part of the message.
    """
    if isinstance(table, NotificationSettings):
        return table
    _refuse_unknown(table, NotificationSettings, f"{source}: [notifications]")
    tables: dict[str, type[BaseModel]] = {"webhook": WebhookSettings, "command": CommandSettings}
    for name, model in tables.items():
        inner = table.get(name)
        if inner is not None and not isinstance(inner, BaseModel):
            _refuse_unknown(inner, model, f"{source}: [notifications.{name}]")
    try:
        return NotificationSettings.model_validate(table)
    except ValidationError as error:
        msg = f"{source}: {_first_problem(error)}"
        raise ConfigError(msg) from None


def _first_problem(error: ValidationError) -> str:
    """``[notifications.webhook] timeout: …``: the table, the key and pydantic's message, or
    the validator's own message, which names its key."""
    first = error.errors()[0]
    *tables, key = ["notifications", *(str(p) for p in first["loc"])]
    if key in ("notifications", *_TABLES):  # a check of a whole table
        tables, key = [*tables, key], ""
    text = first["msg"].removeprefix("Value error, ")
    what = text if not key or text.startswith(key) else f"{key}: {text}"
    return f"[{'.'.join(tables)}] {what}"


def _refuse_unknown(table: Any, model: type[BaseModel], where: str) -> None:
    if not isinstance(table, Mapping):
        msg = f"{where} must be a table of keys such as {', '.join(model.model_fields)}"
        raise ConfigError(msg)
    known = list(model.model_fields)
    for key in map(str, table):
        if key in known:
            continue
        bare = re.sub(r"[^a-z]", "", key.lower())
        if any(w in bare for w in _SECRET_WORDS) and not bare.endswith(("env", "file")):
            msg = (
                f"{where} has the secret {key!r} written in the file; secrets never go in "
                "herald.toml: put it in an environment variable or a file and name that with "
                "secret_env or secret_file"
            )
        else:
            close = difflib.get_close_matches(key.lower(), known, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            msg = f"{where} has an unknown key {key!r}.{hint} It takes: {', '.join(known)}"
        raise ConfigError(msg)


class Settings(_Section):
    engine: EngineSettings = Field(default_factory=EngineSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    runs: RunsSettings = Field(default_factory=RunsSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    destinations: dict[str, SerializeAsAny[DestinationSettings]] = Field(default_factory=dict)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)

    @field_validator("notifications", mode="before")
    @classmethod
    def _notifications(cls, value: Any, info: ValidationInfo) -> Any:
        # ConfigError passes through pydantic, so the message is parse_notifications' own.
        return parse_notifications(value, source=(info.context or {}).get("source", "herald.toml"))

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
