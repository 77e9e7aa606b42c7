"""Bulk imports of one list delivery: several jobs in flight, all outstanding jobs polled
together, each batch checkpointed (``sent`` with its job id, then ``confirmed``). A cancelled
run sends no further batch, and its sent ones are still polled until confirmed.

A request Klaviyo rejects as a whole (400) is split in halves until the bad profile stands
alone and is recorded as rejected; the rows of a job's import errors are written as rejects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque

import pyarrow as pa

from herald.core.estimate import FIRST_POLL, LAST_POLL, QUICK_POLL
from herald.crash import crash_point
from herald.destinations.klaviyo_api._tasks import run_all, task_group
from herald.destinations.klaviyo_api.api import ImportError_, ImportJob
from herald.destinations.klaviyo_api.delivery import ListSync
from herald.destinations.klaviyo_api.diff import read_rows
from herald.destinations.klaviyo_api.ledger import write_rejects
from herald.exceptions import FatalKlaviyoRequestError, RetriableSyncError
from herald.redact import redact
from herald.state.models import BatchRecord

__all__ = ["STEADY_POLLING", "Imports"]

logger = logging.getLogger(__name__)

#: Seconds after the last job was sent or confirmed during which polling keeps its quick pace.
STEADY_POLLING = 5.0


class Imports:
    """Bulk import batches: several in flight, all outstanding jobs polled together."""

    def __init__(self, sync: ListSync) -> None:
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
        async with task_group() as tasks:
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
                        self.sync.delivery_id,
                        seq,
                        "failed",
                        error="Klaviyo cancelled the import job",
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
                self.sync.delivery_id,
                batch.seq,
                "failed",
                error="Klaviyo does not know the import job",
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
        for job in await run_all(one(b) for b in missing):
            if job is not None:
                jobs[job.id] = job
        return jobs

    def _done(self) -> bool:
        return not self.queue and not self.outstanding and not self.sending

    async def _sender(self, tasks: asyncio.TaskGroup) -> None:
        while not self._done():
            if self.queue and self.sync.stopped():
                # The run was cancelled: this is a batch boundary. The queued batches stay
                # planned; the sent ones are still polled until confirmed.
                self.queue.clear()
                self.sent.set()  # the poller may be waiting for a send that will not come
                continue
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
        for job in await run_all(api.get_import(job_id) for job_id in missing):
            jobs[job.id] = job
        before = len(self.outstanding)
        await run_all(self._settle(b, jobs[b.job_id]) for b in batches if b.job_id in jobs)
        return before - len(self.outstanding)

    def _rows(self, batch: BatchRecord) -> pa.Table:
        columns = ["key", "email", "phone_number", "external_id", "profile"]
        path = self.sync.files.of_kind(batch.kind)
        return read_rows(path, batch.first_row, batch.row_count, columns)

    async def _send(self, batch: BatchRecord) -> None:
        sync = self.sync
        # Reading and decoding a batch takes tens of milliseconds: off the event loop, so
        # sends and polls of other batches go on meanwhile (DuckDB lets go of the GIL).
        rows = await asyncio.to_thread(self._rows, batch)
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
            # The batches' error column redacts what it stores.
            self.store.count_batch_attempt(sync.delivery_id, batch.seq, str(error))
            raise
        sent = self.store.set_batch(sync.delivery_id, batch.seq, "sent", job_id=job_id)
        self.outstanding[batch.seq] = sent
        sync.emit(
            "batch_sent", batch={"seq": batch.seq, "kind": batch.kind, "rows": batch.row_count}
        )

    def _rejected_whole(self, batch: BatchRecord, rows: pa.Table, reason: str) -> None:
        """Klaviyo refused the whole request: halve it until the bad profile stands alone."""
        sync = self.sync
        if batch.row_count > 1:
            halves = self.store.split_batch(sync.delivery_id, batch.seq, reason)
            self.queue.extendleft(reversed(halves))
            return
        write_rejects(sync.files.rejects(batch.seq), rows.column("key").to_pylist(), [reason])
        self.store.set_batch(sync.delivery_id, batch.seq, "confirmed", error=reason)
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
            self.store.set_batch(sync.delivery_id, batch.seq, "confirmed")
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
                    sync.delivery_id, batch.seq, "failed", error="Klaviyo cancelled the import job"
                )
                msg = (
                    f"Klaviyo cancelled the import job of batch {batch.seq} {batch.attempts} times"
                )
                raise RetriableSyncError(msg)
            self.queue.append(
                self.store.set_batch(sync.delivery_id, batch.seq, "planned", error="job cancelled")
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
        write_rejects(sync.files.rejects(batch.seq), keys, reasons)
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
