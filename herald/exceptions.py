"""Every error Herald raises, in one hierarchy grouped by how to recover.

Messages name the thing (segment, table, column, run) and say what to do next. They never
contain an email address, a phone number or an API key.
"""

from __future__ import annotations

from typing import Protocol


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


class Problem(Protocol):
    """What went wrong with one request, scrubbed of personal data: what a
    :class:`KlaviyoRequestError` carries.

    Klaviyo's is ``herald.destinations.klaviyo_api._errors.ApiProblem``; a protocol keeps this
    module free of destination imports.

    Attributes:
        operation: the operation id, such as ``create_list``.
        status: the HTTP status (0 when no response came).
        code: the service's error code (``throttled``, ``invalid``, …), or "".
        title: the service's error title.
        detail: the service's detail with emails and phone numbers replaced.
        where: the part of the request at fault (``/data/attributes/email``), or "".
        retry_after: the seconds to wait that the service asked for, or None.
    """

    @property
    def operation(self) -> str: ...

    @property
    def status(self) -> int: ...

    @property
    def code(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def detail(self) -> str: ...

    @property
    def where(self) -> str: ...

    @property
    def retry_after(self) -> float | None: ...

    def describe(self) -> str:
        """One line such as ``HTTP 400 invalid: 'name' is a required field.``."""
        ...


class KlaviyoRequestError(SyncError):
    """A request to Klaviyo failed, with the problem document it answered, as httpx's errors
    carry their ``request``.

    Every one is either a :class:`FatalKlaviyoRequestError` or a
    :class:`RetriableKlaviyoRequestError`: catch ``FatalSyncError`` or ``RetriableSyncError``
    to act on how to recover, and this class to read what Klaviyo said.

    Attributes:
        problem: the status, Klaviyo's error code and detail, and the operation, scrubbed.
    """

    def __init__(self, message: str, *, problem: Problem) -> None:
        self.problem = problem
        super().__init__(message)


class FatalKlaviyoRequestError(KlaviyoRequestError, FatalSyncError):
    """Klaviyo refused the request (4xx, a daily cap): sending it again will not help."""


class RetriableKlaviyoRequestError(KlaviyoRequestError, RetriableSyncError):
    """Klaviyo throttled the request, failed (5xx) or did not answer: it may succeed later."""


class SftpError(SyncError):
    """An SFTP server could not be reached, refused Herald, or failed a transfer.

    Every one is either a :class:`FatalSftpError` or a :class:`RetriableSftpError`: catch
    ``FatalSyncError`` or ``RetriableSyncError`` to act on how to recover, and this class to
    read what went wrong.

    Attributes:
        reason: what went wrong, for code: ``dns``, ``refused``, ``timeout``, ``network``,
            ``protocol``, ``host_key_unknown``, ``host_key_changed``, ``auth``,
            ``permission``, ``no_folder``, ``dropped``, ``size_mismatch``, ``failed`` or
            ``stopped``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class FatalSftpError(SftpError, FatalSyncError):
    """The server refused (host key, key, permission, folder): trying again will not help."""


class RetriableSftpError(SftpError, RetriableSyncError):
    """The server did not answer, the connection dropped, or the upload was stopped: the same
    transfer may succeed later."""


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
