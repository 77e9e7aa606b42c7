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
from herald.core.segments.model import Segment
from herald.destinations.registry import kind_of
from herald.exceptions import (
    CampaignError,
    ConfigError,
    EngineError,
    HeraldError,
    NotFoundError,
    SegmentError,
)

if TYPE_CHECKING:
    from herald.resources import Resources
    from herald.segments import Segments
    from herald.state import ApplyResult

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
                self.ws.store.settle_campaign(campaign.name)  # a crash may have left it stuck
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
