"""Check a campaign against the database, the segments and the destinations (pure).

Errors raise :class:`CampaignError` naming the problem and its place; naming advice from
Amperity's guidance comes back as warnings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from herald.core.campaigns.model import (
    MAX_SUB_AUDIENCES,
    REMAINDER,
    AttributeMapping,
    Campaign,
    GroupDestination,
    RecipientGroup,
    SubAudience,
    output_name,
)
from herald.core.catalog import Catalog, did_you_mean
from herald.core.destinations import DestinationKind, is_klaviyo
from herald.core.splitting import BASIS
from herald.exceptions import CampaignError

SegmentStatus = Callable[[str], "str | None"]  # "active", "draft", or None when unknown


@dataclass(frozen=True)
class Warning_:
    """Advice that does not stop the campaign (Amperity's naming guidance)."""

    message: str
    location: str | None = None

    def __str__(self) -> str:
        return f"at {self.location}: {self.message}" if self.location else self.message


@dataclass(frozen=True)
class Resolved:
    """A group's destination with its attributes filled in from the defaults."""

    sub_audience: str
    group: str
    destination: str
    kind: DestinationKind
    attributes: tuple[AttributeMapping, ...]
    output_name: str


def validate_campaign(
    campaign: Campaign,
    catalog: Catalog,
    destinations: Mapping[str, DestinationKind],
    segment_status: SegmentStatus,
    *,
    attributes_table: str = "Merged_Customers",
) -> list[Warning_]:
    """Raise on the first problem; return the naming warnings.

    >>> from herald.core.campaigns.parse import parse_campaign
    >>> cat = Catalog.from_columns([("Merged_Customers", "amperity_id", "string", ""),
    ...                             ("Merged_Customers", "email", "string", "")])
    >>> c = parse_campaign({"name": "Spring", "include": "VIPs", "remaining": {"groups": [
    ...     {"name": "A", "percent": 60}, {"name": "B", "percent": 30}]}})
    >>> validate_campaign(c, cat, {}, lambda name: "active")
    Traceback (most recent call last):
    herald.exceptions.CampaignError: at remaining.groups:
        percentages of 'All Remaining Recipients' total 90 %, not 100 %
    """
    _check_segments(campaign, segment_status)
    if len(campaign.sub_audiences) > MAX_SUB_AUDIENCES:
        msg = (
            f"{len(campaign.sub_audiences)} sub-audiences; "
            f"a campaign has at most {MAX_SUB_AUDIENCES}"
        )
        raise CampaignError(msg, location="sub_audiences")
    if not campaign.sub_audiences and not campaign.remaining:
        msg = "the campaign sends nothing: add sub_audiences or remaining groups"
        raise CampaignError(msg)
    _check_unique([s.name for s in campaign.sub_audiences], "sub-audience", "sub_audiences")
    _check_output_safe(campaign.name, "campaign", "name")
    for sub in campaign.sub_audiences:
        if sub.name == REMAINDER:
            msg = f"'{REMAINDER}' is reserved for the customers no sub-audience takes; rename it"
            raise CampaignError(msg, location=f"{sub.location}.name")
    for sub in campaign.all_sub_audiences():
        _check_groups(sub)
    resolve_destinations(campaign, catalog, destinations, attributes_table=attributes_table)
    return naming_warnings(campaign, destinations)


def _check_segments(campaign: Campaign, segment_status: SegmentStatus) -> None:
    named = [(n, f"include[{i}]") for i, n in enumerate(campaign.include)]
    named += [(n, f"exclude[{i}]") for i, n in enumerate(campaign.exclude)]
    named += [(s.segment, f"{s.location}.segment") for s in campaign.sub_audiences if s.segment]
    for name, location in named:
        status = segment_status(name)
        if status is None:
            msg = f"unknown segment '{name}'"
            raise CampaignError(msg, location=location)
        if status != "active":
            msg = (
                f"segment '{name}' is a draft; activate it with `herald segment activate '{name}'`"
            )
            raise CampaignError(msg, location=location)


def _check_groups(sub: SubAudience) -> None:
    where = f"{sub.location}.groups" if sub.location else "groups"
    total = sum(g.basis_points for g in sub.groups)
    if total != BASIS:
        msg = f"percentages of '{sub.name}' total {total / 100:g} %, not 100 %"
        raise CampaignError(msg, location=where)
    _check_unique([g.name for g in sub.groups], f"group in '{sub.name}'", where)
    controls = [g for g in sub.groups if g.control]
    if len(controls) > 1:
        msg = f"'{sub.name}' has {len(controls)} control groups; at most one is allowed"
        raise CampaignError(msg, location=controls[1].location)
    for group in sub.groups:
        _check_group(group, sub)


def _check_output_safe(name: str, what: str, location: str) -> None:
    """Names become list and file names: no path separators or parent-folder steps."""
    if any(c in name for c in "/\\\0") or ".." in name:
        msg = (
            f"{what} name '{name}' contains '/', '\\' or '..', which cannot be part of a file name"
        )
        raise CampaignError(msg, location=location)


def _check_group(group: RecipientGroup, sub: SubAudience) -> None:
    _check_output_safe(group.name, "group", f"{group.location}.name")
    if group.name.startswith("_"):
        msg = (
            f"group name '{group.name}' starts with '_'; rename it (Amperity fails such campaigns)"
        )
        raise CampaignError(msg, location=f"{group.location}.name")
    if group.control and group.destinations:
        msg = f"control group '{group.name}' is never sent; remove its destinations"
        raise CampaignError(msg, location=f"{group.location}.destinations")
    if not group.control and not group.destinations and sub.name != REMAINDER:
        msg = f"group '{group.name}' has no destination; add one, or mark it control: true"
        raise CampaignError(msg, location=f"{group.location}.destinations")


def _check_unique(names: list[str], what: str, location: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            msg = f"two {what}s are named '{name}'; names must be unique"
            raise CampaignError(msg, location=location)
        seen.add(name)


def resolve_destinations(
    campaign: Campaign,
    catalog: Catalog,
    destinations: Mapping[str, DestinationKind],
    *,
    attributes_table: str = "Merged_Customers",
) -> list[Resolved]:
    """Every (group, destination) with attributes filled in and checked against the catalog."""
    resolved: list[Resolved] = []
    names_used: dict[tuple[str, str], str] = {}
    for sub in campaign.all_sub_audiences():
        for group in sub.groups:
            for target in group.destinations:
                item = _resolve_one(
                    campaign, sub, group, target, catalog, destinations, attributes_table
                )
                key = (item.destination, item.output_name.lower())
                if key in names_used:
                    msg = (
                        f"groups '{names_used[key]}' and '{sub.name} / {group.name}' both become "
                        f"'{item.output_name}' in destination '{item.destination}'; rename one"
                    )
                    raise CampaignError(msg, location=f"{group.location}.name")
                names_used[key] = f"{sub.name} / {group.name}"
                resolved.append(item)
    return resolved


def _resolve_one(
    campaign: Campaign,
    sub: SubAudience,
    group: RecipientGroup,
    target: GroupDestination,
    catalog: Catalog,
    destinations: Mapping[str, DestinationKind],
    attributes_table: str,
) -> Resolved:
    kind = destinations.get(target.destination)
    if kind is None:
        known = sorted(destinations)
        hint = did_you_mean(target.destination, known)
        msg = (
            f"unknown destination '{target.destination}'.{hint} Destinations in herald.toml: "
            f"{', '.join(known) or 'none'}"
        )
        raise CampaignError(msg, location=target.location)
    attributes = target.attributes if target.attributes is not None else kind.default_attributes
    table = campaign.attributes_table or attributes_table
    for mapping in attributes:
        _check_source(mapping, table, catalog, target)
    _check_unique(
        [a.field for a in attributes],
        f"attribute field for '{target.destination}'",
        target.location,
    )
    for needed in kind.required_fields:
        if needed not in {a.field for a in attributes}:
            msg = (
                f"group '{group.name}' sends to {kind.label} destination '{target.destination}' "
                f"without an '{needed}' attribute; add one, e.g. '{{email: {needed}}}'"
            )
            raise CampaignError(msg, location=f"{target.location}.attributes")
    _check_identifiers(kind, attributes, group.name, target)
    return Resolved(
        sub.name,
        group.name,
        target.destination,
        kind,
        attributes,
        output_name(campaign.name, group.name),
    )


def _check_identifiers(
    kind: DestinationKind,
    attributes: Sequence[AttributeMapping],
    group: str,
    target: GroupDestination,
) -> None:
    """A group sent where each record needs an identifier must map at least one."""
    if not kind.identifier_fields or {a.field for a in attributes} & set(kind.identifier_fields):
        return
    names = ", ".join(kind.identifier_fields)
    msg = (
        f"group '{group}' sends to {kind.label} destination '{target.destination}' without "
        f"any of the fields {names}; map at least one, e.g. '{{email: "
        f"{kind.identifier_fields[0]}}}'"
    )
    raise CampaignError(msg, location=f"{target.location}.attributes")


def _check_source(
    mapping: AttributeMapping, default_table: str, catalog: Catalog, target: GroupDestination
) -> None:
    table_name, _, column_name = mapping.source.rpartition(".")
    table_name = table_name or default_table
    location = mapping.location or f"{target.location}.attributes"
    table = catalog.table(table_name)
    if table is None:
        hint = did_you_mean(table_name, catalog.table_names())
        msg = f"attribute '{mapping.source}': unknown table '{table_name}'.{hint}"
        raise CampaignError(msg, location=location)
    if table.column(column_name) is None:
        hint = did_you_mean(column_name, table.column_names())
        msg = (
            f"attribute '{mapping.source}': table '{table.name}' "
            f"has no column '{column_name}'.{hint}"
        )
        raise CampaignError(msg, location=location)
    if table.column(catalog.customer_key) is None:
        msg = (
            f"attribute '{mapping.source}': table '{table.name}' "
            f"has no '{catalog.customer_key}' to join on"
        )
        raise CampaignError(msg, location=location)


def check_shared_outputs(
    campaign: Campaign,
    others: Iterable[Campaign],
    destinations: Mapping[str, DestinationKind],
) -> None:
    """Refuse a group that would send to a list or file another campaign's group uses.

    Names are compared without regard to case: lists named ``Sale_Offer`` and ``sale_offer``
    are told apart by no one reading them, so they count as the same.

    Raises:
        CampaignError: naming both groups and the list, at the later group's name.
    """
    used = {key: (other, group) for other in others for key, group in _outputs(other).items()}
    for (destination, _), group in _outputs(campaign).items():
        key = (destination, output_name(campaign.name, group.name).lower())
        if key not in used:
            continue
        other, other_group = used[key]
        kind = destinations.get(destination)
        what = "list" if kind is None or kind.is_list else "file"
        msg = (
            f"campaign '{campaign.name}' group '{group.name}' would send to {what} "
            f"'{output_name(campaign.name, group.name)}' on destination '{destination}', "
            f"which campaign '{other.name}' group '{other_group.name}' already uses: rename one"
        )
        raise CampaignError(msg, location=f"{group.location}.name")


def _outputs(campaign: Campaign) -> dict[tuple[str, str], RecipientGroup]:
    """(destination, lower-case list or file name) → the group sending there."""
    found: dict[tuple[str, str], RecipientGroup] = {}
    for sub in campaign.all_sub_audiences():
        for group in sub.groups:
            for target in group.destinations:
                name = output_name(campaign.name, group.name).lower()
                found.setdefault((target.destination, name), group)
    return found


_WORD = re.compile(r"[A-Za-z0-9]+")


def naming_warnings(
    campaign: Campaign, destinations: Mapping[str, DestinationKind]
) -> list[Warning_]:
    """Amperity's naming advice: no words of the campaign name repeated in group names, and
    "Klaviyo" only in names of things sent only to Klaviyo."""
    warnings: list[Warning_] = []
    campaign_words = {w.lower() for w in _WORD.findall(campaign.name) if len(w) > 2}
    all_kinds = [
        destinations.get(d.destination)
        for s in campaign.all_sub_audiences()
        for g in s.groups
        for d in g.destinations
    ]
    only_klaviyo = bool(all_kinds) and all(k is not None and is_klaviyo(k) for k in all_kinds)
    if "klaviyo" in campaign.name.lower() and not only_klaviyo:
        warnings.append(
            Warning_(
                f"campaign name '{campaign.name}' says Klaviyo but it is not sent only to Klaviyo",
                "name",
            )
        )
    for sub in campaign.all_sub_audiences():
        for group in sub.groups:
            repeated = sorted({w for w in _WORD.findall(group.name) if w.lower() in campaign_words})
            if repeated:
                warnings.append(
                    Warning_(
                        f"group '{group.name}' repeats '{', '.join(repeated)}' "
                        "from the campaign name; list names already start with it",
                        f"{group.location}.name",
                    )
                )
            kinds = [destinations.get(d.destination) for d in group.destinations]
            if "klaviyo" in group.name.lower() and not (
                kinds and all(k is not None and is_klaviyo(k) for k in kinds)
            ):
                warnings.append(
                    Warning_(
                        f"group '{group.name}' says Klaviyo but is not sent only to Klaviyo",
                        f"{group.location}.name",
                    )
                )
    return warnings
