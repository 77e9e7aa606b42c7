"""`herald demo` runs its campaign against an in-process sandbox that validates every request
against Klaviyo's spec: the sandbox records no violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from herald.cli.main import main


def test_the_demo_campaign_breaks_no_rule_of_the_spec(
    tmp_path: Path, started_sandboxes: list[Any]
) -> None:
    before = list(started_sandboxes)
    result = CliRunner().invoke(
        main,
        ["demo", "--dir", str(tmp_path / "demo"), "--customers", "2000", "--sandbox-port", "0"],
    )
    assert result.exit_code == 0, result.output

    [sandbox] = [s for s in started_sandboxes if s not in before]
    assert sandbox.config.validate  # full-spec validation of every request body
    sent = {op for op, status in sandbox.state.request_counts() if status < 300}
    assert {"create_list", "bulk_import_profiles", "get_lists"} <= sent
    assert sandbox.violations() == []
