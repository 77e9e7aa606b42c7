"""Bad definitions are refused with a message that names the file, the place and the fix.

Every file in ``tests/fixtures/segments/bad/`` starts with two comment lines:

    # expect: <text the error message must contain>
    # at: <text the error's location must contain; "-" for a file-level error with no location>

Applying it must raise :class:`DefinitionError` and leave the state store byte-for-byte as it was.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from herald.apply import apply_path
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
