"""Campaigns back to plain mappings: what a campaign built in Python is stored as."""

from __future__ import annotations

from typing import Any

from herald.core.campaigns.model import (
    Campaign,
    Delivery,
    GroupDestination,
    RecipientGroup,
    SubAudience,
)
from herald.core.campaigns.parse import WEEKDAY_NAMES
from herald.core.segments.model import Segment
from herald.core.segments.parse import segment_to_dict


def campaign_to_doc(campaign: Campaign) -> dict[str, Any]:
    """The YAML/JSON form of a campaign; ``parse_campaign`` reads it back unchanged.

    >>> from herald.core.campaigns.parse import parse_campaign
    >>> doc = {"name": "S", "include": ["VIPs"], "remaining": {"groups": [
    ...     {"name": "All", "percent": 100, "destinations": ["files"]}]}}
    >>> parse_campaign(campaign_to_doc(parse_campaign(doc))) == parse_campaign(doc)
    True
    """
    doc: dict[str, Any] = {"kind": "campaign", "name": campaign.name}
    if campaign.description:
        doc["description"] = campaign.description
    doc["include"] = list(campaign.include)
    if campaign.exclude:
        doc["exclude"] = list(campaign.exclude)
    if not campaign.first_match_only:
        doc["first_match_only"] = False
    if campaign.attributes_table:
        doc["attributes_table"] = campaign.attributes_table
    if campaign.sub_audiences:
        doc["sub_audiences"] = [_sub_audience(s) for s in campaign.sub_audiences]
    if campaign.remaining:
        doc["remaining"] = {"groups": [_group(g) for g in campaign.remaining]}
    doc["delivery"] = _delivery(campaign.delivery)
    if campaign.launch_date:
        doc["launch_date"] = campaign.launch_date.isoformat()
    elif campaign.launch_after_days is not None:
        doc["launch_date"] = {"after_days": campaign.launch_after_days}
    return doc


def _sub_audience(sub: SubAudience) -> dict[str, Any]:
    out: dict[str, Any] = {"name": sub.name}
    if sub.segment is not None:
        out["segment"] = sub.segment
    if sub.where is not None:
        out["where"] = segment_to_dict(Segment(name=sub.name, where=sub.where))["where"]
    out["groups"] = [_group(g) for g in sub.groups]
    return out


def _group(group: RecipientGroup) -> dict[str, Any]:
    percent = group.basis_points / 100
    whole = percent == int(percent)
    out: dict[str, Any] = {"name": group.name, "percent": int(percent) if whole else percent}
    if group.control:
        out["control"] = True
    if group.destinations:
        out["destinations"] = [_destination(d) for d in group.destinations]
    return out


def _destination(target: GroupDestination) -> str | dict[str, Any]:
    if target.attributes is None:
        return target.destination
    return {
        "destination": target.destination,
        "attributes": [{"source": a.source, "field": a.field} for a in target.attributes],
    }


def _delivery(delivery: Delivery) -> dict[str, Any]:
    out: dict[str, Any] = {"schedule": delivery.mode, "timezone": delivery.timezone}
    if delivery.mode == "once":
        out["at"] = delivery.at.isoformat(sep=" ") if delivery.at else "asap"
        return out
    out["cadence"] = delivery.cadence
    if delivery.cron:
        out["cron"] = delivery.cron
    if delivery.start:
        out["start"] = delivery.start.isoformat(sep=" ")
    if delivery.time is not None:
        out["time"] = delivery.time.strftime("%H:%M")
    if delivery.weekdays:
        out["weekdays"] = [WEEKDAY_NAMES[d] for d in delivery.weekdays]
    if delivery.day is not None:
        out["day"] = delivery.day
    if delivery.end_on:
        out["end"] = delivery.end_on.isoformat()
    elif delivery.end_after:
        out["end"] = {"after": delivery.end_after}
    return out
