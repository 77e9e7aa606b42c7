"""Every error Herald raises, in one hierarchy grouped by how to recover.

Messages name the thing (segment, table, column, run) and say what to do next. They never
contain an email address, a phone number or an API key.
"""

from __future__ import annotations


class HeraldError(Exception):
    """The root of every error Herald raises on purpose."""


# --- configuration and workspace ------------------------------------------------------------


class ConfigError(HeraldError):
    """herald.toml, an environment variable or a command-line option is wrong or missing."""


class WorkspaceNotFoundError(ConfigError):
    """No herald.toml was found from the current folder, --workspace or HERALD_WORKSPACE."""


class MissingDependencyError(ConfigError):
    """An optional package (pyspark, paramiko, psycopg) is needed but not installed."""


# --- definitions ----------------------------------------------------------------------------


class DefinitionError(HeraldError):
    """A segment or campaign definition is invalid.

    Attributes:
        location: where in the file or object the problem is, such as ``where.all[2].value``.
        source: the file the definition came from, when known.
    """

    def __init__(self, message: str, *, location: str | None = None, source: str | None = None):
        self.message = message
        self.location = location
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        place = ""
        if self.source and self.location:
            place = f"{self.source}: at {self.location}: "
        elif self.source:
            place = f"{self.source}: "
        elif self.location:
            place = f"at {self.location}: "
        return f"{place}{self.message}"

    def located(self, *, source: str | None = None, prefix: str | None = None) -> DefinitionError:
        """Return a copy of this error placed in a file and/or under a parent location."""
        location = self.location
        if prefix:
            location = f"{prefix}.{location}" if location else prefix
        return type(self)(self.message, location=location, source=source or self.source)


class SegmentError(DefinitionError):
    """A segment definition cannot be compiled: unknown column, wrong operator or value."""


class SqlSegmentError(SegmentError):
    """A SQL segment is not one read-only SELECT returning only the customer key."""


class CampaignError(DefinitionError):
    """A campaign definition is invalid: percentages, names, segments, destinations."""


class NotFoundError(HeraldError):
    """A named object (segment, campaign, run, list) does not exist."""


class StateError(HeraldError):
    """The state store refused an operation (wrong lifecycle step, concurrent change)."""


# --- engines --------------------------------------------------------------------------------


class EngineError(HeraldError):
    """The SQL engine failed to run a query or to read its catalog."""


class UnsupportedFeatureError(EngineError):
    """The engine cannot do what was asked (a capability it lacks)."""


# --- delivery -------------------------------------------------------------------------------


class SyncError(HeraldError):
    """Delivery to a destination failed."""


class FatalSyncError(SyncError):
    """Retrying will not help: bad credentials, missing scope, a cap reached."""


class RetriableSyncError(SyncError):
    """A transient failure (429, 5xx, timeout, reset): the same request may succeed later."""


class SkippableRecordError(SyncError):
    """One record was rejected; the rest of the batch can go on."""


# --- files ----------------------------------------------------------------------------------


class WriteError(HeraldError):
    """A file or folder Herald writes cannot be written: no permission, a read-only file
    system, a full disk. Nothing half-written is left under the file's name.

    Attributes:
        path: the file or folder that could not be written.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)
