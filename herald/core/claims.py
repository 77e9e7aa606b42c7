"""Which groups of a campaign contend for an email address at each destination (DESIGN §1.3).

One address is sent to one group of a campaign per destination: the first group in campaign
order keeps it, and the customers of later groups who have it are dropped
(``duplicate_email_in_campaign``). For destination *D* the contenders are:

- every group that sends to *D* with an email field mapped, under the snapshot column that
  mapping reads (its *source*);
- every control group of the campaign, under each source the senders of *D* read. A control
  group is never sent, but it keeps the addresses of its customers, so a customer of the
  control and one of a treatment group who share an address never both hear from the campaign
  (a treatment group before the control in campaign order still keeps its addresses).

Campaign order is the order of :meth:`Campaign.all_sub_audiences`, then of each one's groups.
Which customers lose is computed over the recipients snapshot by ``herald.runs.claims``; an
address claims only when it would be sent (valid after normalization), so a missing or
invalid email claims nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from herald.core.campaigns.model import Campaign
from herald.core.campaigns.validate import Resolved
from herald.core.prepare import identity_fields

__all__ = [
    "Contender",
    "Contest",
    "contending_groups",
    "email_contests",
    "email_sources",
    "group_ranks",
]


@dataclass(frozen=True)
class Contender:
    """A group contending for addresses at one destination.

    Attributes:
        rank: the group's place in campaign order (0 first).
        source: the snapshot column its addresses are read from.
        sends: False for a control group, which keeps addresses but is never sent.
    """

    rank: int
    source: str
    sends: bool


@dataclass(frozen=True)
class Contest:
    """The groups contending for addresses at one destination, in campaign order."""

    destination: str
    contenders: tuple[Contender, ...]

    @property
    def senders(self) -> tuple[int, ...]:
        """The ranks of the groups that may lose an address (those that send)."""
        return tuple(c.rank for c in self.contenders if c.sends)

    @property
    def sources(self) -> tuple[str, ...]:
        """The snapshot columns read, each once, in first-use order."""
        return tuple(dict.fromkeys(c.source for c in self.contenders))

    def ranks_by_source(self) -> list[tuple[str, list[int]]]:
        """Each source with the ranks of the contenders read from it, in order."""
        return [
            (source, sorted({c.rank for c in self.contenders if c.source == source}))
            for source in self.sources
        ]


def email_sources(contests: Mapping[str, Contest]) -> list[str]:
    """The snapshot columns any contest reads, each once, in first-use order."""
    return list(dict.fromkeys(s for contest in contests.values() for s in contest.sources))


def contending_groups(
    contests: Mapping[str, Contest], ranks: Mapping[tuple[str, str], int]
) -> list[tuple[str, str, int]]:
    """``(sub-audience, group, rank)`` of every group some contest names, in campaign order."""
    contending = {c.rank for contest in contests.values() for c in contest.contenders}
    return [(s, g, r) for (s, g), r in ranks.items() if r in contending]


def group_ranks(campaign: Campaign) -> dict[tuple[str, str], int]:
    """``(sub-audience, group) → place in campaign order``, control groups included.

    >>> from herald.core.campaigns.parse import parse_campaign
    >>> c = parse_campaign({"name": "S", "include": "V", "remaining": {"groups": [
    ...     {"name": "A", "percent": 90, "destinations": ["files"]},
    ...     {"name": "Hold", "percent": 10, "control": True}]}})
    >>> group_ranks(c)
    {('All Remaining Recipients', 'A'): 0, ('All Remaining Recipients', 'Hold'): 1}
    """
    pairs = [(sub.name, g.name) for sub in campaign.all_sub_audiences() for g in sub.groups]
    return {pair: rank for rank, pair in enumerate(pairs)}


def email_contests(campaign: Campaign, resolved: Sequence[Resolved]) -> dict[str, Contest]:
    """Per destination, the groups that contend for its addresses; destinations where fewer
    than two groups contend are left out (nobody can lose an address there).

    Args:
        campaign: the campaign (its order and control groups).
        resolved: its groups' destinations with their attributes.

    >>> from herald.core.campaigns.model import AttributeMapping
    >>> from herald.core.campaigns.parse import parse_campaign
    >>> from herald.core.destinations import DestinationKind
    >>> c = parse_campaign({"name": "S", "include": "V", "remaining": {"groups": [
    ...     {"name": "A", "percent": 90, "destinations": ["files"]},
    ...     {"name": "Hold", "percent": 10, "control": True}]}})
    >>> email = (AttributeMapping("email", "email"),)
    >>> files = DestinationKind("files", "CSV file", email)
    >>> a = Resolved("All Remaining Recipients", "A", "files", files, email, "S_A")
    >>> email_contests(c, [a])["files"].contenders
    (Contender(rank=0, source='email', sends=True), Contender(rank=1, source='email', sends=False))
    """
    ranks = group_ranks(campaign)
    senders: dict[str, list[Contender]] = {}
    for item in resolved:
        email_field = identity_fields(item.kind)[0]
        source = next((m.source for m in item.attributes if m.field == email_field), None)
        if source is not None:
            rank = ranks[(item.sub_audience, item.group)]
            senders.setdefault(item.destination, []).append(Contender(rank, source, sends=True))
    controls = [
        ranks[(sub.name, g.name)] for sub in campaign.all_sub_audiences() for g in sub.groups
        if g.control
    ]  # fmt: skip
    contests: dict[str, Contest] = {}
    for destination, sending in senders.items():
        sources = dict.fromkeys(c.source for c in sending)
        kept = [Contender(rank, source, sends=False) for rank in controls for source in sources]
        contenders = sorted([*sending, *kept], key=lambda c: c.rank)
        if len({c.rank for c in contenders}) > 1:
            contests[destination] = Contest(destination, tuple(contenders))
    return contests
