"""Fixtures for the campaign tests: workspaces over the demo data, and a tiny DuckDB split rig.

Two kinds of database are used:

- the session ``demo_db`` (3,000 demo customers) behind real workspaces (``herald.toml``,
  state store, example segments applied, a Klaviyo destination configured);
- hand-made in-memory DuckDB tables of N keys, over which the *real* audience query
  (:func:`herald.core.campaigns.audience.audience_query`) is run with a chosen salt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from sqlglot import exp

from herald.apply import apply_path
from herald.core.campaigns.audience import AudienceContext, audience_query
from herald.core.campaigns.model import Campaign
from herald.core.campaigns.parse import parse_campaign
from herald.core.catalog import Catalog
from herald.core.segments.model import Segment
from herald.core.segments.parse import parse_segment
from herald.demo.examples import examples_dir
from herald.workspace import Workspace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "campaigns"
EXAMPLE_SEGMENTS = examples_dir() / "segments"
KLAVIYO_TOML = '\n[destinations.klaviyo]\ntype = "klaviyo_api"\napi_key_env = "KLAVIYO_API_KEY"\n'
SFTP_TOML = (
    '\n[destinations.sftp_import]\ntype = "klaviyo_sftp"\nusername = "herald"\n'
    'private_key_env = "SFTP_KEY"\n'
    'host_key_fingerprint = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"\n'
)
"""Klaviyo's SFTP import: validated against, never connected to."""
TODAY = dt.date(2026, 6, 30)  # the demo data's as-of date


def make_workspace(root: Path, database: Path) -> Path:
    """A workspace over ``database`` with the example segments (active), one draft segment,
    and destinations ``files`` (CSV, the default), ``klaviyo`` (Klaviyo API) and
    ``sftp_import`` (Klaviyo's SFTP import)."""
    Workspace.init(root, database=str(database)).close()
    with (root / "herald.toml").open("a", encoding="utf-8") as config:
        config.write(SFTP_TOML + KLAVIYO_TOML)  # klaviyo last: tests append to its table
    with Workspace.open(root) as ws:
        apply_path(ws, EXAMPLE_SEGMENTS)
        apply_path(ws, FIXTURES / "segments")
    return root


@pytest.fixture(scope="module")
def shared_ws(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> Iterator[Workspace]:
    """One workspace per test module, for tests that only validate or store unique names."""
    root = make_workspace(tmp_path_factory.mktemp("campaign-ws"), demo_db)
    with Workspace.open(root) as ws:
        yield ws


@pytest.fixture
def ws_dir(tmp_path: Path, demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workspace folder, also the one the CLI finds (HERALD_WORKSPACE)."""
    root = make_workspace(tmp_path / "ws", demo_db)
    monkeypatch.setenv("HERALD_WORKSPACE", str(root))
    monkeypatch.delenv("KLAVIYO_API_KEY", raising=False)
    return root


# --- the split rig: the real audience query over a hand-made table --------------------------


EVERYONE = Segment("Everyone", status="active")


class Rig:
    """An in-memory DuckDB with ``Customer_360`` (and optional flag columns) and a set of
    active segments, over which campaigns are compiled by the real audience query.

    With ``kind="spark"`` the same table is also a Parquet file read by Herald's Spark engine,
    and :meth:`rows` runs the query there (the parity suite, ``tests/spark_engine.py``).
    """

    def __init__(
        self,
        keys: Sequence[str],
        flags: Mapping[str, Sequence[bool]] | None = None,
        segments: Sequence[Segment] = (),
        *,
        kind: str = "duckdb",
    ) -> None:
        flags = dict(flags or {})
        self.con = duckdb.connect()
        table = pa.table(
            {
                "amperity_id": pa.array(list(keys), pa.string()),
                **{name: pa.array(list(values), pa.bool_()) for name, values in flags.items()},
            }
        )
        self.con.register("incoming", table)
        # Row order of the table is the order of ``keys``: tests shuffle it on purpose.
        self.con.execute("CREATE TABLE Customer_360 AS SELECT * FROM incoming")
        self.con.unregister("incoming")
        columns = [("Customer_360", "amperity_id", "string", "VARCHAR")]
        columns += [("Customer_360", name, "boolean", "BOOLEAN") for name in flags]
        self.catalog = Catalog.from_columns(columns)
        self.segments = {s.name: s for s in (EVERYONE, *segments)}
        self.dialect = "duckdb"
        self._spark: Any = None
        if kind == "spark":
            self._open_spark(table)

    def _open_spark(self, table: pa.Table) -> None:
        import tempfile

        import pyarrow.parquet as pq
        from spark_engine import require_spark, spark_options

        require_spark()
        from herald.engines.spark import SparkEngine

        self._folder = tempfile.TemporaryDirectory(prefix="herald-rig-")
        path = Path(self._folder.name) / "Customer_360.parquet"
        pq.write_table(table, path)
        self._spark = SparkEngine(**spark_options(tables={"Customer_360": str(path)}))
        self.dialect = "spark"

    def sql(self, campaign: Campaign | Mapping[str, Any], salt: str) -> str:
        if not isinstance(campaign, Campaign):
            campaign = parse_campaign(campaign)
        ctx = AudienceContext(
            catalog=self.catalog,
            today=TODAY,
            resolve_segment=self.segments.__getitem__,
            salt=salt,
            dialect=self.dialect,
        )
        return audience_query(campaign, ctx).sql(self.dialect)

    def rows(
        self, campaign: Campaign | Mapping[str, Any], salt: str
    ) -> list[tuple[str, str, str, bool]]:
        """``(key, sub_audience, group, is_control)`` for every recipient."""
        if self._spark is not None:
            table = self._spark.query(self.sql(campaign, salt)).select([0, 1, 2, 3])
            return [tuple(r.values()) for r in table.to_pylist()]  # type: ignore[misc]
        return [tuple(r) for r in self.con.execute(self.sql(campaign, salt)).fetchall()]  # type: ignore[misc]

    def execute(self, query: exp.Expression) -> list[tuple[Any, ...]]:
        """Run a query on the rig's engine (DuckDB, or Spark with ``kind="spark"``)."""
        if self._spark is not None:
            return [tuple(r.values()) for r in self._spark.query(query).to_pylist()]
        return self.con.execute(query.sql("duckdb")).fetchall()

    def close(self) -> None:
        self.con.close()
        if self._spark is not None:
            self._spark.close()
            self._folder.cleanup()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def flag_segment(name: str, flag: str) -> Segment:
    """An active segment: customers whose boolean column ``flag`` is true."""
    return parse_segment(
        {
            "name": name,
            "status": "active",
            "where": {"all": [{"attribute": f"Customer_360.{flag}", "op": "is true"}]},
        }
    )


def split_campaign(basis_points: Sequence[int], *, controls: Sequence[int] = ()) -> Campaign:
    """Everyone in one remainder split into groups ``G0, G1, …`` with these basis points."""
    groups = [
        {
            "name": f"G{i}",
            "percent": f"{bp / 100:.2f}",
            **({"control": True} if i in controls else {"destinations": ["files"]}),
        }
        for i, bp in enumerate(basis_points)
    ]
    return parse_campaign({"name": "Split", "include": "Everyone", "remaining": {"groups": groups}})


@pytest.fixture(scope="session")
def rig_cls() -> type[Rig]:
    """The :class:`Rig` class (session-scoped, so hypothesis tests may use it)."""
    return Rig


@pytest.fixture(scope="session")
def splits() -> Callable[..., Campaign]:
    """:func:`split_campaign`."""
    return split_campaign


@pytest.fixture(scope="session")
def flag_segments() -> Callable[[str, str], Segment]:
    """:func:`flag_segment`."""
    return flag_segment


@pytest.fixture(scope="session")
def new_workspace() -> Callable[[Path, Path], Path]:
    """:func:`make_workspace`."""
    return make_workspace
