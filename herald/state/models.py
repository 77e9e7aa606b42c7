"""The values the state store hands out: frozen dataclasses, times in UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Status = Literal["draft", "active", "retired"]
"""Where a version is in its lifecycle: a draft until activated, retired when replaced."""

Which = Literal["active", "draft", "latest"] | int
"""Which version `StateStore.get` returns: by status, the newest, or by number."""

ApplyAction = Literal["created", "updated", "activated", "unchanged"]
"""What `StateStore.apply` did to a name."""


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
