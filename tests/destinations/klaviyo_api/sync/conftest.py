"""Fixtures for list sync tests: a sandbox over HTTP, a state store with a run, deliveries."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from kinds import KINDS

from herald.core.campaigns.model import AttributeMapping
from herald.core.prepare import prepare_records
from herald.destinations.klaviyo_api.client import KlaviyoClient
from herald.destinations.klaviyo_api.configuration import KlaviyoSettings
from herald.destinations.klaviyo_api.limits import limits_for
from herald.destinations.klaviyo_api.sync import (
    DeliveryResult,
    ListDelivery,
    SyncOptions,
    prepare_delivery,
    sync_list,
)
from herald.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxServer
from herald.state import StateStore

AS_OF = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
MAPPINGS = (
    AttributeMapping("email", "email"),
    AttributeMapping("phone", "phone_number"),
    AttributeMapping("first", "first_name"),
    AttributeMapping("tier", "tier"),
)
FAST = SyncOptions(poll_interval=0.05, jobs_in_flight=4)


def customers(
    keys: Sequence[int], *, tier: str = "gold", phones: bool = False
) -> list[dict[str, Any]]:
    """Snapshot rows: customer ``k`` has the email ``c{k}@example.com``."""
    return [
        {
            "amperity_id": f"k{k:07d}",
            "email": f"c{k}@example.com",
            "phone": f"+1206555{k % 10_000:04d}" if phones else None,
            "first": f"Name{k}",
            "tier": tier,
        }
        for k in keys
    ]


def settings(
    url: str, key: str = DEFAULT_API_KEY, scale: float = 10.0, max_wait: float = 30.0
) -> KlaviyoSettings:
    return KlaviyoSettings(
        name="klaviyo", api_key=key, base_url=url, limits=limits_for(scale=scale),
        limits_scale=scale, max_wait=max_wait, poll_interval=0.05, timeout=5.0,
    )  # fmt: skip


@dataclass
class Env:
    """A sandbox, a store with a campaign, and a way to sync groups to lists."""

    server: SandboxServer
    store: StateStore
    root: Path
    campaign: str = "spring"

    def new_run(self) -> str:
        return self.store.create_run(self.campaign, 1, as_of=AS_OF, pins={}).id

    def delivery(
        self, run_id: str, list_name: str, rows: list[dict[str, Any]], **options: Any
    ) -> ListDelivery:
        folder = self.root / "runs" / run_id / list_name
        table = pa.Table.from_pylist(rows, schema=SNAPSHOT) if rows else SNAPSHOT.empty_table()
        prepared = prepare_records(table, MAPPINGS, kind=KINDS["klaviyo_api"])
        prepare_delivery(prepared.records, prepared.fields, prepared.key, prepared.dropped, folder)
        opts = SyncOptions(**{**FAST.__dict__, **options})
        return ListDelivery(
            run_id, "klaviyo", "All", list_name, list_name, folder, self.root, opts,
            earlier_folder=lambda run: self.root / "runs" / run / list_name,
        )  # fmt: skip

    def sync(
        self,
        list_name: str,
        rows: list[dict[str, Any]],
        *,
        run_id: str | None = None,
        key: str = DEFAULT_API_KEY,
        reconcile: bool = False,
        events: list[Any] | None = None,
        client_class: type[KlaviyoClient] = KlaviyoClient,
        **options: Any,
    ) -> DeliveryResult:
        run_id = run_id or self.new_run()
        delivery = self.delivery(run_id, list_name, rows, **options)

        async def go() -> DeliveryResult:
            async with client_class(settings(self.server.url, key)) as client:
                progress = events.append if events is not None else None
                return await sync_list(
                    client, self.store, delivery, progress=progress, reconcile=reconcile
                )

        return asyncio.run(go())

    def settings(self, max_wait: float = 30.0) -> KlaviyoSettings:
        """Settings of a client of this sandbox."""
        return settings(self.server.url, max_wait=max_wait)

    def sync_together(
        self,
        run_id: str,
        lists: dict[str, list[dict[str, Any]]],
        *,
        max_wait: float = 30.0,
        **options: Any,
    ) -> list[DeliveryResult | BaseException]:
        """Sync several lists of one run at once with one client (one destination), as a run
        does: each list's result, or what its sync raised."""
        deliveries = [self.delivery(run_id, n, rows, **options) for n, rows in lists.items()]

        async def go() -> list[DeliveryResult | BaseException]:
            async with KlaviyoClient(self.settings(max_wait)) as client:
                return await asyncio.gather(
                    *(sync_list(client, self.store, d) for d in deliveries),
                    return_exceptions=True,
                )

        return asyncio.run(go())

    customers = staticmethod(lambda *a, **k: customers(*a, **k))
    emails = staticmethod(lambda keys: emails(keys))
    rows = staticmethod(lambda path: parquet_rows(path))

    def list_id(self, list_name: str) -> str:
        [found] = [k for k in self.server.state.lists() if k.name == list_name]
        return str(found.id)

    def members(self, list_name: str) -> set[str]:
        """The emails in a sandbox list, by name."""
        state = self.server.state
        [found] = [k for k in state.lists() if k.name == list_name]
        return {state.profile(pid).email for pid in state.list_members(found.id)}


SNAPSHOT = pa.schema(
    [("amperity_id", pa.string()), ("email", pa.string()), ("phone", pa.string()),
     ("first", pa.string()), ("tier", pa.string())]
)  # fmt: skip


def emails(keys: Sequence[int]) -> set[str]:
    return {f"c{k}@example.com" for k in keys}


def store_with_campaign(url: str) -> StateStore:
    store = StateStore.open(url)
    store.save_draft("campaign", "spring", {"v": 1})
    store.activate("campaign", "spring")
    return store


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """Override in a test module for other limits or faults."""
    return SandboxConfig(limits="10", job_tick=0.01)


@pytest.fixture
def env(tmp_path: Path, sandbox_config: SandboxConfig) -> Iterator[Env]:
    store = store_with_campaign(f"sqlite:///{tmp_path / '.herald' / 'state.db'}")
    with SandboxServer(sandbox_config) as server:
        yield Env(server, store, tmp_path / ".herald")
    store.close()


def parquet_rows(path: Path) -> list[dict[str, Any]]:
    with duckdb.connect() as con:
        return con.sql(f"SELECT * FROM read_parquet('{path}')").to_arrow_table().to_pylist()


Factory = Callable[..., Env]
