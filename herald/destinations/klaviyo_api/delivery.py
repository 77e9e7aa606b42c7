"""What a Klaviyo list delivery is given, what it returns, and what its steps share.

:func:`~herald.destinations.klaviyo_api.sync.sync_list` takes a :class:`ListDelivery` and
returns a :class:`DeliveryResult`. Once the delivery is recorded and its list is known, every
step works with one :class:`ListSync`: the client, the store, the delivery's id, the list's id
and its files, all set before the first step runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from herald.destinations.base import EventKind, Progress, Stop, SyncEvent
from herald.destinations.klaviyo_api import limits
from herald.destinations.klaviyo_api.folder import DeliveryFolder, ledger_path
from herald.destinations.klaviyo_api.ledger import batches_table

if TYPE_CHECKING:
    from herald.destinations.klaviyo_api.api import KlaviyoApi
    from herald.engines.base import Engine
    from herald.state.models import BatchRecord
    from herald.state.store import StateStore

__all__ = ["DeliveryResult", "ListDelivery", "ListSync", "SyncOptions", "emit"]


@dataclass(frozen=True)
class SyncOptions:
    """How a delivery is cut and paced.

    Attributes:
        poll_interval: the most seconds between polls of the outstanding import jobs.
        jobs_in_flight: import jobs sent but not yet confirmed, at most.
        sends_at_once: import requests on the wire at once (the limiter paces them).
        updates: re-import members whose attributes changed.
        import_profiles: profiles per bulk import job.
        import_bytes: body bytes per bulk import job.
        remove_ids: profile ids per remove call.
        max_attempts: sends of one batch whose job Klaviyo cancelled, before it fails.
    """

    poll_interval: float = 2.0
    jobs_in_flight: int = 100
    sends_at_once: int = 4
    updates: bool = True
    import_profiles: int = limits.MAX_IMPORT_PROFILES
    import_bytes: int = limits.MAX_IMPORT_BYTES
    remove_ids: int = limits.MAX_REMOVE_IDS
    max_attempts: int = 5


@dataclass(frozen=True)
class ListDelivery:
    """One recipient group to keep in one Klaviyo list.

    Attributes:
        run_id: the run (it must exist in the state store).
        destination: the destination's name in herald.toml.
        sub_audience: the group's sub-audience.
        group: the recipient group.
        list_name: the Klaviyo list's exact name.
        folder: the delivery's folder in the run, holding ``desired.parquet`` and
            ``skipped.parquet`` (:func:`prepare_delivery`); diff files and outcomes go there.
        state_dir: the workspace's ``.herald`` folder (ledgers live under ``lists/``).
        options: batch sizes and pacing.
        earlier_folder: this list's delivery folder in another run, by run id. With it, a
            new delivery first settles the import jobs that earlier failed deliveries of the
            list left ``sent`` (see ``sync._Steps.settle_earlier``); None skips that.
        engine: gives the workspace's engine, which computes the diff when it keeps the
            desired records (``desired.engine.json`` in the folder).
    """

    run_id: str
    destination: str
    sub_audience: str
    group: str
    list_name: str
    folder: Path
    state_dir: Path
    options: SyncOptions = field(default_factory=SyncOptions)
    earlier_folder: Callable[[str], Path] | None = None
    engine: Callable[[], Engine] | None = None


@dataclass(frozen=True)
class DeliveryResult:
    """What a delivery did.

    Attributes:
        delivery_id: its id in the state store.
        list_id: the Klaviyo list's id.
        list_name: the list's name.
        status: ``done``, ``failed``, or ``cancelled`` (stopped at a batch boundary; recorded
            ``failed`` in the state store, with what was confirmed merged into the ledger).
        counts: planned figures (``adds``, ``updates``, ``removes``, ``settled``,
            ``unchanged``, ``repairs``, ``identity_changes``, ``bounced``, ``foreign``) and
            outcomes (``sent``, ``rejected``, ``removed``, ``skipped_invalid``), ``ledger``
            (the list's size as Herald knows it) and ``batches``.
        outcomes: the per-profile outcomes file, once written.
        seconds: how long this call took.
        error: what went wrong, for a failed delivery.
    """

    delivery_id: int
    list_id: str | None
    list_name: str
    status: str
    counts: dict[str, int]
    outcomes: Path | None
    seconds: float
    error: str | None = None


def emit(progress: Progress | None, delivery: ListDelivery, kind: EventKind, **data: Any) -> None:
    """Tell ``progress`` (if any) of an event of ``delivery``."""
    if progress is not None:
        progress(SyncEvent(kind, delivery.destination, delivery.list_name, **data))


@dataclass(frozen=True)
class ListSync:
    """One list delivery under way: what every step works with, all known before the first.

    Attributes:
        api: the Klaviyo client.
        store: the state store (checkpoints).
        spec: what is delivered where.
        delivery_id: the delivery's id in the state store.
        list_id: the Klaviyo list's id.
        progress: called with each :class:`SyncEvent` (None: nobody listens).
        stop: asked before each batch is sent; True sends no more (None: never stops).
    """

    api: KlaviyoApi
    store: StateStore
    spec: ListDelivery
    delivery_id: int
    list_id: str
    progress: Progress | None = None
    stop: Stop | None = None

    def stopped(self) -> bool:
        """Whether the run was cancelled: no further batch may be sent."""
        return self.stop is not None and self.stop()

    @property
    def files(self) -> DeliveryFolder:
        return DeliveryFolder(self.spec.folder)

    @property
    def options(self) -> SyncOptions:
        return self.spec.options

    @property
    def ledger(self) -> Path:
        return ledger_path(self.spec.state_dir, self.spec.destination, self.list_id)

    def emit(self, kind: EventKind, **data: Any) -> None:
        emit(self.progress, self.spec, kind, **data)

    def confirmed(
        self, batches: Sequence[BatchRecord] | None = None
    ) -> tuple[pa.Table, list[Path]]:
        """The confirmed batches (or ``batches``) as ranges, and their rejects files."""
        if batches is None:
            batches = self.store.batches(self.delivery_id, ["confirmed"])
        table = batches_table([(b.kind, b.first_row, b.row_count, b.job_id) for b in batches])
        rejects = [self.files.rejects(b.seq) for b in batches if b.kind != "remove"]
        return table, rejects
