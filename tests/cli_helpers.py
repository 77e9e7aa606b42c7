"""Helpers the CLI tests share (on the path through ``pythonpath`` in pyproject.toml)."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from herald.cli.main import main


def one_error_line(result: Result) -> str:
    """The one line a refused command printed: exit 1, ``Error: …`` on stderr, no traceback."""
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, OSError | AssertionError), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]


def run(*args: str) -> Result:
    """``herald ARGS`` in this process."""
    return CliRunner().invoke(main, list(args))


def ok(*args: str) -> str:
    """What a command that must succeed printed, stdout and stderr as a person sees them."""
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.output


def ok_stdout(*args: str) -> str:
    """What a command that must succeed printed on stdout alone (tables, JSON)."""
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def as_json(*args: str) -> Any:
    """The JSON document of ``herald ARGS --json`` (a run prints its progress events first,
    a line each, which are left out)."""
    lines = ok_stdout(*args, "--json").splitlines()
    return json.loads("\n".join(line for line in lines if not line.startswith('{"event"')))
