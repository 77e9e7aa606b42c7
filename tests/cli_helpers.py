"""Helpers the CLI tests share (on the path through ``pythonpath`` in pyproject.toml)."""

from __future__ import annotations

from click.testing import Result


def one_error_line(result: Result) -> str:
    """The one line a refused command printed: exit 1, ``Error: …`` on stderr, no traceback."""
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, OSError | AssertionError), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]
