"""Log lines for services (``herald scheduler`` and its workers): plain or JSON, redacted.

Structured fields travel in a log record's ``herald`` attribute (``extra={"herald": {...}}``):
JSON lines carry them as keys, plain lines as ``key=value`` after the message. Everything is
redacted (`herald.redact`): never an email address, a phone number or a key.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from typing import Any

from herald.redact import install_log_redaction, redact, redact_data

JSON_ENV = "HERALD_JSON_LOGS"
"""Set to 1 when log lines are JSON; worker processes inherit it from the scheduler."""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **fields_of(record),
        }
        if record.exc_info:
            line["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """``2026-12-06 09:00:00 INFO run started campaign=Spring run_id=run_…``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        pairs = " ".join(f"{k}={v}" for k, v in fields_of(record).items() if k != "event")
        return f"{text} {pairs}" if pairs else text


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The record's structured fields, redacted."""
    found = getattr(record, "herald", None)
    return redact_data(dict(found)) if isinstance(found, dict) else {}


def configure_logging(*, json_lines: bool | None = None, level: int = logging.INFO) -> None:
    """Send Herald's log lines to standard error, as JSON or plain text, redacted.

    Args:
        json_lines: JSON lines; None reads ``HERALD_JSON_LOGS`` (set for worker processes).
    """
    if json_lines is None:
        json_lines = os.environ.get(JSON_ENV) == "1"
    install_log_redaction()
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is noise here
