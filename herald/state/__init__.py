"""Herald's state store: versioned definitions and insights history (SQLite or PostgreSQL).

>>> from herald.state import StateStore
"""

from __future__ import annotations

from herald.state.models import (
    ApplyResult,
    DefinitionSummary,
    DefinitionVersion,
    InsightsRecord,
    SaveResult,
)
from herald.state.store import StateStore

__all__ = [
    "ApplyResult",
    "DefinitionSummary",
    "DefinitionVersion",
    "InsightsRecord",
    "SaveResult",
    "StateStore",
]
