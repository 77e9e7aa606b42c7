"""`herald apply -f` on a bad file: one line on stderr starting ``Error:``, no traceback, exit 1.

With ``--debug`` the library error propagates instead, with its traceback.
"""

# ruff: noqa: E501 - table-like SQL schemas and YAML snippets
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from herald.cli.main import main
from herald.exceptions import DefinitionError
from herald.workspace import Workspace

BAD = Path(__file__).resolve().parents[1] / "fixtures" / "segments" / "bad"

# file → text the one error line must contain (the file name is always checked too)
CASES = {
    "unknown-column.yaml": "Did you mean 'email'?",
    "sql-dml.yaml": "DELETE is not allowed",
    "yaml-does-not-parse.yaml": "cannot parse",
    "cycle.yaml": "cycle",
}


def invoke(workspace: Workspace, *args: str) -> object:
    runner = CliRunner()
    return runner.invoke(
        main, [*args], env={"HERALD_WORKSPACE": str(workspace.root), "COLUMNS": "80"}
    )


@pytest.mark.parametrize("name", list(CASES))
def test_bad_file_gives_one_error_line(workspace: Workspace, name: str) -> None:
    result = invoke(workspace, "apply", "-f", str(BAD / name))
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert name in lines[0]
    assert CASES[name] in lines[0]
    assert "Traceback" not in result.stderr


def test_message_with_square_brackets_is_printed_as_is(
    workspace: Workspace, tmp_path: Path
) -> None:
    # user text in a message must not be read as Rich markup
    bad = tmp_path / "brackets.yaml"
    bad.write_text(
        'name: Brackets\nwhere:\n  - attribute: Customer_360.birthdate\n    op: is\n    value: "[/bold] [red]x"\n',
        encoding="utf-8",
    )
    result = invoke(workspace, "apply", "-f", str(bad))
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "'[/bold] [red]x' is not a date" in lines[0]


def test_debug_raises_the_library_error(workspace: Workspace) -> None:
    result = invoke(workspace, "--debug", "apply", "-f", str(BAD / "unknown-column.yaml"))
    assert result.exit_code != 0
    assert isinstance(result.exception, DefinitionError)
    assert "Did you mean 'email'?" in str(result.exception)
    assert not result.stderr.startswith("Error:")


def test_good_file_applies(workspace: Workspace, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "name: Californians\nstatus: active\nwhere:\n  - attribute: state\n    op: is exactly\n    value: CA\n",
        encoding="utf-8",
    )
    result = invoke(workspace, "apply", "-f", str(good))
    assert result.exit_code == 0, result.output
    assert "Californians" in result.stdout
    assert result.stderr == ""


def test_edit_in_the_editor_reads_yaml_as_apply_does(workspace: Workspace, tmp_path: Path) -> None:
    # The editor's text goes through the same bounded, strict loader as `apply -f`: a key
    # given twice is one line, not "last one wins".
    good = tmp_path / "good.yaml"
    good.write_text(
        "name: Editable\nwhere:\n  - attribute: state\n    op: is exactly\n    value: CA\n",
        encoding="utf-8",
    )
    assert invoke(workspace, "apply", "-f", str(good)).exit_code == 0
    edited = tmp_path / "edited.yaml"
    edited.write_text(
        "name: Editable\nwhere:\n  - attribute: state\n    op: is exactly\n    value: CA\n    value: OR\n",
        encoding="utf-8",
    )
    editor = tmp_path / "editor.sh"
    editor.write_text(f'#!/bin/sh\ncp "{edited}" "$1"\n', encoding="utf-8")
    editor.chmod(0o755)
    result = CliRunner().invoke(
        main,
        ["segment", "edit", "Editable"],
        env={"HERALD_WORKSPACE": str(workspace.root), "EDITOR": str(editor), "VISUAL": ""},
    )
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "duplicate key 'value'" in lines[0]
