"""The one shape every destination has (DESIGN §2; dlt's destination pattern).

A destination type is a :class:`Destination` subclass in its own folder
(``herald/destinations/<type>/``), found by its type name through
:mod:`herald.destinations.registry`. It declares:

- its **settings model** (the ``[destinations.NAME]`` table of ``herald.toml``),
- its **kind** (:class:`~herald.core.destinations.DestinationKind`: the attributes a group
  sends by default, the fields it must send, the fields that carry the email and the phone),
- its **capabilities** (:class:`Capabilities`: a list kept equal to the group or a file sent
  whole, whether it removes, its batch limits),

and implements what a run asks of it, in this order:

1. :meth:`Destination.stage`: write a group's delivery inputs into the delivery's folder of
   the run, from the prepared records (kept once written, so a resumed run delivers exactly
   what the interrupted one planned);
2. :meth:`Destination.open` → :meth:`Session.deliver`: deliver staged groups, resumable from
   the destination's own checkpoints, with per-profile outcomes (``outcomes.parquet`` in the
   delivery's folder: ``key``, ``outcome``, ``reason``), stopping at its next boundary (a
   batch, a file) when the run is cancelled (:data:`Stop`);
3. :meth:`Destination.estimate`: what delivering the staged groups would take, before sending.

Besides, :meth:`Destination.check` tests the connection and credentials and
:meth:`Destination.sample` writes what one group would receive, sending nothing.

The run pipeline (``herald.runs``) talks to destinations only through this module: it never
names a destination type, and no destination imports the pipeline.
"""

from __future__ import annotations

import builtins
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from herald.core.destinations import DestinationKind
    from herald.core.estimate import Estimate
    from herald.destinations.settings import DestinationSettings
    from herald.engines.base import Engine
    from herald.state import StateStore

__all__ = [
    "OUTCOMES_FILE",
    "SKIPPED_FILE",
    "Capabilities",
    "CheckResult",
    "Delivered",
    "DeliveryTarget",
    "Destination",
    "DestinationContext",
    "DestinationEstimate",
    "EngineRecords",
    "EngineRows",
    "EventKind",
    "Progress",
    "Records",
    "Session",
    "Stop",
    "SyncEvent",
    "TargetEstimate",
]

OUTCOMES_FILE = "outcomes.parquet"
"""Per-profile outcomes of a delivery, in its folder: ``key``, ``outcome`` (``sent``,
``rejected``, ``removed``, ``skipped_invalid``) and ``reason``."""

SKIPPED_FILE = "skipped.parquet"
"""Customers a delivery never sends, in its folder: ``key`` and ``reason`` (no email or phone,
so runs keep it, like the outcomes)."""


@dataclass(frozen=True)
class EngineRows:
    """How a destination's desired rows are made from its prepared records in a distributed
    engine's Python workers (so from pure Arrow, by a module-level function).

    Attributes:
        rows: ``rows(records, fields, key)``: a batch of prepared records (one column per
            field, and the key) as desired rows: ``key`` (text), ``email``, ``phone_number``,
            ``external_id``, ``profile`` (what is sent, as text) and ``ident`` (what the
            destination matches a profile on).
        max_bytes: a ``profile`` longer than this (in UTF-8 bytes) is never sent.
        too_large: the reason such a customer is skipped with.
    """

    rows: Callable[[pa.Table, Sequence[str], str], pa.Table]
    max_bytes: int
    too_large: str


@dataclass(frozen=True)
class Capabilities:
    """What a destination type can do, for the pipeline, the estimate and the web app to read
    instead of asking for a type (STYLE.md rule 4).

    Attributes:
        mirror: a list kept equal to the group (adds and removes each run); else a file that
            holds the whole group each run.
        removes: it takes profiles out (only those Herald added).
        max_batch_profiles: profiles per request, at most (None: no limit).
        max_batch_bytes: bytes per request, at most (None: no limit).
        deliveries_at_once: groups of one destination delivered at once in a run (they share
            one connection and its pacing).
        sample_suffix: the file suffix of :meth:`Destination.sample`.
        local: it writes on this machine: its time is part of the run's local work, so an
            estimate neither stages nor plans it.
        engine_rows: how a distributed engine (Spark) makes its desired rows, for a
            destination whose records may be prepared and diffed where the audience is
            (:meth:`Destination.stage_in_engine`), so that only the changes come to this
            machine; None: prepared here.
    """

    mirror: bool
    removes: bool
    max_batch_profiles: int | None = None
    max_batch_bytes: int | None = None
    deliveries_at_once: int = 1
    sample_suffix: str = ".csv"
    local: bool = False
    engine_rows: EngineRows | None = None


class Records(Protocol):
    """A group's prepared records for one destination (``herald.runs.prepared.PreparedGroup``).

    Attributes:
        key: the customer key column.
        fields: the destination's fields, in order.
        dropped: one row per (customer, reason) left out or flagged; ``skipped`` rows were
            left out.
        num_rows: how many records there are.
    """

    @property
    def key(self) -> str: ...

    @property
    def fields(self) -> tuple[str, ...]: ...

    @property
    def dropped(self) -> pa.Table: ...

    @property
    def num_rows(self) -> int: ...

    def batches(self, *, order: str = "snapshot") -> pa.RecordBatchReader:
        """The records as a stream: in the snapshot's order, or sorted by key."""
        ...

    def sent_keys(self) -> pa.RecordBatchReader:
        """The records' keys alone, as text (column ``key``), in the snapshot's order."""
        ...


@dataclass(frozen=True)
class EngineRecords:
    """A group's records prepared by a distributed engine and kept in its work folder, not on
    this machine (see :attr:`Capabilities.engine_rows`).

    Attributes:
        name: the kept rows' name in the engine's work folder; the records are its rows with
            ``desired`` true (``key``, ``email``, ``phone_number``, ``external_id``,
            ``profile``, ``ident``, ``attr_hash``).
        records: how many records there are.
        skipped: a Parquet file of the customers left out (``key``, ``reason``), on this
            machine, moved into the delivery's folder.
    """

    name: str
    records: int
    skipped: Path


@dataclass(frozen=True)
class DestinationContext:
    """Where a destination keeps its files and checkpoints, in one workspace.

    Attributes:
        root: the workspace folder (relative paths in settings resolve against it).
        state_dir: the workspace's ``.herald`` folder.
        open_store: gives the state store (deliveries, batches, list ids); called when first
            needed, so listing or checking a destination needs no state database.
        open_engine: gives the workspace's engine, for diffs computed there (None: none).
    """

    root: Path
    state_dir: Path
    open_store: Callable[[], StateStore]
    open_engine: Callable[[], Engine] | None = None

    @property
    def store(self) -> StateStore:
        return self.open_store()


@dataclass(frozen=True)
class DeliveryTarget:
    """One recipient group to deliver to one destination in one run.

    Attributes:
        run_id: the run (it exists in the state store).
        destination: the destination's name in herald.toml.
        sub_audience: the group's sub-audience.
        group: the recipient group.
        output_name: the list's exact name, or the file's name without date or suffix.
        dated_name: the file name of this run: ``output_name``, with the delivery date
            appended for a one-time campaign (DESIGN §1.4).
        number: the delivery's place among the run's deliveries, from 1 (for crash points).
        runs_dir: the workspace's runs folder.
        campaign: the campaign's name.
        day: the delivery's date in the campaign's time zone (ISO), as ``dated_name``
            carries it.
        recurring: the campaign is recurring (its files keep one name from run to run).
    """

    run_id: str
    destination: str
    sub_audience: str
    group: str
    output_name: str
    dated_name: str
    number: int
    runs_dir: Path
    campaign: str = ""
    day: str = ""
    recurring: bool = False

    @property
    def folder(self) -> Path:
        """This delivery's folder in its run: its inputs, checkpoint files and outcomes."""
        return self.folder_in(self.run_id)

    def folder_in(self, run_id: str) -> Path:
        """This group's delivery folder in another run of the campaign."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{self.destination}__{self.output_name}")
        return self.runs_dir / run_id / "deliveries" / safe


@dataclass(frozen=True)
class Delivered:
    """What delivering one target did.

    Attributes:
        status: ``written`` (a file), ``synced`` (a list), ``failed``, or ``cancelled``
            (stopped at a boundary: what was done before it is kept, and said in
            ``message``).
        message: a line for people (never an email, a phone or a key).
        path: the file written, or the outcomes file.
        counts: a list sync's figures (see ``herald.destinations.klaviyo_api``).
    """

    status: Literal["written", "synced", "failed", "cancelled"]
    message: str | None = None
    path: Path | None = None
    counts: dict[str, int] | None = None


@dataclass(frozen=True)
class CheckResult:
    """Whether a destination can be delivered to now.

    Attributes:
        ok: it can.
        target: where it delivers (a URL, a folder).
        detail: what was found, for people.
        advice: what to do when it is not ok.
        data: the figures behind it, for ``--json``.
    """

    ok: bool
    target: str
    detail: str
    advice: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetEstimate:
    """What one staged group needs at its destination.

    Attributes:
        target: the group.
        adds, updates, removes: profiles to add, re-send and take out.
        size: profiles there now, as Herald knows it.
        known: the list (or file) is known already.
        seconds: the time this group alone would take.
    """

    target: DeliveryTarget
    adds: int
    updates: int
    removes: int
    size: int
    known: bool
    seconds: float


@dataclass(frozen=True)
class DestinationEstimate:
    """What delivering a run's staged groups to one destination would take.

    Attributes:
        targets: each group on its own.
        total: all of them together (they share the destination's limits): calls per
            operation and seconds per phase.
        alternative_seconds: the same adds through the destination's bulk alternative (for
            Klaviyo, a CSV over SFTP), or None.
    """

    targets: list[TargetEstimate]
    total: Estimate
    alternative_seconds: float | None = None


EventKind = Literal[
    "started",
    "diffed",
    "planned",
    "batch_sent",
    "batch_confirmed",
    "done",
    "failed",
    "cancelled",
]


@dataclass(frozen=True)
class SyncEvent:
    """A progress event for the CLI to render (never holds a profile's data).

    Attributes:
        kind: ``started``, ``diffed`` (the diff is written; profile-id look-ups follow),
            ``planned`` (counts of the plan), ``batch_sent``,
            ``batch_confirmed``, ``done`` (final counts), ``failed`` (``error``) or
            ``cancelled`` (stopped at a batch boundary: counts of what was done, ``error``).
        destination: the destination's name.
        list_name: the list's (or file's) name.
        counts: planned or final figures (planned, done).
        batch: the batch's ``seq``, ``kind`` and ``rows`` (batch events).
        error: what went wrong (failed).
    """

    kind: EventKind
    destination: str
    list_name: str
    counts: dict[str, int] = field(default_factory=dict)
    batch: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


Progress = Callable[[SyncEvent], None]

Stop = Callable[[], bool]
"""Whether the run was cancelled: asked at each boundary of a delivery (before a batch is
sent, before a file is put in place). Cheap to call often (the run reads its flag at most
about once a second), and once it says True it keeps saying so."""


class Session(ABC):
    """An open connection to one destination, shared by the groups it delivers in a run."""

    @abstractmethod
    async def deliver(
        self,
        target: DeliveryTarget,
        *,
        reconcile: bool,
        progress: Progress | None,
        stop: Stop | None = None,
    ) -> Delivered:
        """Deliver one staged target, resuming from its checkpoints.

        A failure of the destination is a ``failed`` result (the run's other deliveries go
        on); an error raised is one the run cannot carry on from.

        When ``stop`` says True at a boundary, nothing more is sent: work already sent is
        settled (a list's sent batches confirmed, and only confirmed work kept as done), the
        outcomes of what was done are written, and the result is ``cancelled``. A target
        with nothing left to send finishes as usual.
        """


class Destination(ABC):
    """One configured destination of a workspace (a ``[destinations.NAME]`` table).

    Subclasses set the class attributes and implement the methods; the registry finds them
    by :attr:`type`.
    """

    type: ClassVar[str]
    kind: ClassVar[DestinationKind]
    capabilities: ClassVar[Capabilities]
    # builtins.type: the class attribute ``type`` hides the builtin in this body.
    settings_model: ClassVar[builtins.type[DestinationSettings]]

    def __init__(self, name: str, settings: DestinationSettings, context: DestinationContext):
        self.name = name
        self.settings = settings
        self.context = context

    def describe(self) -> dict[str, Any]:
        """Where it delivers and where its key comes from, for ``herald destination list``
        (never a secret)."""
        return {"name": self.name, "type": self.type, "target": None, "key_from": None}

    @abstractmethod
    async def check(self) -> CheckResult:
        """Whether it can be delivered to now; writes nothing there."""

    @abstractmethod
    def sample(self, records: Records, path: Path) -> Path:
        """Write what a group's records would become there to ``path`` (its suffix is
        :attr:`Capabilities.sample_suffix`); send nothing. Returns the file."""

    @abstractmethod
    def stage(self, target: DeliveryTarget, records: Records) -> None:
        """Write a target's delivery inputs into ``target.folder``; kept once written."""

    def stage_in_engine(self, target: DeliveryTarget, records: EngineRecords) -> None:
        """Write a target's delivery inputs for records a distributed engine prepared and
        keeps (only with :attr:`Capabilities.engine_rows`)."""
        msg = f"destination type '{self.type}' cannot be staged in the engine"
        raise NotImplementedError(msg)

    @abstractmethod
    def open(self) -> AbstractAsyncContextManager[Session]:
        """A connection to it for one run's deliveries.

        Raises:
            ConfigError: it cannot be reached as configured (a key that is not set): the
                run's groups for it are then not sent, and the run ends in error.
        """

    @abstractmethod
    def estimate(self, targets: Sequence[DeliveryTarget]) -> DestinationEstimate | None:
        """What delivering the staged targets would take, computed as a run plans it, without
        sending; None when there is nothing worth estimating (a local file)."""

    def planned_seconds(self, counts: Mapping[str, int]) -> float | None:
        """How long sending a planned delivery should take under this destination's limits,
        from the figures of its ``planned`` event; None when not estimated (a local file).
        The run's slow alert compares the run against it (``[notifications] slow_factor``)."""
        return None

    def forget(self, output_name: str) -> None:  # noqa: B027 - most destinations keep nothing
        """Forget what is known of a list or file there (a new sandbox starts empty)."""


@asynccontextmanager
async def no_connection(session: Session) -> AsyncIterator[Session]:
    """:meth:`Destination.open` for a destination with nothing to connect to."""
    yield session
