"""Klaviyo's error documents: problems scrubbed, errors typed by recovery, with their context."""

from __future__ import annotations

import pytest

from herald.destinations.klaviyo_api import _errors as E
from herald.destinations.klaviyo_api._protocol import decode
from herald.exceptions import (
    FatalKlaviyoRequestError,
    FatalSyncError,
    KlaviyoRequestError,
    RetriableKlaviyoRequestError,
    RetriableSyncError,
)


def _doc(status: int, code: str, detail: str) -> dict[str, object]:
    return {
        "errors": [
            {
                "id": "x",
                "status": status,
                "code": code,
                "title": "T.",
                "detail": detail,
                "source": {"pointer": "/data/attributes/email"},
            }
        ]
    }


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 415, 405, 410])
def test_client_errors_are_fatal(status: int) -> None:
    err = E.error_from_response(status, _doc(status, "invalid", "bad ann@x.io"), "create_list")
    assert isinstance(err, FatalSyncError)
    assert isinstance(err, FatalKlaviyoRequestError)
    assert "create_list" in str(err)
    assert f"HTTP {status}" in str(err)
    assert "ann@x.io" not in str(err)
    assert "[email]" in str(err)
    assert (err.problem.status, err.problem.code) == (status, "invalid")
    assert err.problem.where == "/data/attributes/email"
    assert "ann@x.io" not in err.problem.detail


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_throttling_and_server_errors_are_retriable(status: int) -> None:
    err = E.error_from_response(
        status, _doc(status, "throttled", "Expected available in 1 second."), "get_lists", 1.0
    )
    assert isinstance(err, RetriableSyncError)
    assert isinstance(err, RetriableKlaviyoRequestError)
    assert (err.problem.status, err.problem.code) == (status, "throttled")
    assert err.problem.retry_after == 1.0


def test_errors_say_what_to_do_next() -> None:
    assert "lists:write and profiles:write" in str(
        E.error_from_response(403, {}, "bulk_import_profiles")
    )
    assert "api_key_env" in str(
        E.error_from_response(
            401,
            _doc(401, "authentication_failed", "Incorrect authentication credentials."),
            "get_lists",
        )
    )
    # A proxy's HTML page is not JSON: the status alone still makes a clear message.
    assert "HTTP 502" in str(
        E.error_from_response(502, decode(b"<html>bad gateway</html>"), "get_lists")
    )


def test_retry_after() -> None:
    assert E.parse_retry_after("0") == 0.0
    assert E.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


def test_a_missing_scope_carries_its_problem_and_is_fatal() -> None:
    problem = E.ApiProblem("create_list", 403, "permission_denied", detail="No lists:write.")
    error = E.missing_scope("klaviyo", problem)
    assert isinstance(error, FatalKlaviyoRequestError)
    assert error.problem is problem


def test_the_two_kinds_are_caught_by_recovery_and_by_their_request() -> None:
    # ``except FatalSyncError`` and ``except RetriableSyncError`` still decide what to do;
    # ``except KlaviyoRequestError`` reads what Klaviyo said, whichever kind it is.
    assert issubclass(FatalKlaviyoRequestError, FatalSyncError)
    assert issubclass(RetriableKlaviyoRequestError, RetriableSyncError)
    assert not issubclass(FatalKlaviyoRequestError, RetriableSyncError)
    assert not issubclass(RetriableKlaviyoRequestError, FatalSyncError)
    for status in (404, 503):
        with pytest.raises(KlaviyoRequestError) as info:
            raise E.error_from_response(status, {}, "get_lists")
        assert info.value.problem.status == status
