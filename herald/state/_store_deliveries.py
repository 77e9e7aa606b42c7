"""`StateStore`'s methods for list ids, list deliveries and their batches (see
`herald.state._deliveries`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from herald.state import _deliveries as dl
from herald.state._rules import check_choice
from herald.state._schema import BATCH_KINDS, BATCH_STATUSES, DELIVERY_STATUSES
from herald.state._store_base import StoreBase
from herald.state.models import BatchRecord, BatchStatus, DeliveryRecord, DeliveryStatus


class DeliveriesMixin(StoreBase):
    """List ids, the deliveries of a run and their checkpointed batches."""

    # --- list deliveries ------------------------------------------------------------------------

    def list_id(self, destination: str, name: str) -> str | None:
        """The remembered id of list ``name`` at ``destination``, None when never seen."""
        return self._read(lambda conn: dl.list_id(conn, destination, name))

    def remember_list_id(self, destination: str, name: str, list_id: str) -> str:
        """Remember the id of list ``name`` so it is looked up by name only once.

        Returns:
            The id now remembered: an id remembered earlier wins over ``list_id``.
        """
        return self._write(lambda conn: dl.remember_list_id(conn, destination, name, list_id))

    def forget_list_id(self, destination: str, name: str) -> None:
        """Forget a remembered list id (the list no longer exists at the destination)."""
        self._write(lambda conn: dl.forget_list_id(conn, destination, name))

    def start_delivery(
        self, run_id: str, destination: str, sub_audience: str, group: str, list_name: str
    ) -> DeliveryRecord:
        """The delivery of one group to one list in a run; created ``pending`` when new.

        Idempotent, so a resumed run finds the delivery and batches it recorded before.

        Raises:
            NotFoundError: no such run.
        """
        return self._write(
            lambda conn: dl.start_delivery(
                conn, run_id, destination, sub_audience, group, list_name
            )
        )

    def get_delivery(self, delivery_id: int) -> DeliveryRecord:
        """One delivery by id.

        Raises:
            NotFoundError: no such delivery.
        """
        return self._read(lambda conn: dl.get_delivery(conn, delivery_id))

    def run_deliveries(self, run_id: str) -> list[DeliveryRecord]:
        """The deliveries of a run, in the order they were first recorded."""
        return self._read(lambda conn: dl.run_deliveries(conn, run_id))

    def unsettled_deliveries(
        self, destination: str, list_name: str, run_id: str
    ) -> list[DeliveryRecord]:
        """Failed deliveries of a list, in runs other than ``run_id``, that left import
        batches ``sent`` (their jobs may have completed since), oldest first."""
        return self._read(
            lambda conn: dl.unsettled_deliveries(conn, destination, list_name, run_id)
        )

    def update_delivery(
        self,
        delivery_id: int,
        *,
        status: DeliveryStatus | None = None,
        list_id: str | None = None,
        counts: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> DeliveryRecord:
        """Change a delivery's status, list id, counts or error (None leaves a value alone;
        a status other than ``failed`` clears the error).

        Raises:
            NotFoundError: no such delivery.
            ValueError: an unknown status.
        """
        values: dict[str, Any] = {}
        if status is not None:
            check_choice("delivery status", status, DELIVERY_STATUSES)
            values["status"] = status
            values["error"] = error if status == "failed" else None
        elif error is not None:
            values["error"] = error
        if list_id is not None:
            values["list_id"] = list_id
        if counts is not None:
            values["counts"] = counts
        return self._write(lambda conn: dl.update_delivery(conn, delivery_id, **values))

    def plan_delivery(
        self,
        delivery_id: int,
        batches: Iterable[tuple[str, int, int]],
        *,
        counts: dict[str, Any],
    ) -> DeliveryRecord:
        """Record every batch of a pending delivery as planned, before anything is sent.

        Args:
            delivery_id: the delivery.
            batches: ``(kind, first_row, row_count)`` in sending order; numbered from 1.
            counts: the planned figures, kept with the delivery.

        Raises:
            StateError: the delivery was planned already.
            ValueError: an unknown kind or an empty batch.
        """
        planned = list(batches)
        for kind, first, count in planned:
            check_choice("batch kind", kind, BATCH_KINDS)
            if first < 0 or count < 1:
                msg = f"a batch covers at least one row from row 0 on, not {count} from {first}"
                raise ValueError(msg)
        return self._write(lambda conn: dl.plan_delivery(conn, delivery_id, planned, counts))

    def batches(
        self, delivery_id: int, statuses: Iterable[BatchStatus] | None = None
    ) -> list[BatchRecord]:
        """The batches of a delivery by seq, optionally only those in ``statuses``."""
        wanted = None if statuses is None else list(statuses)
        return self._read(lambda conn: dl.batches(conn, delivery_id, wanted))

    def set_batch(
        self,
        delivery_id: int,
        seq: int,
        status: BatchStatus,
        *,
        job_id: str | None = None,
        error: str | None = None,
    ) -> BatchRecord:
        """Checkpoint a batch: ``sent`` (with the job id; counts an attempt), ``confirmed``,
        ``failed`` or back to ``planned`` (to send again). A confirmed batch never goes back.

        Raises:
            NotFoundError: no such batch.
            StateError: a move that is not allowed, such as confirmed → sent.
        """
        check_choice("batch status", status, BATCH_STATUSES)
        return self._write(
            lambda conn: dl.set_batch(conn, delivery_id, seq, status, job_id=job_id, error=error)
        )

    def count_batch_attempt(
        self, delivery_id: int, seq: int, error: str | None = None
    ) -> BatchRecord:
        """Count a send that failed without a job id: the request may have gone out."""
        return self._write(lambda conn: dl.count_attempt(conn, delivery_id, seq, error))

    def split_batch(self, delivery_id: int, seq: int, reason: str) -> list[BatchRecord]:
        """Split a batch Klaviyo rejected as a whole into two planned halves (one transaction).

        Returns:
            The two new batches, numbered after the delivery's last batch.

        Raises:
            StateError: the batch has a single row, or is confirmed already.
        """
        return self._write(lambda conn: dl.split_batch(conn, delivery_id, seq, reason))
