"""Keep one Klaviyo list equal to one recipient group: exactly, fast, and safely across crashes.

One delivery goes through these steps, each checkpointed in the state store (DESIGN §1.4):

1. **list**: the list id from the state store, else by exact name, else created; remembered.
2. **plan** (delivery ``pending`` → ``planned``): the diff of the group's desired records with
   the list's ledger (:mod:`~herald.destinations.klaviyo_api.diff`), profile ids of the removes
   resolved by the cheaper route (:mod:`~herald.destinations.klaviyo_api.removes`), and every
   batch recorded ``planned`` in one transaction before anything is sent.
3. **send** (``running``): removes first (only ledger rows: profiles Herald added), then
   bulk imports, several in flight (:mod:`~herald.destinations.klaviyo_api.imports`); a batch
   is ``sent`` with its job id as soon as the request returns and ``confirmed`` once the job
   completes (import errors fetched and mapped back to rows). A request Klaviyo rejects as a
   whole (400) is split in halves until the bad profile is isolated and recorded as rejected.
4. **finish** (``done``): the ledger replaced atomically by old − confirmed removes +
   confirmed imports (minus rejected profiles) (:mod:`~herald.destinations.klaviyo_api.ledger`),
   then per-profile outcomes written.

A cancelled run (``stop``) stops at the next batch boundary: no batch is sent after it, the
batches already sent are polled until confirmed, the ledger is merged with exactly the
confirmed work (so the list and its ledger agree), the outcomes of that work are written, and
the delivery is recorded ``failed`` ("cancelled …"); the next run's diff sends the rest.

A delivery killed at any moment resumes from its checkpoints: confirmed batches are never
sent again, a sent batch is polled by its job id, a planned batch is sent (it may have gone
out before the crash; a bulk import is an upsert, so that is harmless).

Nothing here logs or raises with an email, a phone number or a key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from herald.atomic import atomic_path
from herald.core.prepare import skipped_rows
from herald.destinations.base import Progress, Stop, SyncEvent
from herald.destinations.klaviyo_api import _plan
from herald.destinations.klaviyo_api._parquet import parquet_source
from herald.destinations.klaviyo_api._tasks import run_all
from herald.destinations.klaviyo_api.api import KlaviyoApi
from herald.destinations.klaviyo_api.delivery import (
    DeliveryResult,
    ListDelivery,
    ListSync,
    SyncOptions,
    emit,
)
from herald.destinations.klaviyo_api.desired import write_desired
from herald.destinations.klaviyo_api.diff import DiffCounts, compute_diff
from herald.destinations.klaviyo_api.engine_diff import compute_engine_diff, engine_records
from herald.destinations.klaviyo_api.folder import DeliveryFolder
from herald.destinations.klaviyo_api.imports import Imports
from herald.destinations.klaviyo_api.ledger import merge_ledger, write_outcomes
from herald.destinations.klaviyo_api.removes import (
    identities_overlap,
    read_members,
    resolve_removes,
    send_removes,
)
from herald.engines.duckdb import connect_utc
from herald.engines.spark import SparkEngine
from herald.exceptions import RetriableSyncError, SyncError
from herald.redact import error_line
from herald.state.models import DeliveryRecord
from herald.state.store import StateStore

__all__ = [
    "DeliveryResult",
    "ListDelivery",
    "SyncEvent",
    "SyncOptions",
    "prepare_delivery",
    "sync_list",
]

logger = logging.getLogger(__name__)


# --- inputs ---------------------------------------------------------------------------------


def prepare_delivery(
    records: pa.Table | pa.RecordBatchReader,
    fields: Sequence[str],
    key: str,
    dropped: pa.Table,
    folder: Path,
) -> int:
    """Write a delivery's inputs: ``desired.parquet`` and ``skipped.parquet``.

    Kept once written, so a resumed run delivers exactly what the interrupted one planned.

    Args:
        records: ``Prepared.records``.
        fields: ``Prepared.fields``.
        key: the customer key column.
        dropped: ``Prepared.dropped`` (rows with ``skipped`` are never sent).
        folder: the delivery's folder.

    Returns:
        How many records the list must hold.
    """
    files = DeliveryFolder(folder)
    if files.desired.exists() and files.skipped.exists():
        return int(pq.ParquetFile(files.desired).metadata.num_rows)
    count, too_large = write_desired(records, fields, key, files.desired)
    table = skipped_rows(dropped, key)
    table = pa.concat_tables([table, too_large.cast(table.schema)])
    with atomic_path(files.skipped) as partial:
        pq.write_table(table, partial)
    return count


# --- the sync -------------------------------------------------------------------------------


async def sync_list(
    api: KlaviyoApi,
    store: StateStore,
    delivery: ListDelivery,
    *,
    progress: Progress | None = None,
    reconcile: bool = False,
    stop: Stop | None = None,
) -> DeliveryResult:
    """Make a Klaviyo list hold exactly one group; resume it if it was interrupted.

    Args:
        api: the Klaviyo client (one per destination and run; its limiter paces).
        store: the state store (checkpoints).
        delivery: what to deliver where (:func:`prepare_delivery` wrote its inputs).
        progress: called with each :class:`SyncEvent`.
        reconcile: read the list back and repair drift (see :class:`_Steps`).
        stop: asked before planning and before each batch is sent: True stops the delivery
            at that boundary (see the module docstring).

    Returns:
        The result; a delivery that failed with a retriable error has status ``failed``, what
        it confirmed is in the list's ledger, and a resume or the next run carries on. One
        stopped by ``stop`` has status ``cancelled``, with the same guarantees.

    Raises:
        FatalSyncError: retrying cannot help (key, scopes, list cap, a 4xx); the delivery is
            recorded failed first, as for any other error raised. A cancellation (Ctrl-C)
            propagates and leaves the delivery ``running``, to be resumed like a crash.
    """
    started = time.monotonic()
    d = delivery
    record = store.start_delivery(d.run_id, d.destination, d.sub_audience, d.group, d.list_name)
    if record.status == "done":
        return _result(record, delivery, started)
    if record.status == "pending" and stop is not None and stop():
        return _cancelled(store, record, delivery, started, progress)
    emit(progress, delivery, "started")
    steps: _Steps | None = None  # until the list is known, nothing can have been confirmed
    try:
        # No scope probe: a missing scope surfaces as the client's FatalSyncError on the
        # first 403, naming the scope (probes broke the spec and spent daily caps).
        record, list_id = await _list_id(api, store, delivery, record)
        sync = ListSync(api, store, delivery, record.id, list_id, progress, stop)
        steps = _Steps(sync, record, reconcile)
        done = _result(await steps.run(), delivery, started)
        return replace(done, status="cancelled") if steps.stopped else done
    except Exception as error:
        # Any error, not only Klaviyo's: no delivery is left ``running`` by one. A
        # cancellation or Ctrl-C (BaseException) is a crash instead: a resume carries on.
        message = error_line(error)
        try:
            if steps is not None:
                steps.merge_confirmed()
        finally:
            record = store.update_delivery(record.id, status="failed", error=message)
            emit(progress, delivery, "failed", error=message)
        if isinstance(error, RetriableSyncError):
            return _result(record, delivery, started)
        raise


def _cancelled(
    store: StateStore,
    record: DeliveryRecord,
    delivery: ListDelivery,
    started: float,
    progress: Progress | None,
) -> DeliveryResult:
    """A delivery stopped before it was planned: nothing was looked up or sent."""
    message = "cancelled before the list was planned: nothing sent"
    record = store.update_delivery(record.id, status="failed", error=message)
    emit(progress, delivery, "cancelled", error=message)
    return replace(_result(record, delivery, started), status="cancelled")


def _result(record: DeliveryRecord, delivery: ListDelivery, started: float) -> DeliveryResult:
    outcomes = DeliveryFolder(delivery.folder).outcomes
    return DeliveryResult(
        record.id,
        record.list_id,
        record.list_name,
        record.status,
        dict(record.counts),
        outcomes if outcomes.exists() else None,
        time.monotonic() - started,
        record.error,
    )


async def _list_id(
    api: KlaviyoApi, store: StateStore, delivery: ListDelivery, record: DeliveryRecord
) -> tuple[DeliveryRecord, str]:
    """The delivery (with its list id recorded) and the list's id: the one this delivery
    already uses (a resumed run stays on its list), else the list found by its exact name,
    else a new list.

    A new delivery looks the name up even when an id is remembered (one cheap call): a list
    deleted in Klaviyo is then created again, and its ledger, keyed by the new id, starts
    empty, so every member is added back.
    """
    if record.list_id:
        return record, record.list_id
    destination, name = delivery.destination, delivery.list_name
    remembered = store.list_id(destination, name)
    found = await api.find_list(name)
    if found is None:
        found = await api.create_list(name)
    if remembered is not None and remembered != found:
        store.forget_list_id(destination, name)
    found = store.remember_list_id(destination, name, found)
    return store.update_delivery(record.id, list_id=found), found


class _Steps:
    """One delivery's steps once its list is known; see the module docstring.

    Reconcile reads the list's members before planning: ledger members missing from the list
    are re-added, unless found missing again after a re-add (Klaviyo removed them: bounced
    or suppressed; the ledger marks them so they are not re-added on every run); removes of
    profiles already gone need no call; members Herald did not add are counted and left.
    """

    def __init__(self, sync: ListSync, record: DeliveryRecord, reconcile: bool) -> None:
        self.sync = sync
        self.store = sync.store
        self.files = sync.files
        self.record = record  # the delivery as last recorded: each step moves its status on
        self.reconcile = reconcile
        self.stopped = False  # the run was cancelled with batches left unsent

    async def run(self) -> DeliveryRecord:
        """Plan (unless planned before), send, finish; the delivery as recorded: ``done``,
        or ``failed`` when the run's cancel stopped it (:attr:`stopped`)."""
        if self.record.status == "pending":
            await self.settle_earlier()
            await self._plan()
        self.record = self.store.update_delivery(self.sync.delivery_id, status="running")
        await self._send_all()
        return await self._finish()

    async def settle_earlier(self) -> None:
        """Settle the import jobs that earlier failed deliveries of this list left ``sent``,
        and merge what they added into the ledger, before the diff.

        Herald removes only profiles it added (DESIGN §1.4), so the ledger must hold every
        profile it added: a job sent before its delivery failed may complete anyway, and its
        profiles, unknown to the ledger, would stay in the list once they leave the group.
        The earlier delivery stays ``failed`` and nothing of it is sent again (this diff adds
        whoever is still in the group and missing). Its folder must still hold its diff files
        (``herald runs prune`` keeps those of the newest failed run of a campaign). Klaviyo
        errors are logged, not raised: a job that cannot be polled does not hold this
        delivery up (see :meth:`Imports.settle`).
        """
        spec = self.sync.spec
        if spec.earlier_folder is None:
            return
        found = self.store.unsettled_deliveries(spec.destination, spec.list_name, spec.run_id)
        for record in found:
            folder = DeliveryFolder(spec.earlier_folder(record.run_id))
            if record.list_id is None or not folder.removes.exists():
                continue  # pruned: nothing left to map the jobs' rows to
            earlier_spec = replace(spec, run_id=record.run_id, folder=folder.path)
            earlier = ListSync(self.sync.api, self.store, earlier_spec, record.id, record.list_id)
            try:
                await _settle_sent(earlier)
            except SyncError as error:
                logger.warning(
                    "list '%s': the import jobs of an earlier failed delivery (run %s) could "
                    "not all be settled: %s",
                    spec.list_name,
                    record.run_id,
                    error_line(error),
                )

    async def _plan(self) -> None:
        sync, files = self.sync, self.files
        members = None
        if self.reconcile:
            members = await read_members(sync, files.members)
        counts = await asyncio.to_thread(self._diff, members)
        sync.emit("diffed")
        removes = counts.removes
        if removes:
            removes, _ = await resolve_removes(sync, members)
        plan = self._batches(removes)
        figures = {
            "desired": counts.desired,
            "adds": counts.adds,
            "updates": counts.updates,
            "removes": removes,
            "settled": counts.settled + counts.removes - removes,
            "unchanged": counts.unchanged,
            "repairs": counts.repairs,
            "identity_changes": counts.identity_changes,
            "bounced": counts.bounced,
            "foreign": counts.foreign,
            "skipped_invalid": pq.ParquetFile(files.skipped).metadata.num_rows,
            "batches": len(plan),
        }
        self.record = self.store.plan_delivery(sync.delivery_id, plan, counts=figures)
        sync.emit("planned", counts=figures)

    def _diff(self, members: Path | None) -> DiffCounts:
        """The diff files and counts: computed by the engine when it keeps the desired
        records, else over ``desired.parquet`` here."""
        sync, files = self.sync, self.files
        updates = sync.options.updates
        if engine_records(files.path) is None:
            return compute_diff(
                files.desired, sync.ledger, files.path, updates=updates, members=members
            )
        engine = sync.spec.engine() if sync.spec.engine is not None else None
        if not isinstance(engine, SparkEngine):
            msg = (
                f"list '{sync.spec.list_name}': this run's records were prepared by Spark; "
                'resume it with [engine] name = "spark" in herald.toml'
            )
            raise SyncError(msg)
        return compute_engine_diff(
            engine, files.path, sync.ledger, updates=updates, members=members
        )

    def _batches(self, removes: int) -> list[tuple[str, int, int]]:
        opts = self.sync.options
        plan = [("remove", first, n) for first, n in _plan.fixed_ranges(removes, opts.remove_ids)]
        for kind in ("add", "update"):
            with connect_utc() as con:
                source = parquet_source(self.files.of_kind(kind))
                sizes = con.execute(
                    f"SELECT strlen(profile) FROM {source} ORDER BY row"
                ).fetchnumpy()
            column = next(iter(sizes.values()))
            ranges = _plan.import_ranges(
                column, max_count=opts.import_profiles, max_bytes=opts.import_bytes
            )
            plan += [(kind, first, n) for first, n in ranges]
        return plan

    async def _send_all(self) -> None:
        sync = self.sync
        todo = self.store.batches(sync.delivery_id, ["planned", "sent", "failed"])
        removes = [b for b in todo if b.kind == "remove"]
        imports = [b for b in todo if b.kind != "remove"]
        if removes and imports and not identities_overlap(sync):
            # Different endpoints with their own limits: removing and importing at once
            # takes the longer of the two instead of their sum.
            await run_all([send_removes(sync, removes), Imports(sync).run(imports)])
            return
        if removes:
            await send_removes(sync, removes)
        if imports:
            await Imports(sync).run(imports)

    def merge_confirmed(self) -> None:
        """Merge what this delivery confirmed into the list's ledger (it failed)."""
        if not self.files.removes.exists() or self.record.status == "pending":
            return  # not planned: nothing was sent
        table, rejects = self.sync.confirmed()
        merge_ledger(self.sync.ledger, self.files.path, table, rejects)

    async def _finish(self) -> DeliveryRecord:
        sync, files = self.sync, self.files
        left = self.store.batches(sync.delivery_id, ["planned", "sent", "failed"])
        if left and sync.stopped() and not any(b.status == "sent" for b in left):
            return self._stop(len(left))
        if left:
            name = sync.spec.list_name
            msg = f"{len(left)} batches of list '{name}' did not complete; resume the run"
            raise RetriableSyncError(msg)
        bounced = await self._bounced()
        table, rejects = sync.confirmed()
        skipped = pq.read_table(files.skipped)
        # The ledger first: outcomes on disk say the delivery's work is kept (a retry of a
        # failed run skips the deliveries that have them).
        ledger = merge_ledger(sync.ledger, files.path, table, rejects, bounced_keys=bounced)
        outcomes = write_outcomes(files.outcomes, files.path, table, rejects, skipped)
        counts = {
            **self.record.counts,
            **outcomes,
            "ledger": ledger,
            "bounced_now": bounced.num_rows,
        }
        for name in ("sent", "rejected", "removed", "skipped_invalid"):
            counts.setdefault(name, 0)
        self.record = self.store.update_delivery(sync.delivery_id, status="done", counts=counts)
        sync.emit("done", counts=counts)
        return self.record

    def _stop(self, unsent: int) -> DeliveryRecord:
        """End a delivery the run's cancel stopped: the ledger merged with exactly the
        confirmed batches, their outcomes written, the delivery recorded failed."""
        sync, files = self.sync, self.files
        table, rejects = sync.confirmed()
        ledger = merge_ledger(sync.ledger, files.path, table, rejects)
        skipped = pq.read_table(files.skipped)
        outcomes = write_outcomes(files.outcomes, files.path, table, rejects, skipped)
        counts = {**self.record.counts, **outcomes, "ledger": ledger, "unsent_batches": unsent}
        for name in ("sent", "rejected", "removed", "skipped_invalid"):
            counts.setdefault(name, 0)
        done = table.num_rows
        message = f"cancelled: {done} of {done + unsent} batches confirmed, {unsent} not sent"
        self.record = self.store.update_delivery(
            sync.delivery_id, status="failed", counts=counts, error=message
        )
        self.stopped = True
        sync.emit("cancelled", counts=counts, error=message)
        return self.record

    async def _bounced(self) -> pa.Table:
        """Repaired members that are missing again after their re-add: Klaviyo removed them."""
        empty = pa.table({"key": pa.array([], pa.string())})
        if not self.reconcile or not self.record.counts.get("repairs"):
            return empty
        after = await read_members(self.sync, self.files.members_after)
        table, _ = self.sync.confirmed()
        with connect_utc() as con:
            con.register("batches", table)
            return con.sql(
                f"""
                SELECT a.key FROM {parquet_source(self.files.adds)} a
                JOIN (SELECT * FROM batches WHERE kind = 'add') b
                  ON a.row >= b.first_row AND a.row < b.first_row + b.row_count
                WHERE a.repair AND a.email NOT IN (
                    SELECT lower(email) FROM {parquet_source(after)} WHERE email IS NOT NULL)
                """
            ).to_arrow_table()


async def _settle_sent(sync: ListSync) -> None:
    """Settle a failed delivery's ``sent`` batches, sending nothing, and merge the ones
    confirmed now (only those: the rest was merged when the delivery ended)."""
    store = sync.store
    sent = [b for b in store.batches(sync.delivery_id, ["sent"]) if b.job_id]
    try:
        await Imports(sync).settle(sent)
    finally:
        seqs = {b.seq for b in sent}
        confirmed = [b for b in store.batches(sync.delivery_id, ["confirmed"]) if b.seq in seqs]
        if confirmed:
            table, rejects = sync.confirmed(confirmed)
            merge_ledger(sync.ledger, sync.files.path, table, rejects, settled=False)
            logger.info(
                "list '%s': %d import batches of an earlier failed delivery (run %s) "
                "completed; merged into the ledger",
                sync.spec.list_name,
                len(confirmed),
                sync.spec.run_id,
            )
