"""Herald: segments over a customer 360 database, campaigns, and delivery to Klaviyo.

The public API::

    import herald

    with herald.Workspace.open("herald-demo") as ws:
        ws.segments.apply(herald.parse_segment({...}))
        print(ws.segments.insights("High Value").unique_customers)

``import herald`` loads none of the modules behind these names: each loads on its first use,
so that a command or a library user pays only for the engine, state store and vendor
libraries it needs (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from herald._version import __version__
from herald.exceptions import (
    ConfigError,
    DefinitionError,
    EngineError,
    HeraldError,
    NotFoundError,
    SegmentError,
    StateError,
)

if TYPE_CHECKING:
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
    from herald.runs.events import watch_run
    from herald.runs.groups import RunResult
    from herald.runs.pipeline import (
        resume_run,
        resume_run_async,
        run_campaign,
        run_campaign_async,
    )
    from herald.runs.preview import preview_campaign, sample_campaign
    from herald.workspace import Workspace

# The module of each name loaded on first use; the block above is the same list for type
# checkers (tests/test_imports.py checks that they agree).
_LAZY = {
    "Campaign": "herald.core.campaigns.model",
    "parse_campaign": "herald.core.campaigns.parse",
    "Catalog": "herald.core.catalog",
    "Insights": "herald.core.insights",
    **dict.fromkeys(
        [
            "All",
            "Any_",
            "Attribute",
            "Group",
            "InSegment",
            "Not",
            "Purchase",
            "Segment",
            "compile_segment",
            "parse_segment",
            "segment_to_dict",
        ],
        "herald.core.segments",
    ),
    "RunResult": "herald.runs.groups",
    **dict.fromkeys(
        ["resume_run", "resume_run_async", "run_campaign", "run_campaign_async"],
        "herald.runs.pipeline",
    ),
    **dict.fromkeys(["preview_campaign", "sample_campaign"], "herald.runs.preview"),
    "watch_run": "herald.runs.events",
    "Workspace": "herald.workspace",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'herald' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups find it without coming here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
    "RunResult",
    "Segment",
    "SegmentError",
    "StateError",
    "Workspace",
    "__version__",
    "compile_segment",
    "parse_campaign",
    "parse_segment",
    "preview_campaign",
    "resume_run",
    "resume_run_async",
    "run_campaign",
    "run_campaign_async",
    "sample_campaign",
    "segment_to_dict",
    "watch_run",
]
