"""Herald's state store: definitions, insights, campaign state and runs (SQLite or PostgreSQL).

>>> from herald.state import StateStore
"""

from __future__ import annotations

from herald.state.models import (
    ApplyResult,
    BatchRecord,
    CampaignState,
    DefinitionSummary,
    DefinitionVersion,
    DeliveryRecord,
    InsightsRecord,
    Run,
    RunEvent,
    SaveResult,
    Schedule,
    SlotRecord,
    WebUser,
)
from herald.state.store import StateStore

__all__ = [
    "ApplyResult",
    "BatchRecord",
    "CampaignState",
    "DefinitionSummary",
    "DefinitionVersion",
    "DeliveryRecord",
    "InsightsRecord",
    "Run",
    "RunEvent",
    "SaveResult",
    "Schedule",
    "SlotRecord",
    "StateStore",
    "WebUser",
]
