"""Keep one Klaviyo list equal to one recipient group: exactly, fast, and safely across crashes.

One delivery goes through these steps, each checkpointed in the state store (DESIGN §1.4):

1. **list**: the list id from the state store, else by exact name, else created; remembered.
2. **plan** (delivery ``pending`` → ``planned``): the diff of the group's desired records with
   the list's ledger (:mod:`~herald.destinations.klaviyo_api.diff`), profile ids of the removes
   resolved by the cheaper route, and every batch recorded ``planned`` in one transaction
   before anything is sent.
3. **send** (``running``): removes first (only ledger rows: profiles Herald added), then
   bulk imports, several in flight; a batch is ``sent`` with its job id as soon as the
   request returns and ``confirmed`` once the job completes (import errors fetched and
   mapped back to rows). A request Klaviyo rejects as a whole (400) is split in halves until
   the bad profile is isolated and recorded as rejected.
4. **finish** (``done``): per-profile outcomes written, and the ledger replaced atomically by
   old − confirmed removes + confirmed imports (minus rejected profiles).

A delivery killed at any moment resumes from its checkpoints: confirmed batches are never
sent again, a sent batch is polled by its job id, a planned batch is sent (it may have gone
out before the crash; a bulk import is an upsert, so that is harmless).

Nothing here logs or raises with an email, a phone number or a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from herald.atomic import atomic_path
from herald.core.estimate import FIRST_POLL, LAST_POLL, QUICK_POLL, ListPlan, calls_for
from herald.crash import crash_point
from herald.destinations.base import EventKind, Progress, SyncEvent
from herald.destinations.klaviyo_api import _plan, diff, limits
from herald.destinations.klaviyo_api.api import ImportError_, ImportJob, KlaviyoApi
from herald.engines.duckdb import connect_utc
from herald.exceptions import FatalKlaviyoRequestError, RetriableSyncError, SyncError
from herald.redact import error_line, redact
from herald.state.models import BatchRecord, DeliveryRecord
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
T = TypeVar("T")


_FILES = {"add": "adds.parquet", "update": "updates.parquet", "remove": "removes.parquet"}
_IDENT_FIELDS = {"e:": "email", "p:": "phone_number", "x:": "external_id"}  # diff's ident tags
_FIELD_TAGS = {name: tag for tag, name in _IDENT_FIELDS.items()}


# --- what the caller gives and gets -----------------------------------------------------------


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
            list left ``sent`` (see ``_Sync._settle_earlier``); None skips that.
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


@dataclass(frozen=True)
class DeliveryResult:
    """What a delivery did.

    Attributes:
        delivery_id: its id in the state store.
        list_id: the Klaviyo list's id.
        list_name: the list's name.
        status: ``done`` or ``failed``.
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
    desired, skipped_path = folder / "desired.parquet", folder / "skipped.parquet"
    if desired.exists() and skipped_path.exists():
        return int(pq.ParquetFile(desired).metadata.num_rows)
    count, too_large = diff.write_desired(records, fields, key, desired)
    skipped = dropped.filter(pc.field("skipped")) if "skipped" in dropped.column_names else dropped
    table = pa.table(
        {
            "key": pc.cast(skipped.column(key), pa.string())
            if skipped.num_rows
            else pa.array([], pa.string()),
            "reason": pc.cast(skipped.column("reason"), pa.string())
            if skipped.num_rows
            else pa.array([], pa.string()),
        }
    )
    table = pa.concat_tables([table, too_large.cast(table.schema)])
    with atomic_path(skipped_path) as partial:
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
) -> DeliveryResult:
    """Make a Klaviyo list hold exactly one group; resume it if it was interrupted.

    Args:
        api: the Klaviyo client (one per destination and run; its limiter paces).
        store: the state store (checkpoints).
        delivery: what to deliver where (:func:`prepare_delivery` wrote its inputs).
        progress: called with each :class:`SyncEvent`.
        reconcile: read the list back and repair drift (see :class:`_Sync`).

    Returns:
        The result; a delivery that failed with a retriable error has status ``failed``, what
        it confirmed is in the list's ledger, and a resume or the next run carries on.

    Raises:
        FatalSyncError: retrying cannot help (key, scopes, list cap, a 4xx); the delivery is
            recorded failed first, as for any other error raised. A cancellation (Ctrl-C)
            propagates and leaves the delivery ``running``, to be resumed like a crash.
    """
    return await _Sync(api, store, delivery, progress, reconcile).run()


class _Sync:
    """One delivery's steps; see the module docstring.

    Reconcile reads the list's members before planning: ledger members missing from the list
    are re-added, unless found missing again after a re-add (Klaviyo removed them: bounced
    or suppressed; the ledger marks them so they are not re-added on every run); removes of
    profiles already gone need no call; members Herald did not add are counted and left.
    """

    def __init__(
        self,
        api: KlaviyoApi,
        store: StateStore,
        delivery: ListDelivery,
        progress: Progress | None,
        reconcile: bool,
    ) -> None:
        self.api, self.store, self.spec = api, store, delivery
        self.options = delivery.options
        self.progress = progress
        self.reconcile = reconcile
        self.folder = delivery.folder
        self.started = time.monotonic()
        self.record: DeliveryRecord | None = None
        self.list_id: str | None = None

    # --- events and state ------------------------------------------------------------------

    def emit(self, kind: EventKind, **data: Any) -> None:
        if self.progress is not None:
            self.progress(SyncEvent(kind, self.spec.destination, self.spec.list_name, **data))

    @property
    def id(self) -> int:
        assert self.record is not None
        return self.record.id

    def result(self, record: DeliveryRecord) -> DeliveryResult:
        outcomes = self.folder / "outcomes.parquet"
        return DeliveryResult(
            record.id,
            record.list_id,
            record.list_name,
            record.status,
            dict(record.counts),
            outcomes if outcomes.exists() else None,
            time.monotonic() - self.started,
            record.error,
        )

    # --- the steps -------------------------------------------------------------------------

    async def run(self) -> DeliveryResult:
        spec = self.spec
        self.record = self.store.start_delivery(
            spec.run_id, spec.destination, spec.sub_audience, spec.group, spec.list_name
        )
        if self.record.status == "done":
            return self.result(self.record)
        self.emit("started")
        try:
            # No scope probe: a missing scope surfaces as the client's FatalSyncError on the
            # first 403, naming the scope (probes broke the spec and spent daily caps).
            self.list_id = await self._list_id()
            if self.record.status == "pending":
                await self._settle_earlier()
                await self._plan()
            self.record = self.store.update_delivery(self.id, status="running")
            await self._send_all()
            return await self._finish()
        except Exception as error:
            # Any error, not only Klaviyo's: no delivery is left ``running`` by one. A
            # cancellation or Ctrl-C (BaseException) is a crash instead: a resume carries on.
            message = error_line(error)
            try:
                self._merge_confirmed()
            finally:
                self.record = self.store.update_delivery(self.id, status="failed", error=message)
                self.emit("failed", error=message)
            if isinstance(error, RetriableSyncError):
                return self.result(self.record)
            raise

    async def _list_id(self) -> str:
        """The list's id: the one this delivery already uses (a resumed run stays on its list),
        else the list found by its exact name, else a new list.

        A new delivery looks the name up even when an id is remembered (one cheap call): a list
        deleted in Klaviyo is then created again, and its ledger, keyed by the new id, starts
        empty, so every member is added back.
        """
        assert self.record is not None
        spec = self.spec
        if self.record.list_id:
            return self.record.list_id
        remembered = self.store.list_id(spec.destination, spec.list_name)
        found = await self.api.find_list(spec.list_name)
        if found is None:
            found = await self.api.create_list(spec.list_name)
        if remembered is not None and remembered != found:
            self.store.forget_list_id(spec.destination, spec.list_name)
        found = self.store.remember_list_id(spec.destination, spec.list_name, found)
        self.record = self.store.update_delivery(self.id, list_id=found)
        return found

    async def _settle_earlier(self) -> None:
        """Settle the import jobs that earlier failed deliveries of this list left ``sent``,
        and merge what they added into the ledger, before the diff.

        Herald removes only profiles it added (DESIGN §1.4), so the ledger must hold every
        profile it added: a job sent before its delivery failed may complete anyway, and its
        profiles, unknown to the ledger, would stay in the list once they leave the group.
        The earlier delivery stays ``failed`` and nothing of it is sent again (this diff adds
        whoever is still in the group and missing). Its folder must still hold its diff files
        (``herald runs prune`` keeps those of the newest failed run of a campaign). Klaviyo
        errors are logged, not raised: a job that cannot be polled does not hold this
        delivery up (see :meth:`_Imports.settle`).
        """
        spec = self.spec
        if spec.earlier_folder is None:
            return
        found = self.store.unsettled_deliveries(spec.destination, spec.list_name, spec.run_id)
        for record in found:
            folder = spec.earlier_folder(record.run_id)
            if record.list_id is None or not (folder / "removes.parquet").exists():
                continue  # pruned: nothing left to map the jobs' rows to
            earlier_spec = replace(spec, run_id=record.run_id, folder=folder)
            earlier = _Sync(self.api, self.store, earlier_spec, None, False)
            earlier.record, earlier.list_id = record, record.list_id
            try:
                await earlier._settle_sent()
            except SyncError as error:
                logger.warning(
                    "list '%s': the import jobs of an earlier failed delivery (run %s) could "
                    "not all be settled: %s",
                    spec.list_name,
                    record.run_id,
                    error_line(error),
                )

    async def _settle_sent(self) -> None:
        """Settle this (failed) delivery's ``sent`` batches, sending nothing, and merge the
        ones confirmed now (only those: the rest was merged when the delivery ended)."""
        sent = [b for b in self.store.batches(self.id, ["sent"]) if b.job_id]
        try:
            await _Imports(self).settle(sent)
        finally:
            seqs = {b.seq for b in sent}
            confirmed = [b for b in self.store.batches(self.id, ["confirmed"]) if b.seq in seqs]
            if confirmed:
                table, rejects = self._confirmed(confirmed)
                diff.merge_ledger(self.ledger, self.folder, table, rejects, settled=False)
                logger.info(
                    "list '%s': %d import batches of an earlier failed delivery (run %s) "
                    "completed; merged into the ledger",
                    self.spec.list_name,
                    len(confirmed),
                    self.spec.run_id,
                )

    @property
    def ledger(self) -> Path:
        assert self.list_id is not None
        return diff.ledger_path(self.spec.state_dir, self.spec.destination, self.list_id)

    async def _plan(self) -> None:
        members = None
        if self.reconcile:
            members = await self._read_members(self.folder / "members.parquet")
        counts = diff.compute_diff(
            self.folder / "desired.parquet",
            self.ledger,
            self.folder,
            updates=self.options.updates,
            members=members,
        )
        self.emit("diffed")
        removes = counts.removes
        if removes:
            removes, _ = await self._resolve_removes(members)
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
            "skipped_invalid": pq.ParquetFile(self.folder / "skipped.parquet").metadata.num_rows,
            "batches": len(plan),
        }
        self.record = self.store.plan_delivery(self.id, plan, counts=figures)
        self.emit("planned", counts=figures)

    async def _read_members(self, target: Path) -> Path:
        assert self.list_id is not None
        members = self.api.list_members(self.list_id)
        rows: list[tuple[str, str | None, str | None, str | None]] = []
        async for m in members:
            rows.append((m.profile_id, m.email, m.phone_number, m.external_id))
        # Members arrive a page at a time; they are written in chunks, not kept as objects.
        diff.write_members(iter(rows), target)
        return target

    async def _resolve_removes(self, members: Path | None) -> tuple[int, int]:
        """Find the profile ids of the removes that lack one, the cheaper way (estimate's rule)."""
        removes = self.folder / "removes.parquet"
        missing = diff.missing_ids(removes)
        if missing.num_rows:
            size = diff.read_ledger_count(self.ledger)
            plan = ListPlan(
                "",
                adds=0,
                removes=missing.num_rows,
                list_id_known=True,
                list_exists=True,
                list_size=size,
            )
            if members is None and "get_profiles_for_list" in calls_for(plan, limits.CAPS):
                members = await self._read_members(self.folder / "members.parquet")
            if members is not None:
                found = diff.member_ids(members, removes)
            else:
                found = await self._find_profiles(missing)
        else:
            found = pa.table(
                {"ident": pa.array([], pa.string()), "profile_id": pa.array([], pa.string())}
            )
        return diff.set_profile_ids(removes, found)

    async def _find_profiles(self, missing: pa.Table) -> pa.Table:
        """Profile ids by identifier, 100 values a call, the calls together (the client's
        concurrency and limiter pace them): look-ups are cheap, round trips are not."""
        by_field: dict[str, list[str]] = {"email": [], "phone_number": [], "external_id": []}
        for ident in missing.column("ident").to_pylist():
            by_field[_IDENT_FIELDS[ident[:2]]].append(ident[2:])
        chunks = [
            (name, values[first : first + limits.MAX_FILTER_VALUES])
            for name, values in by_field.items()
            for first in range(0, len(values), limits.MAX_FILTER_VALUES)
        ]
        answers = await _all(
            self.api.find_profiles(name, chunk)  # type: ignore[arg-type]
            for name, chunk in chunks
        )
        idents: list[str] = []
        ids: list[str] = []
        for (name, chunk), found in zip(chunks, answers, strict=True):
            lowered = {k.lower() if name == "email" else k: v for k, v in found.items()}
            for value in chunk:
                pid = lowered.get(value.lower() if name == "email" else value)
                if pid is not None:
                    idents.append(_FIELD_TAGS[name] + value)
                    ids.append(pid)
        return pa.table(
            {"ident": pa.array(idents, pa.string()), "profile_id": pa.array(ids, pa.string())}
        )

    def _batches(self, removes: int) -> list[tuple[str, int, int]]:
        opts = self.options
        plan = [("remove", first, n) for first, n in _plan.fixed_ranges(removes, opts.remove_ids)]
        for kind in ("add", "update"):
            with connect_utc() as con:
                source = diff.parquet_source(self.folder / _FILES[kind])
                sizes = con.execute(
                    f"SELECT strlen(profile) FROM {source} ORDER BY row"
                ).fetchnumpy()
            column = next(iter(sizes.values()))
            ranges = _plan.import_ranges(
                column, max_count=opts.import_profiles, max_bytes=opts.import_bytes
            )
            plan += [(kind, first, n) for first, n in ranges]
        return plan

    # --- sending ---------------------------------------------------------------------------

    async def _send_all(self) -> None:
        todo = self.store.batches(self.id, ["planned", "sent", "failed"])
        removes = [b for b in todo if b.kind == "remove"]
        imports = [b for b in todo if b.kind != "remove"]
        if removes and imports and not self._identities_overlap():
            # Different endpoints with their own limits: removing and importing at once
            # takes the longer of the two instead of their sum.
            await _all([self._removes(removes), _Imports(self).run(imports)])
            return
        if removes:
            await self._removes(removes)
        if imports:
            await _Imports(self).run(imports)

    def _identities_overlap(self) -> bool:
        """Whether a profile to remove shares an email, phone or external id with one to add
        or update: Klaviyo may then see them as one profile, and only removing first (then
        adding) leaves the right member in the list."""
        imports = [self.folder / _FILES[k] for k in ("add", "update")]
        sources = " UNION ALL ".join(
            f"SELECT email, phone_number, external_id FROM {diff.parquet_source(path)}"
            for path in imports
            if path.exists()
        )
        if not sources:
            return False
        removes = diff.parquet_source(self.folder / _FILES["remove"])
        with connect_utc() as con:
            found = con.execute(
                f"""
                WITH i AS ({sources}), r AS (SELECT * FROM {removes})
                SELECT EXISTS (SELECT 1 FROM i JOIN r ON lower(i.email) = lower(r.email))
                    OR EXISTS (SELECT 1 FROM i JOIN r ON i.phone_number = r.phone_number)
                    OR EXISTS (SELECT 1 FROM i JOIN r ON i.external_id = r.external_id)
                """
            ).fetchone()
        return bool(found and found[0])

    async def _removes(self, batches: list[BatchRecord]) -> None:
        slots = asyncio.Semaphore(max(1, self.options.jobs_in_flight))

        async def one(batch: BatchRecord) -> None:
            async with slots:
                rows = diff.read_rows(
                    self.folder / _FILES["remove"], batch.first_row, batch.row_count, ["profile_id"]
                )
                assert self.list_id is not None
                await self.api.remove_from_list(self.list_id, rows.column("profile_id").to_pylist())
                self.store.set_batch(self.id, batch.seq, "confirmed")
                self.emit(
                    "batch_confirmed",
                    batch={"seq": batch.seq, "kind": "remove", "rows": batch.row_count},
                )

        await _all(one(b) for b in batches)

    # --- finishing -------------------------------------------------------------------------

    def _confirmed(self, batches: list[BatchRecord] | None = None) -> tuple[pa.Table, list[Path]]:
        """The confirmed batches (or ``batches``) as ranges, and their rejects files."""
        if batches is None:
            batches = self.store.batches(self.id, ["confirmed"])
        table = diff.batches_table([(b.kind, b.first_row, b.row_count, b.job_id) for b in batches])
        rejects = [
            self.folder / "rejects" / f"{b.seq}.parquet" for b in batches if b.kind != "remove"
        ]
        return table, rejects

    def _merge_confirmed(self, bounced: pa.Table | None = None) -> int:
        if self.list_id is None or not (self.folder / "removes.parquet").exists():
            return diff.read_ledger_count(self.ledger, None) if self.list_id else 0
        if self.record is None or self.record.status == "pending":
            return diff.read_ledger_count(self.ledger, None)
        table, rejects = self._confirmed()
        return diff.merge_ledger(self.ledger, self.folder, table, rejects, bounced_keys=bounced)

    async def _finish(self) -> DeliveryResult:
        left = self.store.batches(self.id, ["planned", "sent", "failed"])
        if left:
            name = self.spec.list_name
            msg = f"{len(left)} batches of list '{name}' did not complete; resume the run"
            raise RetriableSyncError(msg)
        bounced = await self._bounced()
        table, rejects = self._confirmed()
        outcomes = diff.write_outcomes(
            self.folder / "outcomes.parquet",
            self.folder,
            table,
            rejects,
            pq.read_table(self.folder / "skipped.parquet"),
        )
        ledger = diff.merge_ledger(self.ledger, self.folder, table, rejects, bounced_keys=bounced)
        assert self.record is not None
        counts = {
            **self.record.counts,
            **outcomes,
            "ledger": ledger,
            "bounced_now": bounced.num_rows,
        }
        for name in ("sent", "rejected", "removed", "skipped_invalid"):
            counts.setdefault(name, 0)
        self.record = self.store.update_delivery(self.id, status="done", counts=counts)
        self.emit("done", counts=counts)
        return self.result(self.record)

    async def _bounced(self) -> pa.Table:
        """Repaired members that are missing again after their re-add: Klaviyo removed them."""
        empty = pa.table({"key": pa.array([], pa.string())})
        assert self.record is not None
        if not self.reconcile or not self.record.counts.get("repairs"):
            return empty
        after = await self._read_members(self.folder / "members.after.parquet")
        table, _ = self._confirmed()
        with connect_utc() as con:
            con.register("batches", table)
            return con.sql(
                f"""
                SELECT a.key FROM {diff.parquet_source(self.folder / "adds.parquet")} a
                JOIN (SELECT * FROM batches WHERE kind = 'add') b
                  ON a.row >= b.first_row AND a.row < b.first_row + b.row_count
                WHERE a.repair AND a.email NOT IN (
                    SELECT lower(email) FROM {diff.parquet_source(after)} WHERE email IS NOT NULL)
                """
            ).to_arrow_table()


@contextlib.asynccontextmanager
async def _task_group() -> AsyncIterator[asyncio.TaskGroup]:
    """A TaskGroup whose first error cancels the other tasks and is raised as it is.

    TaskGroup wraps errors in an ExceptionGroup, which ``except SyncError`` does not catch:
    the delivery would stay ``running`` with its ledger unmerged. The later errors are the
    first one's echoes (or were cut short by it). KeyboardInterrupt, SystemExit and the
    caller's own cancellation are never wrapped, so they still propagate as they are.
    """
    try:
        async with asyncio.TaskGroup() as group:
            yield group
    except BaseExceptionGroup as grouped:
        raise _first_error(grouped) from None


def _first_error(grouped: BaseExceptionGroup[BaseException]) -> BaseException:
    first = grouped.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first


async def _all(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run coroutines together; their results in order. The first error cancels the rest (none
    is left running on a client about to close) and is raised."""
    async with _task_group() as group:
        tasks = [group.create_task(coroutine) for coroutine in coroutines]
    return [task.result() for task in tasks]


#: Seconds after the last job was sent or confirmed during which polling keeps its quick pace.
STEADY_POLLING = 5.0


class _Imports:
    """Bulk import batches: several in flight, all outstanding jobs polled together."""

    def __init__(self, sync: _Sync) -> None:
        self.sync = sync
        self.store = sync.store
        self.options = sync.options
        self.queue: deque[BatchRecord] = deque()
        self.outstanding: dict[int, BatchRecord] = {}
        self.sending = 0
        self.changed = asyncio.Event()
        self.sent = asyncio.Event()  # a send ended: the poller may have a job to wait for

    async def run(self, batches: list[BatchRecord]) -> None:
        """Send and poll at the same time: sending is paced by the rate limiter alone (it
        never waits for a poll), and polling checks the oldest jobs first."""
        for batch in batches:
            if batch.status == "sent" and batch.job_id:
                self.outstanding[batch.seq] = batch  # poll it: never send it again
            else:
                self.queue.append(batch)
        async with _task_group() as tasks:
            tasks.create_task(self._sender(tasks))
            tasks.create_task(self._poller())

    async def settle(self, batches: list[BatchRecord]) -> None:
        """Poll batches that an earlier delivery left ``sent`` until each job has ended, and
        send nothing: complete ones are confirmed (their import errors fetched), cancelled
        ones (nobody added) marked failed.

        It waits for running jobs: a diff made before one completes would miss its profiles.
        A job Klaviyo answers 404 for can never be settled (it no longer knows it, or never
        did): its batch is marked failed, so no later run asks again. Any other error leaves
        the batches not yet settled ``sent``, for the next run to try, and is raised.
        """
        for batch in batches:
            self.outstanding[batch.seq] = batch
        delay = QUICK_POLL
        while self.outstanding:
            jobs = await self._known_jobs()
            for seq in sorted(self.outstanding):
                batch = self.outstanding[seq]
                job = jobs.get(batch.job_id or "")
                if job is not None and job.status == "cancelled":
                    del self.outstanding[seq]
                    self.store.set_batch(
                        self.sync.id, seq, "failed", error="Klaviyo cancelled the import job"
                    )
                elif job is not None:
                    await self._settle(batch, job)  # confirmed when complete, else waits
            if self.outstanding:
                await asyncio.sleep(delay)
                delay = min(self.options.poll_interval, delay * 2)

    async def _known_jobs(self) -> dict[str, ImportJob]:
        """The outstanding jobs Klaviyo knows; a batch whose job it answers 404 for is marked
        failed and dropped."""
        batches = [self.outstanding[seq] for seq in sorted(self.outstanding)]
        api = self.sync.api
        jobs = await api.recent_imports() if len(batches) > 1 else {}

        async def one(batch: BatchRecord) -> ImportJob | None:
            assert batch.job_id is not None
            try:
                return await api.get_import(batch.job_id)
            except FatalKlaviyoRequestError as error:
                if error.problem.status != 404:
                    raise
            del self.outstanding[batch.seq]
            self.store.set_batch(
                self.sync.id, batch.seq, "failed", error="Klaviyo does not know the import job"
            )
            logger.warning(
                "list '%s': Klaviyo does not know the import job of batch %d of run %s; "
                "it cannot be settled",
                self.sync.spec.list_name,
                batch.seq,
                self.sync.spec.run_id,
            )
            return None

        missing = [b for b in batches if b.job_id not in jobs]
        for job in await _all(one(b) for b in missing):
            if job is not None:
                jobs[job.id] = job
        return jobs

    def _done(self) -> bool:
        return not self.queue and not self.outstanding and not self.sending

    async def _sender(self, tasks: asyncio.TaskGroup) -> None:
        while not self._done():
            busy = len(self.outstanding) + self.sending >= self.options.jobs_in_flight
            if not self.queue or busy or self.sending >= self.options.sends_at_once:
                self.changed.clear()
                await self.changed.wait()  # a send ended, a poll freed a slot, or a job came back
                continue
            batch = self.queue.popleft()
            self.sending += 1
            tasks.create_task(self._send_one(batch))

    async def _send_one(self, batch: BatchRecord) -> None:
        try:
            await self._send(batch)
        finally:
            self.sending -= 1
            self.changed.set()
            self.sent.set()

    async def _poller(self) -> None:
        """Poll in rounds: one call lists the account's newest jobs with their status and
        counts, which settles every job of ours among them.

        The first round comes ``QUICK_POLL`` seconds after a job is sent (small jobs finish
        fast); while jobs keep finishing, and for ``STEADY_POLLING`` seconds after the last one
        did, rounds come every ``FIRST_POLL`` seconds; then they back off, doubling up to
        ``poll_interval``. So a finished job waits little, and a long job costs few calls.
        """
        delay = QUICK_POLL
        progress = time.monotonic()  # when a job was last sent or confirmed
        while not self._done():
            if not self.outstanding:
                self.sent.clear()
                # asyncio.timeout, not wait_for: on Python 3.11, wait_for swallows a
                # cancellation that comes as the event is set (a send failing does both), and
                # this loop would then wait forever for sends that will never come.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.options.poll_interval):
                        await self.sent.wait()
                delay, progress = QUICK_POLL, time.monotonic()
                continue
            await asyncio.sleep(delay)
            if await self._poll_round():
                progress = time.monotonic()
            # Jobs that were moving a moment ago are likely to finish soon: keep the pace. Once
            # everything is sent, the last jobs are all that is left to wait for: look sooner.
            recent = time.monotonic() - progress < STEADY_POLLING
            pace = LAST_POLL if not self.queue and not self.sending else FIRST_POLL
            delay = pace if recent else min(self.options.poll_interval, delay * 2)
            self.changed.set()

    async def _poll_round(self) -> int:
        """Check the outstanding jobs once; how many of them finished."""
        batches = [self.outstanding[seq] for seq in sorted(self.outstanding)]
        api = self.sync.api
        jobs = await api.recent_imports() if len(batches) > 1 else {}
        # A job missing from the newest 100 (other imports came after it) is fetched alone.
        missing = [b.job_id for b in batches if b.job_id is not None and b.job_id not in jobs]
        for job in await _all(api.get_import(job_id) for job_id in missing):
            jobs[job.id] = job
        before = len(self.outstanding)
        await _all(self._settle(b, jobs[b.job_id]) for b in batches if b.job_id in jobs)
        return before - len(self.outstanding)

    def _rows(self, batch: BatchRecord) -> pa.Table:
        columns = ["key", "email", "phone_number", "external_id", "profile"]
        return diff.read_rows(
            self.sync.folder / _FILES[batch.kind], batch.first_row, batch.row_count, columns
        )

    async def _send(self, batch: BatchRecord) -> None:
        sync = self.sync
        # Reading and decoding a batch takes tens of milliseconds: off the event loop, so
        # sends and polls of other batches go on meanwhile (DuckDB lets go of the GIL).
        rows = await asyncio.to_thread(self._rows, batch)
        assert sync.list_id is not None
        try:
            # The profiles are stored as JSON: spliced into the body as they are.
            profiles = rows.column("profile").to_pylist()
            job_id = await sync.api.start_import_encoded(profiles, sync.list_id)
        except FatalKlaviyoRequestError as error:
            if error.problem.status != 400:  # one bad profile
                raise
            self._rejected_whole(batch, rows, redact(error.problem.describe()))
            return
        except RetriableSyncError as error:
            self.store.count_batch_attempt(sync.id, batch.seq, redact(str(error)))
            raise
        sent = self.store.set_batch(sync.id, batch.seq, "sent", job_id=job_id)
        self.outstanding[batch.seq] = sent
        sync.emit(
            "batch_sent", batch={"seq": batch.seq, "kind": batch.kind, "rows": batch.row_count}
        )

    def _rejected_whole(self, batch: BatchRecord, rows: pa.Table, reason: str) -> None:
        """Klaviyo refused the whole request: halve it until the bad profile stands alone."""
        sync = self.sync
        if batch.row_count > 1:
            halves = self.store.split_batch(sync.id, batch.seq, reason)
            self.queue.extendleft(reversed(halves))
            return
        diff.write_rejects(
            sync.folder / "rejects" / f"{batch.seq}.parquet",
            rows.column("key").to_pylist(),
            [reason],
        )
        self.store.set_batch(sync.id, batch.seq, "confirmed", error=reason)
        sync.emit(
            "batch_confirmed",
            batch={"seq": batch.seq, "kind": batch.kind, "rows": 1, "rejected": 1},
        )

    async def _settle(self, batch: BatchRecord, job: ImportJob) -> None:
        """Confirm a batch whose job is complete, send again one Klaviyo cancelled; a job still
        running waits for the next round."""
        sync = self.sync
        if job.status == "complete":
            rejected = 0
            if job.failed_count > 0:
                rejected = await self._errors(batch)
            self.store.set_batch(sync.id, batch.seq, "confirmed")
            del self.outstanding[batch.seq]
            crash_point("delivery_midway")
            sync.emit(
                "batch_confirmed",
                batch={
                    "seq": batch.seq,
                    "kind": batch.kind,
                    "rows": batch.row_count,
                    "rejected": rejected,
                },
            )
        elif job.status == "cancelled":
            del self.outstanding[batch.seq]
            if batch.attempts >= self.options.max_attempts:
                self.store.set_batch(
                    sync.id, batch.seq, "failed", error="Klaviyo cancelled the import job"
                )
                msg = (
                    f"Klaviyo cancelled the import job of batch {batch.seq} {batch.attempts} times"
                )
                raise RetriableSyncError(msg)
            self.queue.append(
                self.store.set_batch(sync.id, batch.seq, "planned", error="job cancelled")
            )

    async def _errors(self, batch: BatchRecord) -> int:
        """Fetch a job's import errors, map each to its row, write them; return how many."""
        sync = self.sync
        assert batch.job_id is not None
        errors: list[ImportError_] = [e async for e in sync.api.import_errors(batch.job_id)]
        rows = self._rows(batch)
        index: dict[tuple[str, str], str] = {}
        for name in ("external_id", "phone_number", "email"):  # email wins: set last
            for key, value in zip(
                rows.column("key").to_pylist(), rows.column(name).to_pylist(), strict=True
            ):
                if value is not None:
                    index[(name, value.lower() if name == "email" else value)] = key
        keys, reasons = [], []
        for error in errors:
            key = _match(error, index)
            if key is not None:
                keys.append(key)
                reasons.append(redact(f"{error.code}: {error.detail or error.title}"))
        diff.write_rejects(sync.folder / "rejects" / f"{batch.seq}.parquet", keys, reasons)
        if len(keys) < len(errors):
            logger.warning(
                "list '%s': %d import errors could not be matched to a row",
                sync.spec.list_name,
                len(errors) - len(keys),
            )
        return len(keys)


def _match(error: ImportError_, index: dict[tuple[str, str], str]) -> str | None:
    payload = error.original_payload or {}
    attributes = payload.get("attributes", payload) if isinstance(payload, dict) else {}
    for name in ("email", "phone_number", "external_id"):
        value = attributes.get(name) if isinstance(attributes, dict) else None
        if isinstance(value, str):
            key = index.get((name, value.lower() if name == "email" else value))
            if key is not None:
                return key
    return None
