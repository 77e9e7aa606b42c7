"""Messages about values YAML typed quote what the author wrote, on every campaign command."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from herald.cli.main import main

CAMPAIGN = """\
kind: campaign
name: Typed Values
include: [Email Opted In]
remaining:
  groups:
    - name: Offer
      percent: {percent}
      control: {control}
"""


@pytest.mark.parametrize("command", [["campaign", "validate"], ["campaign", "apply"], ["apply"]])
@pytest.mark.parametrize(
    ("percent", "control", "expect"),
    [
        ("ON", "true", "percent must be a number, got 'ON', which YAML read as a boolean"),
        ("100", "null", "expected true or false, got 'null', which YAML read as nothing"),
    ],
)
def test_a_typed_value_is_quoted_as_written(
    ws_dir: Path, tmp_path: Path, command: list[str], percent: str, control: str, expect: str
) -> None:
    path = tmp_path / "typed.yaml"
    path.write_text(CAMPAIGN.format(percent=percent, control=control), encoding="utf-8")

    result = CliRunner().invoke(main, [*command, "-f", str(path)], env={"COLUMNS": "200"})

    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert expect in lines[0]
    assert "True" not in lines[0]
    assert "None" not in lines[0]


SEGMENT = """\
name: Typed Segment
where:
  - attribute: Customer_360.state
    op: is exactly
    value: ON
"""


@pytest.mark.parametrize("command", [["segment", "create"], ["apply"]])
def test_a_typed_segment_value_is_quoted_as_written(
    ws_dir: Path, tmp_path: Path, command: list[str]
) -> None:
    path = tmp_path / "typed.yaml"
    path.write_text(SEGMENT, encoding="utf-8")

    result = CliRunner().invoke(main, [*command, "-f", str(path)], env={"COLUMNS": "200"})

    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "got 'ON', which YAML read as a boolean" in lines[0]
    assert "True" not in lines[0]


def test_an_unquoted_time_is_quoted_as_written(ws_dir: Path, tmp_path: Path) -> None:
    """YAML 1.1 reads 9:30 as the number 570 (base 60); the message shows what was written."""
    path = tmp_path / "daily.yaml"
    text = CAMPAIGN.format(percent=100, control="true")
    path.write_text(
        text + "delivery:\n  schedule: recurring\n  cadence: daily\n  time: 9:30\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(main, ["campaign", "validate", "-f", str(path)])

    assert result.exit_code == 1, result.output
    assert (
        "at delivery.time: time must be \"HH:MM\" (24-hour, quoted), got '9:30', which YAML "
        "read as the number 570" in " ".join(result.stderr.split())
    )
