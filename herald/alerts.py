"""Run notifications: a webhook and/or a command told when a run fails, succeeds or is slow.

Configured in herald.toml's ``[notifications]`` table (:class:`herald.config.NotificationSettings`).
:func:`notify` sends one :class:`RunNotice` to every channel set and never raises: a channel
that fails is logged as one redacted line and reported in its :class:`Sent`.

**The notice** is one JSON object, the same for both channels::

    {"event": "failure", "summary": "Herald: campaign 'Winback' run run_… failed after 3m12s …",
     "run_id": "run_…", "campaign": "Winback", "status": "error", "trigger": "schedule",
     "started_at": "2026-12-06T03:00:00+00:00", "finished_at": "2026-12-06T03:03:12+00:00",
     "seconds": 192.0, "estimate_seconds": 150.0, "reason": null,
     "errors": {"klaviyo": "HTTP 400 …"}, "counts": {"recipients": 1200, …},
     "herald_version": "0.1.0"}

Every string in it passes through :func:`herald.redact.redact`: it never holds an email
address, a phone number, an API key or a registered secret.

**The webhook** is a ``POST`` of that JSON with the headers ``Content-Type:
application/json``, ``User-Agent: herald/<version>``, ``X-Herald-Event``, ``X-Herald-Delivery``
(one id for all attempts of a notice, to drop duplicates), ``X-Herald-Timestamp`` (unix
seconds) and, when a secret is set, ``X-Herald-Signature: sha256=<hex>``: the HMAC-SHA256,
keyed with the secret, of ``<timestamp>.<raw body>``. A receiver verifies it so::

    import hashlib, hmac, time

    def verify(secret: bytes, headers, body: bytes, tolerance: int = 300) -> bool:
        stamp = headers["X-Herald-Timestamp"]
        expected = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        given = headers.get("X-Herald-Signature", "").removeprefix("sha256=")
        fresh = abs(time.time() - int(stamp)) <= tolerance
        return fresh and hmac.compare_digest(expected, given)

Any 2xx is delivered. A connection error, a timeout, a 429 or a 5xx is retried up to
``retries`` times with jittered exponential backoff (a 429's ``Retry-After`` is waited out
when it is at most 30 s); any other status is final, and redirects are not followed. Each
attempt waits at most ``timeout`` seconds to connect and for each read, and all waits between
attempts together at most 60 s, so a dead or silent receiver costs at most
``(retries + 1) × timeout + 60`` seconds.

**The command** runs without a shell, the notice as JSON on its standard input and
``HERALD_EVENT``, ``HERALD_RUN_ID``, ``HERALD_CAMPAIGN``, ``HERALD_STATUS`` in its environment.
It is killed (with its process group) after ``timeout`` seconds; a non-zero exit is a failure.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import random
import signal
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import httpx

from herald._version import __version__
from herald.config import CommandSettings, Event, NotificationSettings, WebhookSettings
from herald.core.dates import format_span, retry_after_seconds
from herald.destinations.settings import secret_from
from herald.exceptions import ConfigError
from herald.redact import (
    error_line,
    install_log_redaction,
    redact,
    redact_data,
    register_secret,
)

__all__ = [
    "Backoff",
    "RunNotice",
    "Sent",
    "check_notifications",
    "notify",
    "payload",
    "run_command",
    "send_webhook",
    "slow_reason",
]

log = logging.getLogger(__name__)

MAX_WAITING = 60.0
"""Seconds a webhook may spend waiting between attempts, all retries together."""


@dataclass(frozen=True)
class RunNotice:
    """What happened to a run, as announced.

    Attributes:
        event: ``failure`` (the run ended in error), ``success`` or ``slow`` (still running).
        run_id: the run.
        campaign: the campaign's name.
        status: the run's status, such as ``error``, ``delivered`` or ``running``.
        trigger: what started it: ``schedule``, ``manual``, ``retry``.
        started_at: when it started (timezone-aware).
        finished_at: when it ended; None while running.
        seconds: how long it ran (so far).
        estimate_seconds: how long it was estimated to take, if known.
        errors: destination name → what went wrong (redacted again when sent).
        counts: the run's figures (recipients, lists …), JSON-like.
        reason: why a run is slow (:func:`slow_reason`), or any other remark.
    """

    event: Event
    run_id: str
    campaign: str
    status: str
    trigger: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    seconds: float
    estimate_seconds: float | None = None
    errors: dict[str, str] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True)
class Sent:
    """What became of a notice on one channel.

    Attributes:
        channel: ``webhook`` or ``command``.
        target: the webhook's origin (scheme, host and port: a hook's path is often its
            credential) or the command's program.
        ok: delivered (a 2xx; the command exited 0).
        attempts: requests made, or 1 for a command (0 when nothing could be tried).
        status: the last HTTP status or the command's exit status, if any.
        error: why it failed, one redacted line; None when ``ok``.
    """

    channel: Literal["webhook", "command"]
    target: str
    ok: bool
    attempts: int = 1
    status: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Backoff:
    """How long a webhook waits before a retry.

    Attributes:
        base: the first backoff bound (seconds); the n-th retry waits uniformly in
            ``[0, min(cap, base * 2**(n-1))]`` ("full jitter").
        cap: the largest backoff bound.
        max_retry_after: a 429's ``Retry-After`` up to this is waited out; a longer one ends
            the retries.
        max_waiting: all waits of one notice together at most this.
        rng: the random source; seed it in tests.
    """

    base: float = 1.0
    cap: float = 10.0
    max_retry_after: float = 30.0
    max_waiting: float = MAX_WAITING
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, retry: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry number ``retry`` (1 for the first), or None when a
        ``Retry-After`` asks for longer than ``max_retry_after``."""
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            return retry_after + self.rng.uniform(0.0, min(1.0, 0.1 + retry_after * 0.1))
        return self.rng.uniform(0.0, min(self.cap, self.base * 2 ** (retry - 1)))


# --- the notice -------------------------------------------------------------------------------


def payload(notice: RunNotice) -> dict[str, Any]:
    """The JSON object sent for ``notice``, every string redacted.

    Values of ``counts`` that JSON has no type for (dates, decimals) are sent as text.
    """
    data = {
        "event": notice.event,
        "summary": _summary(notice),
        "run_id": notice.run_id,
        "campaign": notice.campaign,
        "status": notice.status,
        "trigger": notice.trigger,
        "started_at": notice.started_at.isoformat(),
        "finished_at": notice.finished_at.isoformat() if notice.finished_at else None,
        "seconds": round(notice.seconds, 3),
        "estimate_seconds": notice.estimate_seconds,
        "reason": notice.reason,
        "errors": dict(notice.errors),
        "counts": dict(notice.counts),
        "herald_version": __version__,
    }
    # Through JSON first, so what `default=str` turns into text is redacted too.
    plain: dict[str, Any] = redact_data(json.loads(json.dumps(data, default=str)))
    return plain


def _summary(notice: RunNotice) -> str:
    """One line for people (and chat webhooks that show a ``summary``-like field)."""
    head = f"Herald: campaign '{notice.campaign}' run {notice.run_id}"
    took = format_span(notice.seconds)
    if notice.event == "slow":
        return f"{head} is slow: {notice.reason or f'running for {took}'}"
    if notice.event == "success":
        return f"{head} finished ({notice.status}) in {took}"
    errors = "; ".join(f"{name}: {text}" for name, text in notice.errors.items())
    return f"{head} failed ({notice.status}) after {took}" + (f": {errors}" if errors else "")


def slow_reason(
    settings: NotificationSettings, *, seconds: float, estimate_seconds: float | None
) -> str | None:
    """Why a run that has taken ``seconds`` so far is slow, or None when it is not (or when
    ``slow`` is not among the events announced).

    Args:
        settings: the ``[notifications]`` settings: ``slow_after`` and ``slow_factor``.
        seconds: how long the run has taken so far.
        estimate_seconds: its estimate, if known; ``slow_factor`` needs it.
    """
    if "slow" not in settings.on:
        return None
    took = format_span(seconds)
    after = settings.slow_after
    if after is not None and seconds > after.total_seconds():
        return f"running for {took}, longer than slow_after ({format_span(after.total_seconds())})"
    factor = settings.slow_factor
    if factor is not None and estimate_seconds and seconds > estimate_seconds * factor:
        estimate = format_span(estimate_seconds)
        return f"running for {took}, more than {factor:g} × its estimate ({estimate})"
    return None


# --- sending ----------------------------------------------------------------------------------


def notify(
    settings: NotificationSettings, notice: RunNotice, *, backoff: Backoff | None = None
) -> list[Sent]:
    """Send ``notice`` to the webhook and the command of ``settings``, when its event is one
    of ``settings.on``. Never raises: each failure is logged (one redacted warning) and
    reported in its :class:`Sent`.

    Args:
        settings: the ``[notifications]`` settings.
        notice: what happened.
        backoff: the webhook's retry waits; the default for production.

    Returns:
        One :class:`Sent` per channel tried: none when the event is not announced or no
        channel is set.
    """
    if notice.event not in settings.on:
        return []
    channels = _channels(settings, notice, backoff)
    try:
        body = json.dumps(payload(notice), separators=(",", ":"), ensure_ascii=False).encode()
    except Exception as error:  # a notice that cannot be encoded is reported, not raised
        problem = f"the notice could not be encoded: {error_line(error)}"
        sent = [Sent(channel, target, False, 0, None, problem) for channel, target, _ in channels]
    else:
        sent = [
            _guarded(channel, target, partial(send, body)) for channel, target, send in channels
        ]
    for one in sent:
        _log(notice, one)
    return sent


def _channels(
    settings: NotificationSettings, notice: RunNotice, backoff: Backoff | None
) -> list[tuple[Literal["webhook", "command"], str, Callable[[bytes], Sent]]]:
    """(channel, target, how to send a body) for each channel set."""
    channels: list[tuple[Literal["webhook", "command"], str, Callable[[bytes], Sent]]] = []
    if (hook := settings.webhook) is not None:
        send_hook = partial(send_webhook, hook, event=notice.event, backoff=backoff)
        channels.append(("webhook", _origin(hook.url), send_hook))
    if (cmd := settings.command) is not None:
        channels.append(("command", cmd.argv[0], partial(run_command, cmd, notice=notice)))
    return channels


def check_notifications(settings: NotificationSettings) -> None:
    """Check what :func:`notify` needs beyond herald.toml's shape: that the webhook's secret
    can be read. For a service to call when it starts, rather than learn it at the first
    failure.

    Raises:
        ConfigError: one line naming the setting, never the secret.
    """
    if settings.webhook is not None:
        _webhook_secret(settings.webhook)


def _guarded(channel: Literal["webhook", "command"], target: str, send: Callable[[], Sent]) -> Sent:
    try:
        return send()
    except Exception as error:  # notify never raises: an alert must not break a run
        return Sent(channel, target, False, 0, None, error_line(error))


def _log(notice: RunNotice, sent: Sent) -> None:
    what = f"{notice.event} notice for run {notice.run_id} ({sent.channel} {sent.target})"
    if sent.ok:
        log.info("notifications: sent the %s", what)
    else:
        log.warning("notifications: could not send the %s: %s", what, redact(sent.error or "?"))


# --- the webhook ------------------------------------------------------------------------------


def send_webhook(
    hook: WebhookSettings,
    body: bytes,
    *,
    event: str,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Sent:
    """POST ``body`` to the webhook, signed when it has a secret, retried as the module says.

    Returns:
        The outcome; errors (the secret unreadable included) are reported, not raised.
    """
    backoff = backoff or Backoff()
    target = _origin(hook.url)
    # A hook's URL is often its credential (a token in the path): httpx logs it per request.
    register_secret(hook.url)
    install_log_redaction()
    try:
        secret = _webhook_secret(hook)
    except ConfigError as error:
        return Sent("webhook", target, False, 0, None, error_line(error))
    delivery, waited, attempt = uuid.uuid4().hex, 0.0, 0
    with httpx.Client(timeout=hook.timeout, follow_redirects=False) as client:
        while True:
            attempt += 1
            headers = _headers(body, event, delivery, secret)
            status, problem, retry_after = _post(client, hook.url, body, headers)
            if problem is None:
                return Sent("webhook", target, True, attempt, status)
            wait = _retry_wait(status, attempt, hook.retries, retry_after, backoff)
            if wait is None or waited + wait > backoff.max_waiting:
                if status == 429 and retry_after is not None and wait is None:
                    problem += f" (Retry-After {retry_after:g}s, longer than Herald waits)"
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                return Sent(
                    "webhook",
                    target,
                    False,
                    attempt,
                    status,
                    f"webhook to {target} failed{tries}: {problem}",
                )
            waited += wait
            sleep(wait)


def _post(
    client: httpx.Client, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int | None, str | None, float | None]:
    """(status, what went wrong or None when delivered, Retry-After seconds)."""
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as error:
        return None, error_line(error), None
    status = response.status_code
    if response.is_success:
        return status, None, None
    problem = f"HTTP {status} {response.reason_phrase}".strip()
    if response.is_redirect:
        problem += " (redirects are not followed: set url to the address it redirects to)"
    return status, problem, _retry_after(response.headers.get("retry-after"))


def _retry_wait(
    status: int | None, attempt: int, retries: int, retry_after: float | None, backoff: Backoff
) -> float | None:
    """Seconds to wait before the next attempt, or None when there is none."""
    retriable = status is None or status == 429 or status >= 500
    if not retriable or attempt > retries:
        return None
    return backoff.delay(attempt, retry_after if status == 429 else None)


def _headers(body: bytes, event: str, delivery: str, secret: str | None) -> dict[str, str]:
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"herald/{__version__}",
        "X-Herald-Event": event,
        "X-Herald-Delivery": delivery,
        "X-Herald-Timestamp": stamp,
    }
    if secret is not None:
        digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        headers["X-Herald-Signature"] = f"sha256={digest.hexdigest()}"
    return headers


def _webhook_secret(hook: WebhookSettings) -> str | None:
    if not hook.secret_env and not hook.secret_file:
        return None
    return secret_from(
        hook.secret_env, hook.secret_file, key="secret", owner="[notifications.webhook]"
    )


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds, from a number or an HTTP date; None when absent or bad."""
    return retry_after_seconds(value, dt.datetime.now(dt.UTC))


def _origin(url: str) -> str:
    """``https://host:port``: a hook's path and query are often its credential."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


# --- the command ------------------------------------------------------------------------------


def run_command(cmd: CommandSettings, body: bytes, *, notice: RunNotice) -> Sent:
    """Run the command with ``body`` on its standard input, killed after its timeout.

    Returns:
        The outcome: a non-zero exit, a timeout or a program that cannot start is an error
        naming the program and the last line it wrote to its standard error (redacted).
    """
    program = cmd.argv[0]
    env = {**os.environ, **_command_env(notice)}
    try:
        process = subprocess.Popen(
            cmd.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group, so a timeout kills its children
        )
    except OSError as error:
        problem = f"command {program} could not start: {error.strerror or error_line(error)}"
        return Sent("command", program, False, 0, None, problem)
    with process:
        try:
            _, err = process.communicate(body, timeout=cmd.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            problem = f"command {program} was killed after its timeout ({cmd.timeout:g}s)"
            return Sent("command", program, False, 1, None, problem)
    if process.returncode == 0:
        return Sent("command", program, True, 1, 0)
    return Sent(
        "command",
        program,
        False,
        1,
        process.returncode,
        _exit_problem(program, process.returncode, err),
    )


def _command_env(notice: RunNotice) -> Mapping[str, str]:
    return {
        "HERALD_EVENT": notice.event,
        "HERALD_RUN_ID": notice.run_id,
        "HERALD_CAMPAIGN": notice.campaign,
        "HERALD_STATUS": notice.status,
    }


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended in the meantime
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()  # a child escaped the group and holds the pipe: leave it
        process.wait()


def _exit_problem(program: str, code: int, stderr: bytes) -> str:
    said = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    last = f": {' '.join(redact(said[-1]).split())[:300]}" if said else ""
    if code < 0:
        return f"command {program} was killed by signal {-code}{last}"
    return f"command {program} exited with status {code}{last}"
