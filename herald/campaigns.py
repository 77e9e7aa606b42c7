"""Campaigns in a workspace: validate, version, build audiences, preview, test, run.

This is the library behind ``herald campaign …``; the CLI only formats what it returns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from herald.core.campaigns.audience import AudienceContext, attribute_sources, audience_query
from herald.core.campaigns.model import Campaign
from herald.core.campaigns.parse import parse_campaign
from herald.core.campaigns.serialize import campaign_to_doc
from herald.core.campaigns.validate import (
    Resolved,
    Warning_,
    check_shared_outputs,
    resolve_destinations,
    validate_campaign,
)
from herald.core.destinations import DestinationKind
from herald.core.schedule import slots_after
from herald.core.segments.model import Segment
from herald.destinations.registry import kind_of
from herald.exceptions import (
    CampaignError,
    ConfigError,
    EngineError,
    HeraldError,
    NotFoundError,
    SegmentError,
    StateError,
)

if TYPE_CHECKING:
    from herald.resources import Resources
    from herald.segments import Segments
    from herald.state import ApplyResult, CampaignState, Schedule

KIND = "campaign"


@dataclass
class Pins:
    """The active segment versions a build used, recorded as it resolves them."""

    versions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Build:
    """A compiled audience: the query, the resolved destinations, and what it pinned."""

    campaign: Campaign
    version: int
    query: exp.Select
    resolved: list[Resolved]
    sources: list[str]
    pins: dict[str, int]
    as_of: dt.datetime
    warnings: list[Warning_]


@dataclass(frozen=True)
class Scheduled:
    """A scheduled campaign: its schedule (pinned versions), definition and next runs (UTC)."""

    schedule: Schedule
    campaign: Campaign
    next_runs: list[dt.datetime]
    warnings: list[Warning_] = field(default_factory=list)


def campaign_to_dict(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What the state store keeps: the definition as written, without kind/status keys, with
    YAML's dates and times as ISO text so it is plain JSON.

    >>> campaign_to_dict({"kind": "campaign", "name": "A", "launch_date": dt.date(2026, 12, 1)})
    {'name': 'A', 'launch_date': '2026-12-01'}
    """
    return {k: _json_safe(v) for k, v in doc.items() if k not in ("kind", "status")}


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return value


class Campaigns:
    """Campaign operations over one workspace.

    Args:
        ws: the workspace's resources; ``Workspace.campaigns`` builds this with itself.
        segments: the same workspace's segments, which campaigns are built from.
    """

    def __init__(self, ws: Resources, segments: Segments) -> None:
        self.ws = ws
        self.segments = segments

    # --- configuration -----------------------------------------------------------------------

    def destinations(self) -> dict[str, DestinationKind]:
        """The destinations of herald.toml with their kinds."""
        kinds: dict[str, DestinationKind] = {}
        for name, settings in self.ws.settings.destinations.items():
            try:
                kind = kind_of(settings.type)
            except ConfigError as error:
                msg = f"herald.toml: [destinations.{name}] has an {error}"
                raise ConfigError(msg) from None
            kinds[name] = kind
        return kinds

    # --- definitions -------------------------------------------------------------------------

    def parse(self, doc: Mapping[str, Any], *, source: str | None = None) -> Campaign:
        return parse_campaign(doc, source=source)

    def load(self, name: str, which: Any = "active") -> tuple[Campaign, int]:
        """The stored definition (active by default) and its version number."""
        version = self.ws.store.get(KIND, name, which)
        return parse_campaign(version.definition, source=f"campaign '{name}'"), version.version

    def validate(
        self,
        campaign: Campaign,
        *,
        source: str | None = None,
        pending: Mapping[str, Segment] | None = None,
        batch: Iterable[Campaign] = (),
        existing: Sequence[Campaign] | None = None,
    ) -> list[Warning_]:
        """Check a definition against the database, segments, destinations and the lists and
        files of the other campaigns: what `apply` stores has passed exactly these checks.

        Args:
            pending: segments applied in the same batch, which count as stored.
            batch: the campaigns applied in one batch, in order: they replace their stored
                versions, and only those before ``campaign`` count (the later one is refused).
            existing: `stored_campaigns()`, read once by a caller that checks many campaigns
                (read here when None).
        """
        pending = pending or {}

        def status(name: str) -> str | None:
            return pending[name].status if name in pending else self._segment_status(name)

        destinations = self.destinations()
        try:
            warnings = validate_campaign(
                campaign,
                self.ws.catalog,
                destinations,
                status,
                attributes_table=self.ws.settings.database.attributes_table,
            )
            others = self._others(campaign, batch, existing)
            check_shared_outputs(campaign, others, destinations)
            for sub in campaign.sub_audiences:
                if sub.where is not None:  # criteria compile like a segment's conditions
                    self.segments.compile(Segment(name=sub.name, where=sub.where), pending=pending)
        except CampaignError as error:
            raise error.located(source=source) from None
        except SegmentError as error:
            raise CampaignError(error.message, location=error.location, source=source) from None
        return warnings

    def _others(
        self, campaign: Campaign, batch: Iterable[Campaign], existing: Sequence[Campaign] | None
    ) -> list[Campaign]:
        """The campaigns whose lists ``campaign`` must not take: the stored ones, each
        replaced by its version in the batch when it comes before ``campaign`` there."""
        batch = list(batch)
        names = [c.name for c in batch]
        before = batch[: names.index(campaign.name)] if campaign.name in names else batch
        if existing is None:
            existing = self.stored_campaigns()
        kept = [c for c in existing if c.name not in names]
        return [c for c in [*kept, *before] if c.name != campaign.name]

    def stored_campaigns(self) -> list[Campaign]:
        """The latest version of every stored campaign, archived ones included: their lists
        may still exist at the destinations."""
        found = []
        for summary in self.ws.store.list(KIND):
            version = self.ws.store.get(KIND, summary.name, "latest")
            try:
                found.append(parse_campaign(version.definition))
            except CampaignError:
                continue  # stored under older rules; it cannot be run either
        return found

    def _segment_status(self, name: str) -> str | None:
        try:
            self.ws.store.get("segment", name, "active")
        except NotFoundError:
            try:
                self.ws.store.get("segment", name, "draft")
            except NotFoundError:
                return None
            return "draft"
        return "active"

    def apply(
        self,
        doc: Mapping[str, Any] | Campaign,
        *,
        source: str | None = None,
        pending: Mapping[str, Segment] | None = None,
        batch: Iterable[Campaign] = (),
        existing: Sequence[Campaign] | None = None,
    ) -> tuple[ApplyResult, list[Warning_]]:
        """Validate and store a campaign definition as its active version (idempotent).

        Args:
            doc: the definition as a mapping (YAML/JSON) or a :class:`Campaign` built in Python.

        Raises:
            StateError: the campaign is scheduled or running; unschedule it first.
        """
        if isinstance(doc, Campaign):
            doc = campaign_to_doc(doc)
        campaign = self.parse(doc, source=source)
        warnings = self.validate(
            campaign, source=source, pending=pending, batch=batch, existing=existing
        )
        stored = campaign_to_dict(doc)
        if self._exists(campaign.name):
            current = self.ws.store.get(KIND, campaign.name, "latest")
            if current.definition != stored:
                state = self.ws.store.settle_campaign(campaign.name)  # a crash may have left it
                if state.status == "scheduled":
                    msg = (
                        f"campaign '{campaign.name}' is scheduled: unschedule it "
                        f'(`herald campaign unschedule "{campaign.name}"`) before editing it, '
                        "then schedule it again"
                    )
                    raise StateError(msg)
                self.ws.store.set_campaign_status(
                    campaign.name, "draft", expected=("draft", "delivered", "error")
                )
        result = self.ws.store.apply(
            KIND, campaign.name, stored, status="active", description=campaign.description
        )
        self.ws.store.campaign_uid(campaign.name)  # the split's salt exists from the start
        return result, warnings

    def _exists(self, name: str) -> bool:
        return any(s.name == name for s in self.ws.store.list(KIND))

    # --- scheduling --------------------------------------------------------------------------

    def schedule(self, name: str, *, now: dt.datetime | None = None) -> Scheduled:
        """Schedule the active version of campaign ``name`` (DESIGN §1.3).

        The campaign is validated against the database and compiled; its version and its
        segments' active versions are pinned: a later activation changes nothing until the
        campaign is scheduled again.

        Raises:
            CampaignError: it is invalid, or its delivery has no time left to run.
            StateError: it is running or archived.
        """
        now = now or dt.datetime.now(dt.UTC)
        build = self.build(name, as_of=now)
        try:
            self.ws.engine.bind(build.query)  # every table, column and type, reading no row
        except EngineError as error:
            msg = f"campaign '{name}' does not run against the database: {error}"
            raise CampaignError(msg) from None
        slots = first_slots(build.campaign, now)
        if not slots:
            msg = f"campaign '{name}' has no time left to run: {_ended(build.campaign)}"
            raise CampaignError(msg, location="delivery")
        schedule = self.ws.store.schedule_campaign(
            name, build.version, build.pins, scheduled_at=now, next_at=slots[0]
        )
        return Scheduled(schedule, build.campaign, slots, build.warnings)

    def unschedule(self, name: str) -> CampaignState:
        """Make a scheduled campaign a draft again, for editing; its schedule is dropped.

        Raises:
            StateError: it is not scheduled, or a run of it is going on.
        """
        return self.ws.store.unschedule_campaign(name)

    def scheduled(self, name: str) -> Scheduled | None:
        """The schedule of campaign ``name`` with its next runs; None when not scheduled."""
        schedule = self.ws.store.schedule(name)
        if schedule is None:
            return None
        campaign, _ = self.load(name, schedule.campaign_version)
        return Scheduled(schedule, campaign, upcoming_slots(campaign, schedule))

    def archive(self, name: str) -> CampaignState:
        """Archive a campaign: kept with its run history, never run again.

        Raises:
            StateError: it is scheduled (unschedule it first) or running.
        """
        if self.ws.store.campaign_status(name).status == "scheduled":
            hint = "unschedule it first (`herald campaign unschedule`)"
            msg = f"campaign '{name}' is scheduled: {hint}"
            raise StateError(msg)
        return self.ws.store.set_campaign_status(
            name, "archived", expected=("draft", "delivered", "error", "archived")
        )

    def delete(self, name: str) -> None:
        """Delete a draft or scheduled campaign with its versions (its runs stay as history).

        Raises:
            StateError: it was delivered, failed or archived (archive it instead) or is running.
        """
        self.ws.store.delete(KIND, name)

    def run_versions(self, name: str) -> tuple[Any, dict[str, int] | None]:
        """The versions a run of ``name`` uses now: the schedule's pins when it is scheduled,
        else the active campaign version and its segments' active versions."""
        schedule = self.ws.store.schedule(name)
        if schedule is None:
            return "active", None
        return schedule.campaign_version, schedule.pins

    # --- building ----------------------------------------------------------------------------

    def build(
        self,
        name: str,
        *,
        today: dt.date | None = None,
        which: Any = "active",
        pins: Mapping[str, int] | None = None,
        as_of: dt.datetime | None = None,
    ) -> Build:
        """Compile the audience query of the stored campaign, pinning segment versions.

        Args:
            name: the campaign.
            today: the date relative dates resolve against (default: the as-of date, UTC).
            which: the campaign version (``"active"`` or a number).
            pins: segment versions to use instead of the active ones (a run's ``pins``), so
                that a resumed run builds the audience it started with.
            as_of: the as-of time instead of now (a run's ``as_of``).
        """
        campaign, version = self.load(name, which)
        warnings = self.validate(campaign)
        as_of = as_of or dt.datetime.now(dt.UTC)
        used = Pins()
        ctx = AudienceContext(
            catalog=self.ws.catalog,
            today=today or as_of.astimezone(dt.UTC).date(),
            resolve_segment=lambda segment: self._pinned(segment, used, pins or {}),
            salt=self.ws.store.campaign_uid(name),
            attributes_table=campaign.attributes_table
            or self.ws.settings.database.attributes_table,
            dialect=self.ws.engine.dialect,
        )
        resolved = resolve_destinations(
            campaign, self.ws.catalog, self.destinations(), attributes_table=ctx.attributes_table
        )
        sources = attribute_sources(resolved)
        query = audience_query(campaign, ctx, sources)
        return Build(
            campaign, version, query, resolved, sources, dict(used.versions), as_of, warnings
        )

    def _pinned(self, name: str, used: Pins, pins: Mapping[str, int]) -> Segment:
        if name in pins:
            used.versions[name] = pins[name]
            return self.segments.load(name, pins[name])
        stored = self.ws.store.get("segment", name, "active")
        used.versions[name] = stored.version
        return self.segments.load(name, stored.version)

    def write_snapshot(self, build: Build, path: Path) -> int:
        """Run the audience query in the engine and write the recipients snapshot (Parquet).

        Raises:
            EngineError: on one line naming the campaign, and the segment that fails if one does.
        """
        try:
            return self.ws.engine.write_parquet(build.query, path)
        except EngineError as error:
            where = f"campaign '{build.campaign.name}'{self._failing_segment(build)}"
            msg = f"{where}: {error}"
            raise EngineError(msg) from None

    def _failing_segment(self, build: Build) -> str:
        """``, segment 'X'`` for the first pinned segment that fails alone, else ``''``.

        Only on the error path: each segment is counted on its own to find the culprit.
        """
        for name, version in build.pins.items():
            try:
                segment = self.segments.load(name, version)
                self.segments.count(segment, today=build.as_of.date())
            except HeraldError:
                return f", segment '{name}'"
        return ""


NEXT_RUNS = 5
"""How many next runs scheduling shows."""


def first_slots(campaign: Campaign, now: dt.datetime, count: int = NEXT_RUNS) -> list[dt.datetime]:
    """The first slots of a schedule made ``now``: none before ``now``'s minute (slots are whole
    minutes: "as soon as possible" is this minute)."""
    minute = now.replace(second=0, microsecond=0)
    return slots_after(
        campaign.delivery,
        scheduled_at=now,
        after=minute - dt.timedelta(microseconds=1),
        count=count,
    )


def upcoming_slots(
    campaign: Campaign, schedule: Schedule, count: int = NEXT_RUNS
) -> list[dt.datetime]:
    """The next ``count`` slots of a schedule, from its next one (UTC)."""
    if schedule.next_at is None:
        return []
    later = slots_after(
        campaign.delivery,
        scheduled_at=schedule.scheduled_at,
        after=schedule.next_at,
        sends=schedule.sends + 1,
        count=count - 1,
    )
    return [schedule.next_at, *later]


def _ended(campaign: Campaign) -> str:
    delivery = campaign.delivery
    if delivery.mode == "once":
        return f"its time ({delivery.at} {delivery.timezone}) has passed; set a later 'at' or asap"
    return f"its end ({delivery.end_on}) has passed; set a later end or none"
