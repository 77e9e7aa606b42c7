"""The ``herald`` group: every error line, --debug traceback and log record it shows goes
through the one redactor (``herald.redact``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import herald.cli
from herald.cli.main import SUBCOMMANDS, load_command, main

EMAIL = "ann.lee@example.com"
PHONE = "+1 206 555 0100"
# A date attribute given an email and a phone: the error quotes the value.
SEGMENT = f"""\
name: Quoted
where:
  any:
    - attribute: Customer_360.birthdate
      op: is
      value: "{EMAIL}"
    - attribute: Customer_360.birthdate
      op: is
      value: "{PHONE}"
"""


@pytest.fixture
def ws(tmp_path: Path, demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ws"
    result = CliRunner().invoke(main, ["init", str(root), "--database", str(demo_db)])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("HERALD_WORKSPACE", str(root))
    (tmp_path / "quoted.yaml").write_text(SEGMENT, encoding="utf-8")
    return root


def python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, cwd=cwd, env=dict(os.environ), timeout=120, check=False,
    )  # fmt: skip


def test_the_error_line_is_redacted(ws: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["apply", "-f", str(tmp_path / "quoted.yaml")])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ")
    assert "[email]" in result.stderr
    assert EMAIL not in result.stderr


def test_a_debug_traceback_is_redacted(ws: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from herald.cli.main import main; sys.argv[0] = 'herald'; "
        f"main(['--debug', 'apply', '-f', {str(tmp_path / 'quoted.yaml')!r}])"
    )
    done = python(code, tmp_path)
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "DefinitionError" in done.stderr or "SegmentError" in done.stderr
    assert "[email]" in done.stderr
    assert EMAIL not in done.stderr


LOG_AFTER = (
    "\nimport logging, sys\n"
    "logging.basicConfig(stream=sys.stderr, format='%(message)s')\n"
    "logging.getLogger('herald.test').warning('member %s, phone %s', "
    f"{EMAIL!r}, {PHONE!r})\n"
)


@pytest.mark.parametrize(
    "setup",
    [
        # the CLI, whatever command ran
        "from herald.cli.main import main\n"
        "try:\n    main(['destination', 'list'])\nexcept SystemExit:\n    pass\n",
        # the Klaviyo client, used as a library
        "from herald.destinations.klaviyo_api import KlaviyoClient, KlaviyoSettings\n"
        "KlaviyoClient(KlaviyoSettings(name='k', api_key='pk_test_0123456789abcdef',"
        " base_url='http://127.0.0.1:9'))\n",
    ],
    ids=["cli", "klaviyo-client"],
)
def test_log_records_are_redacted_once_herald_runs(tmp_path: Path, setup: str) -> None:
    done = python(setup + LOG_AFTER, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "member [email], phone [phone]" in done.stderr
    assert EMAIL not in done.stderr


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_herald_help_lists_each_subcommand_as_its_own_help_does(name: str) -> None:
    # `herald --help` lists the summaries without importing the subcommands: each must give
    # the short help the command's docstring gives, at every terminal width.
    command = load_command(name)
    listed = click.Command(name, help=SUBCOMMANDS[name].summary)
    assert command.name == name
    for limit in range(10, 200):
        assert listed.get_short_help_str(limit) == command.get_short_help_str(limit)


def test_every_subcommand_module_is_registered() -> None:
    folder = Path(herald.cli.__file__).parent
    modules = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")} - {"main"}
    assert {s.target.split(":")[0].rsplit(".", 1)[1] for s in SUBCOMMANDS.values()} == modules
