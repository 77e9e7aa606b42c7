"""The values the state store hands out: frozen dataclasses, times in UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

Status = Literal["draft", "active", "retired"]
"""Where a version is in its lifecycle: a draft until activated, retired when replaced."""

Which = Literal["active", "draft", "latest"] | int
"""Which version `StateStore.get` returns: by status, the newest, or by number."""

ApplyAction = Literal["created", "updated", "activated", "unchanged"]
"""What `StateStore.apply` did to a name."""

CampaignStatus = Literal["draft", "scheduled", "running", "delivered", "error", "archived"]
"""Where a campaign is operationally (DESIGN §1.3); independent of its versions' statuses."""

RunStatus = Literal["running", "delivered", "error", "cancelled"]
"""Where a run is: running until it finishes in one of the other three."""

RunKind = Literal["run", "test"]
"""A real run, or a test run (writes sample files, sends nothing)."""

RunTrigger = Literal["manual", "schedule", "retry"]
"""What started a run: a person or the library, a schedule's slot, or a retry."""

WebRole = Literal["viewer", "editor"]
"""A web user's role: a viewer looks; an editor edits, runs and schedules."""

SlotOutcome = Literal["started", "missed"]
"""What became of a schedule's slot: a run started, or it came too late and was skipped."""


@dataclass(frozen=True)
class DefinitionVersion:
    """One version of a named definition (a segment, later a campaign).

    Attributes:
        kind: what is defined, such as ``"segment"``.
        name: the definition's name, unique per kind.
        version: the version number, 1 for the first, never reused.
        status: ``"draft"``, ``"active"`` or ``"retired"``.
        definition: the definition itself, as saved.
        content_hash: sha256 of the canonical JSON of ``definition``.
        description: free text saved with this version, if any.
        created_at: when this version was first saved (UTC).
        activated_at: when this version was activated (UTC), None for a draft.
        saved_by: who saved its content last (see `herald.actor`).
        activated_by: who activated it.
    """

    kind: str
    name: str
    version: int
    status: Status
    definition: dict[str, Any]
    content_hash: str
    description: str | None
    created_at: datetime
    activated_at: datetime | None
    saved_by: str | None = None
    activated_by: str | None = None


@dataclass(frozen=True)
class DefinitionSummary:
    """A named definition and its current draft and active versions.

    Attributes:
        kind: what is defined, such as ``"segment"``.
        name: the definition's name.
        active_version: the active version's number, None when never activated.
        draft_version: the draft's number, None when there is no draft.
        updated_at: when anything about this name last changed (UTC).
        description: the most recently saved description.
    """

    kind: str
    name: str
    active_version: int | None
    draft_version: int | None
    updated_at: datetime
    description: str | None


@dataclass(frozen=True)
class SaveResult:
    """The outcome of `StateStore.save_draft`.

    Attributes:
        version: the draft as it now stands.
        changed: False when the call wrote nothing (same content and description).
    """

    version: DefinitionVersion
    changed: bool


@dataclass(frozen=True)
class ApplyResult:
    """The outcome of `StateStore.apply`.

    Attributes:
        version: the version that now stands in the requested status.
        action: ``"created"`` (a new name), ``"updated"`` (a draft was written),
            ``"activated"`` (a new version became active) or ``"unchanged"`` (nothing written).
    """

    version: DefinitionVersion
    action: ApplyAction


@dataclass(frozen=True)
class InsightsRecord:
    """Insights of one segment version, computed at one time.

    Attributes:
        name: the segment's name.
        version: the segment version the metrics were computed for.
        metrics: metric name to value (None when the metric could not be computed).
        computed_at: when the metrics were computed (UTC).
        as_of: the data's as-of time, when it differs from ``computed_at``.
    """

    name: str
    version: int
    metrics: dict[str, float | int | None]
    computed_at: datetime
    as_of: datetime | None


@dataclass(frozen=True)
class CampaignState:
    """The operational state of a campaign, kept beside its versioned definition.

    Attributes:
        name: the campaign's name.
        uid: the campaign's immutable random id (32 hex digits), the salt of its hash
            split; it never changes for as long as the name exists.
        status: ``"draft"``, ``"scheduled"``, ``"running"``, ``"delivered"``, ``"error"``
            or ``"archived"``.
        updated_at: when the status last changed, or when the state was first created (UTC).
    """

    name: str
    uid: str
    status: CampaignStatus
    updated_at: datetime


@dataclass(frozen=True)
class Run:
    """One run (or test run) of one campaign version.

    Attributes:
        id: a unique id that sorts by start time, such as ``run_20261201T101500_a1b2c3``.
        campaign: the campaign's name.
        campaign_version: the campaign version the run pinned.
        status: ``"running"``, then ``"delivered"``, ``"error"`` or ``"cancelled"``.
        as_of: the data's as-of time the run pinned (UTC).
        started_at: when the run was created (UTC).
        finished_at: when it finished (UTC), None while running.
        pins: segment name to the segment version the run pinned.
        snapshot: where the recipients snapshot was written, when known.
        stats: counts and other figures recorded when the run finished.
        error: what went wrong, for a run that ended in error.
        kind: ``"run"``, or ``"test"`` for a test run.
        trigger: what started it: ``"manual"``, ``"schedule"`` (a slot) or ``"retry"``.
        slot: the schedule's slot it ran for (UTC), for a scheduled run.
        launch_date: when its audience is used downstream: the start of results measurement.
        retry_of: the run it retries, for a retry.
        cancel_requested: whether `herald runs cancel` asked it to stop.
        started_by: who started it (``scheduler`` for a schedule's slot).
    """

    id: str
    campaign: str
    campaign_version: int
    status: RunStatus
    as_of: datetime
    started_at: datetime
    finished_at: datetime | None
    pins: dict[str, int]
    snapshot: str | None
    stats: dict[str, Any] | None
    error: str | None
    kind: RunKind
    trigger: RunTrigger = "manual"
    slot: datetime | None = None
    launch_date: date | None = None
    retry_of: str | None = None
    cancel_requested: bool = False
    started_by: str | None = None


@dataclass(frozen=True)
class RunEvent:
    """One progress event a run wrote as it went (``StateStore.run_events``).

    Attributes:
        id: its id; later events of a run have greater ids.
        run_id: the run.
        at: when it happened (UTC).
        kind: what happened: ``phase_started``, ``phase_finished``, ``finished``, or a list
            sync's ``started``, ``diffed``, ``planned``, ``batch_sent``, ``batch_confirmed``,
            ``done`` or ``failed`` (see ``herald.runs.events``).
        payload: its figures (never a profile's data; strings redacted).
    """

    id: int
    run_id: str
    at: datetime
    kind: str
    payload: dict[str, Any]


DeliveryStatus = Literal["pending", "planned", "running", "done", "failed"]
"""Where a list delivery is: pending, planned (batches recorded), running, done or failed."""

BatchKind = Literal["add", "update", "remove"]
"""What a batch does to a list."""

BatchStatus = Literal["planned", "sent", "confirmed", "failed", "split"]
"""Where a batch is: planned, sent (job id known), confirmed, failed, or split in halves."""


@dataclass(frozen=True)
class DeliveryRecord:
    """One recipient group's delivery to one list, within one run.

    Attributes:
        id: the delivery's id in the state store.
        run_id: the run it belongs to.
        destination: the destination's name in herald.toml.
        sub_audience: the group's sub-audience.
        group: the recipient group.
        list_name: the list's name at the destination.
        list_id: the destination's id of the list, once known.
        status: ``"pending"``, ``"planned"``, ``"running"``, ``"done"`` or ``"failed"``.
        counts: figures (adds, removes, updates, sent, rejected, …) as recorded so far.
        error: what went wrong, for a failed delivery.
        created_at: when the delivery was first recorded (UTC).
        updated_at: when it last changed (UTC).
    """

    id: int
    run_id: str
    destination: str
    sub_audience: str
    group: str
    list_name: str
    list_id: str | None
    status: DeliveryStatus
    counts: dict[str, Any]
    error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class BatchRecord:
    """One batch of a delivery: a row range of its adds, updates or removes file.

    Attributes:
        delivery_id: the delivery it belongs to.
        seq: its number within the delivery (the order it was planned in).
        kind: ``"add"``, ``"update"`` or ``"remove"``.
        first_row: the first row of the range.
        row_count: how many rows.
        status: ``"planned"``, ``"sent"``, ``"confirmed"``, ``"failed"`` or ``"split"``.
        job_id: the bulk import job's id, once the request returned.
        attempts: how many times it was sent.
        error: why it failed or was split.
        created_at: when it was planned (UTC).
        sent_at: when it was last sent (UTC).
        confirmed_at: when it was confirmed (UTC).
        updated_at: when it last changed (UTC).
    """

    delivery_id: int
    seq: int
    kind: BatchKind
    first_row: int
    row_count: int
    status: BatchStatus
    job_id: str | None
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    confirmed_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class Schedule:
    """A scheduled campaign: what scheduling pinned, and where its schedule stands.

    Attributes:
        campaign: the campaign's name.
        campaign_version: the campaign version its runs use.
        pins: segment name to the segment version its runs use.
        scheduled_at: when it was scheduled (UTC): the slot of "as soon as possible".
        next_at: its next slot (UTC); None once the schedule has ended.
        last_slot: the last slot it used, run or missed (UTC).
        sends: how many slots started a run (for "end after N sends").
        scheduled_by: who scheduled it.
    """

    campaign: str
    campaign_version: int
    pins: dict[str, int]
    scheduled_at: datetime
    next_at: datetime | None
    last_slot: datetime | None
    sends: int
    scheduled_by: str | None = None


@dataclass(frozen=True)
class SlotRecord:
    """One slot a schedule used: the run it started, or missed (too late).

    Attributes:
        skipped: older slots missed while no scheduler ran, folded into this one.
    """

    campaign: str
    slot: datetime
    outcome: SlotOutcome
    run_id: str | None
    skipped: int
    recorded_at: datetime


@dataclass(frozen=True)
class WebUser:
    """A named user of the web app.

    Attributes:
        name: the name they sign in with.
        password_hash: the argon2 hash of their password (never the password).
        role: ``viewer`` (looks) or ``editor`` (edits, runs and schedules).
    """

    name: str
    password_hash: str
    role: WebRole
    created_at: datetime
    updated_at: datetime

    def __repr__(self) -> str:  # the hash stays out of logs and tracebacks
        return f"WebUser(name={self.name!r}, role={self.role!r})"
