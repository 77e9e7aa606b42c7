"""Bad definitions are refused with a message that names the file, the place and the fix.

Every file in ``tests/fixtures/segments/bad/`` starts with two comment lines:

    # expect: <text the error message must contain>
    # at: <text the error's location must contain; "-" for a file-level error with no location>

Applying it must raise :class:`DefinitionError` and leave the state store byte-for-byte as it was.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from herald.apply import apply_path
from herald.cli.main import main
from herald.exceptions import DefinitionError
from herald.workspace import Workspace

BAD = Path(__file__).resolve().parents[1] / "fixtures" / "segments" / "bad"
BAD_FILES = sorted(BAD.glob("*.yaml"))

GOOD_ACTIVE = """\
name: Good Active
status: active
where:
  - attribute: Customer_360.state
    op: is exactly
    value: CA
"""
DRAFT_ONLY = """\
name: Draft Only
status: draft
where:
  - attribute: Customer_Attributes.is_opted_into_email
    op: is true
"""


def expectations(path: Path) -> tuple[str, str]:
    text = path.read_text(encoding="utf-8")
    expect = re.search(r"^# expect: (.+)$", text, re.MULTILINE)
    at = re.search(r"^# at: (.+)$", text, re.MULTILINE)
    assert expect, f"{path.name} needs '# expect:'"
    assert at, f"{path.name} needs '# expect:' and '# at:' comment lines"
    return expect.group(1).strip(), at.group(1).strip()


def snapshot(ws: Workspace) -> str:
    """Everything the store holds about segments, as text to compare exactly."""
    summaries = ws.store.list("segment")
    lines = [repr(s) for s in summaries]
    for summary in summaries:
        lines.extend(repr(v) for v in ws.store.versions("segment", summary.name))
    return "\n".join(lines)


@pytest.fixture
def seeded(workspace: Workspace, tmp_path: Path) -> Workspace:
    good = tmp_path / "good"
    good.mkdir()
    (good / "good-active.yaml").write_text(GOOD_ACTIVE, encoding="utf-8")
    (good / "draft-only.yaml").write_text(DRAFT_ONLY, encoding="utf-8")
    applied = apply_path(workspace, good)
    assert sorted((a.name, a.action) for a in applied) == [
        ("Draft Only", "created"),
        ("Good Active", "created"),
    ]
    return workspace


def test_the_corpus_is_large_enough() -> None:
    assert len(BAD_FILES) >= 25


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_bad_definition_is_refused_and_nothing_is_written(seeded: Workspace, path: Path) -> None:
    expect, at = expectations(path)
    before = snapshot(seeded)
    assert "Good Active" in before
    assert "Draft Only" in before

    with pytest.raises(DefinitionError) as caught:
        apply_path(seeded, path)

    error = caught.value
    message = str(error)
    assert expect in message
    assert path.name in message, f"the message does not name the file: {message}"
    if at == "-":
        assert error.location is None, error.location
    else:
        assert error.location is not None, message
        assert at in error.location, (error.location, message)
    assert "\n" not in message.strip(), f"an error is one line: {message!r}"
    assert snapshot(seeded) == before


def test_one_bad_file_in_a_folder_writes_none_of_the_others(
    seeded: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "a-new.yaml").write_text(
        "name: New One\nstatus: active\nwhere:\n  - segment: Good Active\n", encoding="utf-8"
    )
    (folder / "b-changed.yaml").write_text(
        GOOD_ACTIVE.replace("value: CA", "value: WA"), encoding="utf-8"
    )
    (folder / "c-activated.yaml").write_text(
        DRAFT_ONLY.replace("status: draft", "status: active"), encoding="utf-8"
    )
    shutil.copy(BAD / "unknown-column.yaml", folder / "d-bad.yaml")
    before = snapshot(seeded)

    with pytest.raises(DefinitionError, match=r"d-bad\.yaml"):
        apply_path(seeded, folder)
    assert snapshot(seeded) == before

    (folder / "d-bad.yaml").unlink()  # the rest was good: without the bad file it all applies
    applied = {a.name: a.action for a in apply_path(seeded, folder)}
    assert set(applied) == {"New One", "Good Active", "Draft Only"}
    assert snapshot(seeded) != before


# --- the grouped bad-input corpus, through the real CLI -------------------------------------
#
# Every bad input, whatever it is (a definition file in the corpus folder above, a file made
# below, or a broken workspace another item adds), must give exactly one line on stderr naming
# the thing and what to do, exit 1, print no traceback, and leave every table of the state
# database exactly as it was. Add a case by appending a `BadInput` to `CASES`.


@dataclass(frozen=True)
class BadInput:
    """One bad input: ``setup`` makes it (in the workspace or beside it) and returns the
    command line to run; the one error line must contain ``expect``."""

    id: str
    setup: Callable[[Path, Path], list[str]]
    expect: str


def _definition(name: str, content: bytes | str) -> Callable[[Path, Path], list[str]]:
    """A case whose input is one definition file ``name`` applied with ``herald apply -f``."""

    def setup(_root: Path, tmp: Path) -> list[str]:
        path = tmp / name
        data = content.encode("utf-8") if isinstance(content, str) else content
        path.write_bytes(data)
        return ["apply", "-f", str(path)]

    return setup


def _condition(value: str, attribute: str = "Customer_360.state", op: str = "is exactly") -> str:
    return f"name: Typed\nwhere:\n  - attribute: {attribute}\n    op: {op}\n    value: {value}\n"


_BOMB = (
    "name: Bomb\nwhere:\n  - attribute: Customer_360.state\n    op: in list\n"
    "    values: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"x{i}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(5))
)
_MANY = "name: Many\nwhere:\n  any:\n" + "".join(
    f"    - attribute: Customer_360.state\n      op: is exactly\n      value: S{i}\n"
    for i in range(1_001)
)
_DEEP = "name: Deep\nwhere:\n" + "".join(f"{'  ' * i}- any:\n" for i in range(70))


def _settings(
    append: str | bytes, args: list[str], *, key: str | None = None, state_url: str | None = None
) -> Callable[[Path, Path], list[str]]:
    """A case whose input is herald.toml with ``append`` added (or its state URL changed), and
    a key file beside it."""

    def setup(root: Path, tmp: Path) -> list[str]:
        config = root / "herald.toml"
        text = config.read_bytes()
        if state_url is not None:
            text = text.replace(b'"sqlite:///.herald/state.db"', f'"{state_url}"'.encode())
        extra = append.encode("utf-8") if isinstance(append, str) else append
        if key is not None:
            (tmp / "klaviyo.key").write_text(key, encoding="utf-8")
            extra = extra.replace(b"KEYFILE", str(tmp / "klaviyo.key").encode())
        config.write_bytes(text + extra)
        return args

    return setup


_KLAVIYO = '\n[destinations.klaviyo]\ntype = "klaviyo_api"\napi_key_file = "KEYFILE"\n'


CASES: list[BadInput] = [
    BadInput(
        "binary-file",
        _definition("logo.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"),
        "this is a binary file, not YAML or JSON text",
    ),
    BadInput(
        "not-utf8",
        _definition("latin1.yaml", "name: Café\nstatus: active\n".encode("latin-1")),
        "the file is not UTF-8 text (byte 0xe9 at offset 9); save it as UTF-8",
    ),
    BadInput(
        "self-referencing-alias",
        _definition("loop.yaml", "name: Loop\nwhere: &w\n  all:\n    - *w\n"),
        "the YAML alias to the anchor at line 2 refers to itself",
    ),
    BadInput(
        "unquoted-impossible-date",
        _definition("feb30.yaml", _condition("2026-02-30", "Customer_360.birthdate", "before")),
        "'2026-02-30' at line 5 is not a real calendar date",
    ),
    BadInput(
        "alias-bomb",
        _definition("bomb.yaml", _BOMB),
        "YAML aliases (anchor at line",
    ),
    BadInput(
        "duplicate-key",
        _definition("dup.yaml", "name: One\nstatus: active\nname: Two\n"),
        "duplicate key 'name' at line 3; keep only one",
    ),
    BadInput(
        "duplicate-key-in-condition",
        _definition("dupcond.yaml", _condition("CA\n    value: WA")),
        "duplicate key 'value' at line 6",
    ),
    BadInput(
        "file-too-large",
        _definition("huge.yaml", "name: Huge\n" + "# padding\n" * 110_000),
        "larger than 1,000,000 bytes, the most a definition file may be: split it into several",
    ),
    BadInput(
        "too-many-conditions",
        _definition("many.yaml", _MANY),
        "more than 1,000 conditions in one definition",
    ),
    BadInput(
        "nested-too-deep",
        _definition("deep.yaml", _DEEP),
        "nests deeper than 64 levels",
    ),
    BadInput(
        "json-nested-too-deep",
        _definition(
            "deep.json", '{"name": "Deep", "where": ' + "[" * 100_000 + "]" * 100_000 + "}"
        ),
        "nests too deeply",
    ),
    BadInput(
        "yaml-boolean-for-text",
        _definition("on.yaml", _condition("ON")),
        "got 'ON', which YAML read as a boolean; quote it: \"ON\"",
    ),
    BadInput(
        "yaml-octal-for-text",
        _definition(
            "octal.yaml", _condition("[01234, 98101]", op="in list").replace("value:", "values:")
        ),
        "got '01234', which YAML read as the number 668; quote it: \"01234\"",
    ),
    BadInput(
        "yaml-null-for-text",
        _definition("null.yaml", _condition("null")),
        "value 'null' was read as nothing; quote it: \"null\"",
    ),
    BadInput(
        "name-with-bidi-override",
        _definition("bidi.yaml", 'name: "Sale\\u202eelaS"\n'),
        "segment name has an invisible formatting character (U+202E) at character 5",
    ),
    BadInput(
        "name-too-long",
        _definition("long.yaml", f"name: {'N' * 300}\n"),
        "segment name is 300 characters long; the limit is 200",
    ),
    BadInput(
        "settings-not-utf8",
        _settings("\n# caf\xe9\n".encode("latin-1"), ["segment", "list"]),
        "herald.toml is not UTF-8 text: save it as UTF-8",
    ),
    BadInput(
        "state-url-with-two-slashes",
        _settings("", ["segment", "list"], state_url="sqlite://"),
        "is an in-memory database that forgets everything",
    ),
    BadInput(
        "key-with-a-zero-width-space",
        _settings(_KLAVIYO, ["destination", "check", "klaviyo"], key="pk_abc\u200bdef\n"),
        "has an invisible character (such as a zero-width space) inside",
    ),
    BadInput(
        "key-file-with-two-lines-is-read-as-its-first",
        _settings(_KLAVIYO, ["destination", "check", "klaviyo"], key="pk_a b\nsecond\n"),
        "has a space inside",
    ),
    *(
        BadInput(
            f"corpus-{path.stem}", _definition(path.name, path.read_bytes()), expectations(path)[0]
        )
        for path in BAD_FILES
    ),
]


def dump_state(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the state database, to compare exactly."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: sorted(
                    (tuple(row) for row in conn.execute(sa.text(f'SELECT * FROM "{table}"'))),
                    key=repr,
                )
                for table in sa.inspect(conn).get_table_names()
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_line_and_changes_nothing(
    seeded: Workspace, tmp_path: Path, case: BadInput
) -> None:
    args = case.setup(seeded.root, tmp_path)
    before = dump_state(seeded.state_url)

    result = CliRunner().invoke(
        main, args, env={"HERALD_WORKSPACE": str(seeded.root), "COLUMNS": "80"}
    )

    assert result.exit_code == 1, (result.output, result.exception)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert case.expect in lines[0], lines[0]
    if args[:1] == ["apply"]:
        assert Path(args[-1]).name in lines[0], "the message names the file"
    assert dump_state(seeded.state_url) == before
