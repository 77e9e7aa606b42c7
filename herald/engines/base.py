"""The engine protocol: run sqlglot trees, describe the catalog, stream Arrow batches.

Engines register by name when their class is defined (``name = "duckdb"``) and are created
with :func:`create_engine`, so a new engine is a subclass in its own module.
"""

from __future__ import annotations

import abc
import importlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from sqlglot import exp

from herald.core.catalog import Catalog, did_you_mean
from herald.exceptions import ConfigError

_REGISTRY: dict[str, type[Engine]] = {}
# Engines that live in modules not imported yet: name → module. Imported on first use.
_LAZY = {"duckdb": "herald.engines.duckdb", "spark": "herald.engines.spark"}


class Engine(abc.ABC):
    """A SQL engine over the customer database."""

    name: ClassVar[str]
    dialect: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            _REGISTRY[cls.name] = cls

    @abc.abstractmethod
    def catalog(self, **roles: Any) -> Catalog:
        """The tables and typed columns of the database, with the given table roles."""

    @abc.abstractmethod
    def query(self, expression: exp.Expression | str) -> pa.Table:
        """Run a query and return the whole result (for small results)."""

    @abc.abstractmethod
    def query_files(
        self, expression: exp.Expression, files: Mapping[str, Sequence[Path]]
    ) -> pa.Table:
        """Run a query that also reads Herald's own Parquet files (recipients logs).

        The customer database's connection cannot read files itself; each name of ``files``
        is a table of the query holding the rows of its files, for this query only.

        Raises:
            EngineError: the query or a file failed.
        """

    @abc.abstractmethod
    def batches(
        self, expression: exp.Expression | str, batch_size: int = 100_000
    ) -> Iterator[pa.RecordBatch]:
        """Run a query and stream its result in Arrow record batches."""

    @abc.abstractmethod
    def write_parquet(self, expression: exp.Expression, path: str | os.PathLike[str]) -> int:
        """Run a query and write its whole result to one Parquet file; return the row count."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def bind(self, query: exp.Query) -> pa.Schema:
        """Check a query against the database without reading its rows.

        Returns:
            The schema of its result: every table, column and function resolved and typed.

        Raises:
            EngineError: with the engine's message when a name or a type does not resolve.
        """
        return self.query(exp.select("*").from_(query.subquery("bound")).limit(0)).schema

    def data_version(self) -> str | None:
        """An identity of the data's current version, which changes whenever the data may
        have (results computed under one version can be reused under it); None when the
        engine cannot tell, so nothing is reused."""
        return None

    def render(self, expression: exp.Expression, *, pretty: bool = False) -> str:
        """The SQL text of a tree in this engine's dialect."""
        return expression.sql(dialect=self.dialect, pretty=pretty)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def create_engine(name: str, **options: Any) -> Engine:
    """Create an engine by its registered name.

    Raises:
        ConfigError: for an unknown name, with the closest known one.
    """
    if name not in _REGISTRY and name in _LAZY:
        importlib.import_module(_LAZY[name])
    if name not in _REGISTRY:
        known = sorted({*_REGISTRY, *_LAZY})
        msg = (
            f"unknown engine '{name}'.{did_you_mean(name, known)} Known engines: {', '.join(known)}"
        )
        raise ConfigError(msg)
    return _REGISTRY[name](**options)
