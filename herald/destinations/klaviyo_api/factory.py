"""The ``klaviyo_api`` destination: Klaviyo lists kept equal to recipient groups.

A run stages each group's desired profiles (``desired.parquet``, ``skipped.parquet``), then
syncs the lists of one destination together over one client, whose limiter paces them
(:mod:`herald.destinations.klaviyo_api.sync`), each stopping at a batch boundary when the run
is cancelled. The estimate plans the same diff against each list's ledger and times the calls
under this destination's own limits (:mod:`herald.destinations.klaviyo_api.estimate`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from herald.core.campaigns.model import AttributeMapping
from herald.core.destinations import DestinationKind
from herald.core.estimate import ListPlan, estimate
from herald.destinations.base import (
    Capabilities,
    CheckResult,
    Delivered,
    DeliveryTarget,
    Destination,
    DestinationEstimate,
    EngineRecords,
    EngineRows,
    Progress,
    Records,
    Session,
    Stop,
)
from herald.destinations.klaviyo_api.configuration import (
    DESTINATION_TYPE,
    KlaviyoDestinationSettings,
    KlaviyoSettings,
    key_source,
)
from herald.destinations.klaviyo_api.desired import MAX_PROFILE_BYTES, TOO_LARGE, desired_rows
from herald.destinations.klaviyo_api.limits import CAPS, MAX_IMPORT_BYTES, MAX_IMPORT_PROFILES
from herald.destinations.klaviyo_api.sample import write_klaviyo_jsonl
from herald.redact import error_line

if TYPE_CHECKING:
    from herald.destinations.klaviyo_api.api import KlaviyoApi

_NEEDED = "lists:write and profiles:write"


class KlaviyoApiDestination(Destination):
    """One Klaviyo account reached through its REST API."""

    type: ClassVar[str] = DESTINATION_TYPE
    kind: ClassVar[DestinationKind] = DestinationKind(
        DESTINATION_TYPE,
        "Klaviyo",
        (AttributeMapping("email", "email"),),
        required_fields=("email",),
        is_list=True,
    )
    capabilities: ClassVar[Capabilities] = Capabilities(
        mirror=True,
        removes=True,
        max_batch_profiles=MAX_IMPORT_PROFILES,
        max_batch_bytes=MAX_IMPORT_BYTES,
        deliveries_at_once=4,
        sample_suffix=".jsonl",
        engine_rows=EngineRows(desired_rows, MAX_PROFILE_BYTES, TOO_LARGE),
    )
    settings_model = KlaviyoDestinationSettings

    def client_settings(self, *, load_key: bool = True) -> KlaviyoSettings:
        """What a client needs, with the API key read now (unless ``load_key`` is False).

        Raises:
            ConfigError: the key is not set or cannot be read, naming where to set it.
        """
        return KlaviyoSettings.from_destination(self.name, self.settings, load_key=load_key)

    def describe(self) -> dict[str, Any]:
        url = self.client_settings(load_key=False).base_url
        return {**super().describe(), "target": url, "key_from": key_source(self.settings)}

    async def check(self) -> CheckResult:
        from herald.destinations.klaviyo_api.client import KlaviyoClient

        settings = self.client_settings()
        async with KlaviyoClient(settings) as client:
            found = await client.check_scopes()
        data = {
            "base_url": settings.base_url,
            "key_valid": found.key_valid,
            "missing": list(found.missing),
            "detail": found.detail,
        }
        ok = found.key_valid and not found.missing
        if not found.key_valid or ok:
            return CheckResult(ok, settings.base_url, found.detail, data=data)
        advice = (
            f"create a private key with {_NEEDED} (Klaviyo: Settings → API keys → Create "
            "Private API Key) and put it in the destination's api_key_env or api_key_file"
        )
        detail = f"the key works but lacks {', '.join(found.missing)}"
        return CheckResult(False, settings.base_url, detail, advice=advice, data=data)

    def sample(self, records: Records, path: Path) -> Path:
        write_klaviyo_jsonl(records.batches(), path, records.fields)
        return path

    def stage(self, target: DeliveryTarget, records: Records) -> None:
        from herald.destinations.klaviyo_api.sync import prepare_delivery

        # In key order: the diff then writes its files without sorting profiles.
        ordered = records.batches(order="key")
        prepare_delivery(ordered, records.fields, records.key, records.dropped, target.folder)

    def stage_in_engine(self, target: DeliveryTarget, records: EngineRecords) -> None:
        from herald.destinations.klaviyo_api.engine_diff import write_engine_inputs

        write_engine_inputs(target.folder, records)

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Session]:
        from herald.destinations.klaviyo_api.client import KlaviyoClient

        settings = self.client_settings()
        async with KlaviyoClient(settings) as client:
            yield _KlaviyoSession(self, client, settings.poll_interval)

    def estimate(self, targets: Sequence[DeliveryTarget]) -> DestinationEstimate | None:
        from herald.destinations.klaviyo_api.estimate import estimate_lists

        table = self.client_settings(load_key=False)
        return estimate_lists(self, targets, table.limits, table.poll_interval)

    def planned_seconds(self, counts: Mapping[str, int]) -> float | None:
        # The remove ids were looked up while planning: what is left is imports and removes.
        plan = ListPlan(
            "",
            adds=counts.get("adds", 0) + counts.get("updates", 0),
            removes=counts.get("removes", 0),
            list_id_known=True,
            list_exists=True,
        )
        table = self.client_settings(load_key=False)
        return estimate([plan], table.limits, CAPS, poll_interval=table.poll_interval).seconds

    def forget(self, output_name: str) -> None:
        from herald.destinations.klaviyo_api.folder import ledger_path

        store = self.context.store
        list_id = store.list_id(self.name, output_name)
        if list_id is not None:
            ledger_path(self.context.state_dir, self.name, list_id).unlink(missing_ok=True)
        store.forget_list_id(self.name, output_name)


class _KlaviyoSession(Session):
    def __init__(
        self, destination: KlaviyoApiDestination, client: KlaviyoApi, poll_interval: float
    ) -> None:
        self.destination, self.client, self.poll_interval = destination, client, poll_interval

    async def deliver(
        self,
        target: DeliveryTarget,
        *,
        reconcile: bool,
        progress: Progress | None,
        stop: Stop | None = None,
    ) -> Delivered:
        from herald.destinations.klaviyo_api.sync import ListDelivery, SyncOptions, sync_list

        context = self.destination.context
        spec = ListDelivery(
            target.run_id,
            target.destination,
            target.sub_audience,
            target.group,
            target.output_name,
            target.folder,
            context.state_dir,
            options=SyncOptions(poll_interval=self.poll_interval),
            earlier_folder=target.folder_in,  # to settle the jobs an earlier failed run left sent
            engine=context.open_engine,
        )
        try:
            result = await sync_list(
                self.client, context.store, spec, progress=progress, reconcile=reconcile, stop=stop
            )
        except Exception as error:  # a failed delivery never stops the others (DESIGN §1.4)
            return Delivered("failed", message=error_line(error))
        counts = result.counts
        if result.status == "cancelled":  # its outcomes say what was done before the stop
            return Delivered("cancelled", message=result.error, path=result.outcomes, counts=counts)
        if result.status != "done":
            return Delivered("failed", message=result.error, counts=counts)
        message = (
            f"list synced: +{counts.get('adds', 0):,} ~{counts.get('updates', 0):,} "
            f"-{counts.get('removes', 0) + counts.get('settled', 0):,}, "
            f"{counts.get('rejected', 0):,} rejected"
        )
        return Delivered("synced", message=message, path=result.outcomes, counts=counts)
