"""The SFTP sandbox's import: each finished profile CSV is checked (``sftp_csv``) and its rows
sent to a running Klaviyo sandbox through Klaviyo's API, as bulk profile import jobs.

One worker thread takes the files in the order they were finished, so the SFTP sessions never
wait for an import. The requests follow Klaviyo's spec (the Klaviyo sandbox validates each):
``POST /api/profile-bulk-import-jobs`` with at most 10,000 profiles and under 5 MB per job,
added to one list when ``KlaviyoTarget.list_id`` is set; each job polled until it ends; its
import errors read and mapped back to rows through their ``source.pointer``. A 429 waits out
``Retry-After``; a 5xx or a dropped connection is retried with backoff.

The outcome is written beside the file as ``NAME.result.json`` (row numbers and reasons,
never a value from the file) and logged in one line.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson

from herald.atomic import atomic_file
from herald.exceptions import FatalSyncError, HeraldError, RetriableSyncError, SyncError
from herald.redact import redact
from herald.sandbox.config import DEFAULT_API_KEY
from herald.sandbox.sftp_csv import Checked, CsvProblemError, Rejected, check_file, profiles
from herald.sandbox.spec import revision

logger = logging.getLogger("herald.sandbox.sftp")

#: Profiles per bulk import job (Klaviyo's limit).
MAX_JOB_PROFILES = 10_000
#: Bytes of a job's body, under Klaviyo's 5 MB with room for the JSON:API envelope.
MAX_JOB_BYTES = 4_500_000
#: 429 answers one request may wait out before it counts as failed.
MAX_THROTTLED = 30
JOBS_PATH = "/api/profile-bulk-import-jobs"
_POINTER = re.compile(r"^/data/attributes/profiles/data/(\d+)")
_ENDED = {"complete", "cancelled"}

Status = Literal["imported", "rejected", "failed", "checked"]


@dataclass(frozen=True)
class KlaviyoTarget:
    """Where the SFTP sandbox imports profiles: a Klaviyo sandbox's API.

    Attributes:
        url: the base URL, e.g. ``http://127.0.0.1:8700``.
        api_key: a private key the sandbox accepts (its well-known one by default).
        list_id: a list to add every imported profile to, or None.
        timeout: seconds to wait for any one answer.
        job_timeout: seconds to wait for one import job to end.
        attempts: tries of each request before the file fails (429, 5xx, no answer).
    """

    url: str
    api_key: str = field(default=DEFAULT_API_KEY, repr=False)
    list_id: str | None = None
    timeout: float = 30.0
    job_timeout: float = 600.0
    attempts: int = 6


@dataclass
class ImportResult:
    """What became of one uploaded file (written as ``NAME.result.json``).

    Attributes:
        file: the file's path on the SFTP server, e.g. ``profiles/vip.csv``.
        status: ``imported`` (rows sent; some may be rejected), ``rejected`` (the file failed
            its checks: nothing sent), ``failed`` (Klaviyo could not be reached or refused
            the jobs) or ``checked`` (checked only: no Klaviyo to import into).
        rows: data rows in the file.
        imported: profiles Klaviyo imported.
        rejected: rows not imported, with their numbers (the header is row 1) and reasons.
        error: why the file was rejected or failed.
        list_id: the list the profiles were added to.
        jobs: the bulk import job ids.
        seconds: how long the check and import took.
    """

    file: str
    status: Status
    rows: int = 0
    imported: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    error: str | None = None
    list_id: str | None = None
    jobs: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON document (what the result file holds)."""
        return asdict(self)

    def summary(self) -> str:
        """One line for the log, without any value from the file."""
        if self.status in ("rejected", "failed"):
            return f"{self.file}: {self.status}: {self.error}"
        return (
            f"{self.file}: {self.rows:,} rows, {self.imported:,} imported, "
            f"{len(self.rejected):,} rejected ({self.status}, {self.seconds:.1f} s)"
        )


def result_path(path: Path) -> Path:
    """Where the result of the file at ``path`` is written: beside it."""
    return path.with_name(f"{path.name}.result.json")


# --- the Klaviyo API ------------------------------------------------------------------------


class _Api:
    """The few calls the import makes, with Klaviyo's retry rules."""

    def __init__(self, target: KlaviyoTarget) -> None:
        self.target = target
        headers = {
            "Authorization": f"Klaviyo-API-Key {target.api_key}",
            "revision": revision(),
            "accept": "application/vnd.api+json",
            "content-type": "application/vnd.api+json",
        }
        self.http = httpx.Client(base_url=target.url, headers=headers, timeout=target.timeout)

    def close(self) -> None:
        self.http.close()

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """Send one request; the decoded answer.

        A 429 waits out ``Retry-After`` and does not count as a failed attempt (up to
        ``MAX_THROTTLED`` of them): Klaviyo asks for exactly that wait.

        Raises:
            FatalSyncError: Klaviyo refused it (a 4xx other than 429).
            RetriableSyncError: it still failed after every attempt.
        """
        failures = throttled = 0
        delay = 0.5
        while True:
            try:
                response = self.http.request(method, path, content=body, params=params)
            except httpx.TransportError as exc:
                problem = f"no answer from {self.target.url} ({type(exc).__name__})"
            else:
                if response.status_code < 400:
                    return orjson.loads(response.content) if response.content else {}
                problem = _problem(response)
                if response.status_code == 429 and throttled < MAX_THROTTLED:
                    throttled += 1
                    time.sleep(_retry_after(response, delay))
                    continue
                if response.status_code < 500 and response.status_code != 429:
                    raise FatalSyncError(problem)
            failures += 1
            if failures >= self.target.attempts:
                raise RetriableSyncError(problem)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)

    def start_job(self, batch: list[bytes]) -> str:
        """``POST /api/profile-bulk-import-jobs``: the new job's id."""
        doc = self.call("POST", JOBS_PATH, job_body(batch, self.target.list_id))
        return str(doc["data"]["id"])

    def wait_job(self, job_id: str) -> dict[str, Any]:
        """Poll a job until it ends; its attributes.

        Raises:
            RetriableSyncError: it did not end within ``job_timeout``.
        """
        deadline = time.monotonic() + self.target.job_timeout
        delay = 0.05
        while True:
            attrs: dict[str, Any] = self.call("GET", f"{JOBS_PATH}/{job_id}")["data"]["attributes"]
            if attrs["status"] in _ENDED:
                return attrs
            if time.monotonic() > deadline:
                msg = f"import job {job_id} did not end within {self.target.job_timeout:.0f} s"
                raise RetriableSyncError(msg)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def import_errors(self, job_id: str) -> Iterator[dict[str, Any]]:
        """Every import error of a job, page after page."""
        path: str | None = f"{JOBS_PATH}/{job_id}/import-errors"
        params = {"page[size]": "100"}
        while path:
            doc = self.call("GET", path, params=params)
            yield from (item.get("attributes") or {} for item in doc.get("data") or [])
            link = (doc.get("links") or {}).get("next")
            # Only the path and query are kept: the base URL (with the key) stays ours.
            following = httpx.URL(str(link)) if link else None
            path = following.path if following else None
            params = dict(following.params) if following else {}


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After") or default), 0.0), 60.0)
    except ValueError:
        return default


def _problem(response: httpx.Response) -> str:
    try:
        error = orjson.loads(response.content)["errors"][0]
        detail = f"{error.get('title', '')} {error.get('detail', '')}".strip()
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        detail = response.reason_phrase
    return redact(f"Klaviyo answered {response.status_code}: {detail}")


def job_body(batch: list[bytes], list_id: str | None) -> bytes:
    """A bulk import job's body, in the spec's JSON:API shape, from profiles' attributes
    already encoded as JSON objects.

    >>> job_body([b'{"email":"a@x.io"}'], None)
    b'{"data":{"type":"profile-bulk-import-job","attributes":{"profiles":{"data":[{"type":"profile","attributes":{"email":"a@x.io"}}]}}}}'
    """
    items = b",".join(b'{"type":"profile","attributes":%s}' % p for p in batch)
    data = b'{"type":"profile-bulk-import-job","attributes":{"profiles":{"data":[%s]}}' % items
    if list_id is not None:
        lists = orjson.dumps({"lists": {"data": [{"type": "list", "id": list_id}]}})
        data += b',"relationships":' + lists
    return b'{"data":' + data + b"}}"


def batches(rows: Iterator[tuple[int, dict[str, Any]]]) -> Iterator[tuple[list[int], list[bytes]]]:
    """(row numbers, encoded profiles) in groups that fit one import job."""
    numbers: list[int] = []
    encoded: list[bytes] = []
    size = 0
    for number, attributes in rows:
        item = orjson.dumps(attributes)
        if encoded and (len(encoded) == MAX_JOB_PROFILES or size + len(item) > MAX_JOB_BYTES):
            yield numbers, encoded
            numbers, encoded, size = [], [], 0
        numbers.append(number)
        encoded.append(item)
        size += len(item) + 40  # the profile's envelope, {"type":"profile","attributes":…}
    if encoded:
        yield numbers, encoded


# --- one file -------------------------------------------------------------------------------


def import_file(path: Path, name: str, target: KlaviyoTarget | None) -> ImportResult:
    """Check one CSV and import its rows into ``target`` (only check it when None).

    Args:
        path: the file on disk.
        name: its path on the SFTP server, for the result and the log.
        target: the Klaviyo sandbox to import into.
    """
    started = time.monotonic()
    result = ImportResult(name, "checked", list_id=target.list_id if target else None)
    try:
        checked = check_file(path)
        result.rows, result.rejected = checked.rows, list(checked.rejected)
        if target is not None:
            result.status = "imported"
            _send(path, checked, target, result)
    except CsvProblemError as exc:
        result.status, result.error = "rejected", str(exc)
    except (SyncError, OSError) as exc:
        result.status, result.error = "failed", redact(str(exc))
    result.rejected.sort(key=lambda r: (r.row is None, r.row or 0))
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _send(path: Path, checked: Checked, target: KlaviyoTarget, result: ImportResult) -> None:
    api = _Api(target)
    try:
        sent = [
            (numbers, api.start_job(batch)) for numbers, batch in batches(profiles(path, checked))
        ]
        for numbers, job_id in sent:
            result.jobs.append(job_id)
            attrs = api.wait_job(job_id)
            result.imported += int(attrs.get("completed_count") or 0)
            if attrs["status"] == "cancelled":
                result.rejected += [Rejected(n, "the import job was cancelled") for n in numbers]
            elif attrs.get("failed_count"):
                result.rejected += [_rejected(e, numbers) for e in api.import_errors(job_id)]
    finally:
        api.close()


def _rejected(error: dict[str, Any], numbers: list[int]) -> Rejected:
    pointer = str((error.get("source") or {}).get("pointer") or "")
    found = _POINTER.match(pointer)
    index = int(found.group(1)) if found else -1
    row = numbers[index] if 0 <= index < len(numbers) else None
    return Rejected(row, redact(str(error.get("detail") or error.get("title") or "rejected")))


def write_result(path: Path, result: ImportResult) -> None:
    """Write ``NAME.result.json`` beside the file, whole or not at all."""
    with atomic_file(result_path(path), "wb", encoding=None) as handle:
        handle.write(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2))


# --- the worker -----------------------------------------------------------------------------


class Importer:
    """A thread that checks and imports finished files one at a time, in order.

    Args:
        target: the Klaviyo sandbox to import into; None only checks the files.
    """

    def __init__(self, target: KlaviyoTarget | None) -> None:
        self.target = target
        self.results: list[ImportResult] = []
        self._queue: queue.Queue[tuple[Path, str] | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._work, name="herald-sftp-import", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Let the worker finish the file it is on (and those queued before the stop, within
        ``timeout``), then end it."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def submit(self, path: Path, name: str) -> None:
        """Queue a finished file (``name`` is its path on the SFTP server)."""
        with self._idle:
            self._pending += 1
        self._queue.put((path, name))

    def wait(self, timeout: float = 60.0) -> list[ImportResult]:
        """Wait until every file submitted so far has its result; all the results so far.

        Raises:
            TimeoutError: files are still being imported after ``timeout`` seconds.
        """
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout):
                msg = f"{self._pending} uploaded file(s) still importing after {timeout} s"
                raise TimeoutError(msg)
            return list(self.results)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._one(*item)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _one(self, path: Path, name: str) -> None:
        if not path.is_file():
            logger.info("%s: gone before it was imported", name)
            return
        result = import_file(path, name, self.target)
        try:
            write_result(path, result)
        except HeraldError as exc:  # a full disk, a folder removed under the server
            logger.warning("%s: cannot write its result: %s", name, exc)
        with self._idle:
            self.results.append(result)
        logger.info("%s", result.summary())
