"""The webhook, against a real HTTP server on loopback: what it sends, its signature checked
independently, its retries, and that it never raises, hangs or shows a secret."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alert_receiver import SECRET, Receiver

import herald.alerts
from herald.alerts import Backoff, RunNotice, check_notifications, notify, payload
from herald.config import CommandSettings, NotificationSettings, WebhookSettings
from herald.exceptions import ConfigError

EMAIL = "ann.lee@example.com"
PHONE = "+1 206 555 0100"


def settings(url: str, **hook: Any) -> NotificationSettings:
    return NotificationSettings(on=("failure", "success"), webhook=WebhookSettings(url=url, **hook))


def signed(monkeypatch: pytest.MonkeyPatch, url: str, **hook: Any) -> NotificationSettings:
    monkeypatch.setenv("TEST_HERALD_WEBHOOK_SECRET", SECRET)
    return settings(url, secret_env="TEST_HERALD_WEBHOOK_SECRET", **hook)


def signature_ok(headers: dict[str, str], body: bytes, secret: str = SECRET) -> bool:
    """The receiver's check, written from the documented scheme, not from Herald's code."""
    message = f"{headers['X-Herald-Timestamp']}.".encode() + body
    expected = "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("X-Herald-Signature", ""))


# --- what is sent -----------------------------------------------------------------------------


def test_a_failure_is_posted_as_signed_json(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, make_notice: Callable[..., RunNotice]
) -> None:
    before = int(time.time())
    [sent] = notify(signed(monkeypatch, receiver.url), make_notice())
    assert (sent.channel, sent.ok, sent.attempts, sent.status, sent.error) == (
        "webhook", True, 1, 204, None,
    )  # fmt: skip
    [request] = receiver.requests
    headers, body = request.headers, request.body
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"herald/{herald.__version__}"
    assert headers["X-Herald-Event"] == "failure"
    assert before <= int(headers["X-Herald-Timestamp"]) <= time.time() + 1
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", headers["X-Herald-Signature"])
    assert signature_ok(headers, body)
    assert not signature_ok(headers, body + b" ")
    assert not signature_ok(headers, body, secret=SECRET + "x")
    data = json.loads(body)
    assert data == payload(make_notice())
    assert data["event"] == "failure"
    assert data["run_id"] == "run_20261206T030000_a1b2c3"
    assert data["campaign"] == "CA Winback Offer"
    assert (data["status"], data["trigger"]) == ("error", "schedule")
    assert data["started_at"] == "2026-12-06T03:00:00+00:00"
    assert data["finished_at"] == "2026-12-06T03:03:12+00:00"
    assert (data["seconds"], data["estimate_seconds"]) == (192.0, 150.0)
    assert data["errors"] == {"klaviyo": "HTTP 400 invalid: bad list"}
    assert data["counts"] == {"recipients": 1200, "lists": {"CA_Winback_Offer_A": 600}}
    assert data["summary"].startswith("Herald: campaign 'CA Winback Offer' run run_2026")
    assert "failed (error) after 3m12s: klaviyo: HTTP 400" in data["summary"]


def test_the_documented_verification_snippet_accepts_herald_and_refuses_a_forgery(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, make_notice: Callable[..., RunNotice]
) -> None:
    snippet = herald.alerts.__doc__.split("A receiver verifies it so::", 1)[1]
    code = snippet.split("\n\n", 1)[1].split("\nAny 2xx", 1)[0]
    scope: dict[str, Any] = {}
    exec(compile(re.sub(r"(?m)^    ", "", code), "herald.alerts", "exec"), scope)
    notify(signed(monkeypatch, receiver.url), make_notice())
    [request] = receiver.requests
    assert scope["verify"](SECRET.encode(), request.headers, request.body)
    assert not scope["verify"](SECRET.encode(), request.headers, request.body[:-1] + b" ")
    stale = {**request.headers, "X-Herald-Timestamp": str(int(time.time()) - 3600)}
    assert not scope["verify"](SECRET.encode(), stale, request.body)


def test_no_secret_no_signature_header(
    receiver: Receiver, make_notice: Callable[..., RunNotice]
) -> None:
    [sent] = notify(settings(receiver.url), make_notice())
    assert sent.ok
    assert "X-Herald-Signature" not in receiver.requests[0].headers


def test_a_secret_file_signs_too(
    receiver: Receiver, tmp_path: Any, make_notice: Callable[..., RunNotice]
) -> None:
    path = tmp_path / "hook.secret"
    path.write_text(SECRET + "\n", encoding="utf-8")
    [sent] = notify(settings(receiver.url, secret_file=str(path)), make_notice())
    assert sent.ok
    assert signature_ok(receiver.requests[0].headers, receiver.requests[0].body)


def test_only_the_events_asked_for_are_sent(
    receiver: Receiver, make_notice: Callable[..., RunNotice]
) -> None:
    only_failures = NotificationSettings(webhook=WebhookSettings(url=receiver.url))
    assert notify(only_failures, make_notice(event="success", status="delivered")) == []
    assert notify(NotificationSettings(), make_notice()) == []
    assert receiver.requests == []
    [sent] = notify(only_failures, make_notice())
    assert sent.ok
    assert len(receiver.requests) == 1


def test_counts_json_has_no_type_for_are_sent_as_text(
    receiver: Receiver, make_notice: Callable[..., RunNotice]
) -> None:
    counts = {"as_of": dt.date(2026, 12, 6), "share": decimal.Decimal("0.25")}
    [sent] = notify(settings(receiver.url), make_notice(counts=counts))
    assert sent.ok
    assert json.loads(receiver.requests[0].body)["counts"] == {
        "as_of": "2026-12-06",
        "share": "0.25",
    }


# --- retries ----------------------------------------------------------------------------------


def test_5xx_are_retried_until_one_succeeds(
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    quick: Backoff,
    make_notice: Callable[..., RunNotice],
) -> None:
    receiver.statuses = [500, 503, 200]
    [sent] = notify(signed(monkeypatch, receiver.url, retries=3), make_notice(), backoff=quick)
    assert (sent.ok, sent.attempts, sent.status) == (True, 3, 200)
    assert len(receiver.requests) == 3
    assert len({r.headers["X-Herald-Delivery"] for r in receiver.requests}) == 1
    assert all(signature_ok(r.headers, r.body) for r in receiver.requests)


def test_retries_end_after_the_number_set(
    receiver: Receiver, quick: Backoff, make_notice: Callable[..., RunNotice]
) -> None:
    receiver.statuses = [502]
    [sent] = notify(settings(receiver.url, retries=2), make_notice(), backoff=quick)
    assert (sent.ok, sent.attempts, sent.status) == (False, 3, 502)
    assert (
        sent.error
        == f"webhook to {receiver.url[:22]} failed after 3 attempts: HTTP 502 Bad Gateway"
    )
    assert len(receiver.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_other_4xx_are_not_retried(
    receiver: Receiver, quick: Backoff, status: int, make_notice: Callable[..., RunNotice]
) -> None:
    receiver.statuses = [status, 200]
    [sent] = notify(settings(receiver.url, retries=3), make_notice(), backoff=quick)
    assert (sent.ok, sent.attempts, sent.status) == (False, 1, status)
    assert sent.error is not None
    assert f"HTTP {status}" in sent.error
    assert len(receiver.requests) == 1


def test_a_redirect_is_not_followed(
    receiver: Receiver, quick: Backoff, make_notice: Callable[..., RunNotice]
) -> None:
    receiver.statuses = [302]
    receiver.headers = {"Location": "http://127.0.0.1:9/elsewhere"}
    [sent] = notify(settings(receiver.url), make_notice(), backoff=quick)
    assert not sent.ok
    assert "redirects are not followed" in (sent.error or "")
    assert len(receiver.requests) == 1


def test_a_429_waits_out_a_short_retry_after(
    receiver: Receiver, quick: Backoff, make_notice: Callable[..., RunNotice]
) -> None:
    receiver.statuses = [429, 200]
    receiver.headers = {"Retry-After": "1"}
    [sent] = notify(settings(receiver.url), make_notice(), backoff=quick)
    assert (sent.ok, sent.attempts) == (True, 2)
    first, second = receiver.requests
    assert second.at - first.at >= 1.0


def test_a_429_with_a_long_retry_after_ends_at_once(
    receiver: Receiver, quick: Backoff, make_notice: Callable[..., RunNotice]
) -> None:
    receiver.statuses = [429]
    receiver.headers = {"Retry-After": "3600"}
    started = time.monotonic()
    [sent] = notify(settings(receiver.url), make_notice(), backoff=quick)
    assert (sent.ok, sent.attempts, sent.status) == (False, 1, 429)
    assert time.monotonic() - started < 2
    assert (sent.error or "").endswith(
        "HTTP 429 Too Many Requests (Retry-After 3600s, longer than Herald waits)"
    )


def test_backoff_grows_and_is_jittered() -> None:
    import random

    backoff = Backoff(base=1.0, cap=10.0, rng=random.Random(7))
    bounds = [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    waits = [backoff.delay(n, None) for n in range(1, 7)]
    assert all(w is not None and 0.0 <= w <= b for w, b in zip(waits, bounds, strict=True))
    assert len(set(waits)) == len(waits)
    assert backoff.delay(1, 31.0) is None
    wait = backoff.delay(1, 5.0)
    assert wait is not None
    assert 5.0 <= wait <= 5.6


# --- never raises, never hangs ----------------------------------------------------------------


def test_a_dead_port_is_reported_without_raising(
    dead_url: str, quick: Backoff, make_notice: Callable[..., RunNotice]
) -> None:
    started = time.monotonic()
    [sent] = notify(settings(dead_url, retries=2, timeout=1), make_notice(), backoff=quick)
    assert (sent.ok, sent.attempts, sent.status) == (False, 3, None)
    assert sent.error is not None
    assert "ConnectError" in sent.error
    assert time.monotonic() - started < 5


def test_a_receiver_that_never_answers_costs_at_most_its_timeouts(
    receiver: Receiver, quick: Backoff, make_notice: Callable[..., RunNotice]
) -> None:
    receiver.hang = 30.0
    started = time.monotonic()
    [sent] = notify(settings(receiver.url, retries=1, timeout=0.5), make_notice(), backoff=quick)
    took = time.monotonic() - started
    assert (sent.ok, sent.attempts) == (False, 2)
    assert "Timeout" in (sent.error or "")
    assert took < 0.5 * 2 + 1.5


def test_all_waits_together_are_bounded(
    receiver: Receiver, make_notice: Callable[..., RunNotice]
) -> None:
    receiver.statuses = [503]
    slow_backoff = Backoff(base=0.4, cap=0.4, max_waiting=0.5)
    started = time.monotonic()
    [sent] = notify(settings(receiver.url, retries=10), make_notice(), backoff=slow_backoff)
    assert not sent.ok
    assert sent.attempts < 11
    assert time.monotonic() - started < 2


def test_a_missing_secret_sends_nothing_and_says_which_variable(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, make_notice: Callable[..., RunNotice]
) -> None:
    monkeypatch.delenv("TEST_HERALD_NO_SUCH_SECRET", raising=False)
    hooked = settings(receiver.url, secret_env="TEST_HERALD_NO_SUCH_SECRET")
    [sent] = notify(hooked, make_notice())
    assert (sent.ok, sent.attempts) == (False, 0)
    assert sent.error == (
        "[notifications.webhook]: the environment variable TEST_HERALD_NO_SUCH_SECRET "
        "(secret) is not set"
    )
    assert receiver.requests == []
    with pytest.raises(ConfigError, match="TEST_HERALD_NO_SUCH_SECRET") as info:
        check_notifications(hooked)
    assert "\n" not in str(info.value)


def test_a_webhook_and_a_command_each_report(
    receiver: Receiver, dead_url: str, quick: Backoff, make_notice: Callable[..., RunNotice]
) -> None:
    both = NotificationSettings(
        webhook=WebhookSettings(url=dead_url, retries=0),
        command=CommandSettings(argv=["/nonexistent/herald-pager"]),
    )
    webhook, command = notify(both, make_notice(), backoff=quick)
    assert (webhook.channel, webhook.ok, command.channel, command.ok) == (
        "webhook", False, "command", False,
    )  # fmt: skip
    assert command.error == (
        "command /nonexistent/herald-pager could not start: No such file or directory"
    )


# --- nothing secret gets out ------------------------------------------------------------------


def test_no_secret_email_or_phone_in_the_body_the_log_or_the_error(
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    quick: Backoff,
    make_notice: Callable[..., RunNotice],
) -> None:
    hooked = signed(monkeypatch, receiver.url, retries=1)
    check_notifications(hooked)  # reads the secret, so the redactor knows it
    leaky = make_notice(
        campaign=f"Winback for {EMAIL}",
        errors={"klaviyo": f"HTTP 400 for {EMAIL} / {PHONE} with key {SECRET}"},
        counts={"note": f"call {PHONE}", "key": "pk_live_0123456789abcdefghij"},
    )
    receiver.statuses = [500]
    caplog.set_level(logging.DEBUG)
    [sent] = notify(hooked, leaky, backoff=quick)
    assert not sent.ok
    seen = [r.body.decode() for r in receiver.requests]
    seen += [json.dumps(r.headers) for r in receiver.requests]
    seen += [caplog.text, sent.error or "", repr(sent), json.dumps(payload(leaky))]
    for text in seen:
        for secret in (SECRET, EMAIL, PHONE, "pk_live_0123456789abcdefghij", "path-token"):
            assert secret not in text
    body = json.loads(receiver.requests[0].body)
    assert body["errors"] == {"klaviyo": "HTTP 400 for [email] / [phone] with key [secret]"}
    assert body["campaign"] == "Winback for [email]"
    assert "could not send the failure notice" in caplog.text
    assert len([r for r in caplog.records if r.name == "herald.alerts"]) == 1


def test_the_target_is_the_origin_not_the_hook_path(
    receiver: Receiver, dead_url: str, quick: Backoff, make_notice: Callable[..., RunNotice]
) -> None:
    [sent] = notify(settings(receiver.url), make_notice())
    assert sent.target == receiver.url.split("/hooks/")[0]
    assert receiver.requests[0].headers["Host"] in sent.target


def test_the_readme_verification_snippet_is_the_documented_one() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Alerts", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block
    documented = herald.alerts.__doc__.split("A receiver verifies it so::", 1)[1]
    documented = documented.split("\n\n", 1)[1].split("\nAny 2xx", 1)[0]
    assert block.group(1).strip() == re.sub(r"(?m)^    ", "", documented).strip()
