"""Herald: segments over a customer 360 database, campaigns, and delivery to Klaviyo.

The public API::

    import herald

    with herald.Workspace.open("herald-demo") as ws:
        ws.segments.apply(herald.parse_segment({...}))
        print(ws.segments.insights("High Value").unique_customers)
"""

from __future__ import annotations

from herald.core.campaigns.model import Campaign
from herald.core.campaigns.parse import parse_campaign
from herald.core.catalog import Catalog
from herald.core.insights import Insights
from herald.core.segments import (
    All,
    Any_,
    Attribute,
    Group,
    InSegment,
    Not,
    Purchase,
    Segment,
    compile_segment,
    parse_segment,
    segment_to_dict,
)
from herald.exceptions import (
    ConfigError,
    DefinitionError,
    EngineError,
    HeraldError,
    NotFoundError,
    SegmentError,
    StateError,
)
from herald.runs.pipeline import preview_campaign, run_campaign, sample_campaign
from herald.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "All",
    "Any_",
    "Attribute",
    "Campaign",
    "Catalog",
    "ConfigError",
    "DefinitionError",
    "EngineError",
    "Group",
    "HeraldError",
    "InSegment",
    "Insights",
    "Not",
    "NotFoundError",
    "Purchase",
    "Segment",
    "SegmentError",
    "StateError",
    "Workspace",
    "__version__",
    "compile_segment",
    "parse_campaign",
    "parse_segment",
    "preview_campaign",
    "run_campaign",
    "sample_campaign",
    "segment_to_dict",
]
