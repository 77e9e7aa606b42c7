"""A run that cannot write its files ends ``error`` with one line, and leaves no half file.

Real file systems, not mocks: a read-only ``.herald/runs`` and a full disk under the exports
folder are real tmpfs mounts (root only; as root, a chmod 0555 folder stays writable). A
user who is not root gets a chmod 0555 folder for the read-only case and a skip for the
full disk, except in CI (``CI=true``), where a missing mount fails the test.
"""

from __future__ import annotations

import csv
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cli_helpers import as_json, one_error_line, run

from herald.atomic import atomic_file, atomic_path
from herald.exceptions import WriteError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "campaigns"
NAME = "Files Offer"


@pytest.fixture
def workspace(ws_dir: Path) -> Path:
    """A workspace with a campaign sent to the CSV files only (folder ``exports``)."""
    text = (FIXTURES / "opt-in-offer.yaml").read_text(encoding="utf-8")
    text = text.replace("name: Opt-In Offer", f"name: {NAME}")
    text = text.replace("destinations: [files, klaviyo]", "destinations: [files]")
    (ws_dir / "files-offer.yaml").write_text(text, encoding="utf-8")
    assert run("campaign", "apply", "-f", str(ws_dir / "files-offer.yaml")).exit_code == 0
    return ws_dir


def can_mount() -> bool:
    """Whether this process may mount a tmpfs; in CI it must."""
    if os.geteuid() == 0:
        return True
    if os.environ.get("CI") == "true":
        pytest.fail("these tests mount a tmpfs, which needs root; run them as root in CI")
    return False


@contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` made read-only for real: a read-only tmpfs as root, chmod 0555 otherwise."""
    if can_mount():
        with tmpfs(folder, "ro,size=64k"):
            yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    try:
        yield
    finally:
        folder.chmod(0o755)


def every_file(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_a_read_only_runs_folder_ends_the_run_in_error_with_one_line(workspace: Path) -> None:
    runs = workspace / ".herald" / "runs"

    with read_only(runs):
        result = run("campaign", "run", NAME)
        assert every_file(runs) == []

    line = one_error_line(result)
    assert line.startswith(f"Error: cannot write '{runs}/run_")
    assert f"make '{runs}' writable" in line
    [run_] = as_json("campaign", "runs", NAME)
    assert run_["status"] == "error"  # not left running
    assert "writable" in run_["error"]
    assert as_json("campaign", "show", NAME)["status"] == "error"
    assert not (workspace / "exports").exists()
    # Once the folder is writable again, the campaign runs.
    assert run("campaign", "run", NAME).exit_code == 0


def test_a_full_disk_while_writing_delivery_files_ends_the_run_in_error(workspace: Path) -> None:
    if not can_mount():
        pytest.skip("a full disk is a small tmpfs, which needs root")
    exports = workspace / "exports"

    with tmpfs(exports, "size=12k"):  # the first group's file (~15 KB) does not fit
        result = run("campaign", "run", NAME)
        left = every_file(exports)

    line = one_error_line(result)
    assert line.startswith(f"Error: cannot write '{exports}/Files_Offer_")
    assert "the disk is full; free space on that disk" in line
    assert left == []  # neither a half file under its name nor a .partial
    [run_] = as_json("campaign", "runs", NAME)
    assert run_["status"] == "error"
    assert "the disk is full" in run_["error"]
    assert as_json("campaign", "show", NAME)["status"] == "error"


def test_a_full_disk_after_some_files_keeps_only_whole_files(workspace: Path) -> None:
    if not can_mount():
        pytest.skip("a full disk is a small tmpfs, which needs root")
    exports = workspace / "exports"

    with tmpfs(exports, "size=32k"):  # the first file fits, the second does not
        result = run("campaign", "run", NAME)
        left = every_file(exports)
        rows = {name: read_rows(exports / name) for name in left}

    assert "the disk is full" in one_error_line(result)
    assert len(left) == 1
    assert left[0].startswith("Files_Offer_Gold_Voucher_")
    counts = {c["group"]: c["recipients"] for c in as_json("campaign", "preview", NAME)["counts"]}
    assert len(rows[left[0]]) == counts["Gold Voucher"]  # whole, not cut short
    assert as_json("campaign", "runs", NAME)[0]["status"] == "error"


def test_a_full_disk_under_the_runs_folder_ends_the_run_in_error(workspace: Path) -> None:
    if not can_mount():
        pytest.skip("a full disk is a small tmpfs, which needs root")
    runs = workspace / ".herald" / "runs"

    with tmpfs(runs, "size=8k"):  # the run's folder fits, its recipients snapshot does not
        result = run("campaign", "run", NAME)
        left = every_file(runs)

    line = one_error_line(result)
    assert line.startswith(f"Error: cannot write '{runs}/run_")
    assert "recipients.parquet': the disk is full; free space on that disk" in line
    assert left == []  # no snapshot, whole or partial
    assert as_json("campaign", "runs", NAME)[0]["status"] == "error"
    assert as_json("campaign", "show", NAME)["status"] == "error"


# --- the helper itself -----------------------------------------------------------------------


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial(tmp_path: Path) -> None:
    target = tmp_path / "data.txt"
    target.write_text("old", encoding="utf-8")

    def write_half() -> None:
        with atomic_file(target) as out:
            out.write("half of the new")
            msg = "writer failed"
            raise RuntimeError(msg)

    with pytest.raises(RuntimeError, match="writer failed"):
        write_half()

    assert target.read_text(encoding="utf-8") == "old"
    assert every_file(tmp_path) == ["data.txt"]


def test_a_write_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "data.bin"

    with atomic_path(target) as partial:
        assert partial.parent == target.parent
        partial.write_bytes(b"new")
        assert not target.exists()

    assert target.read_bytes() == b"new"
    assert every_file(tmp_path) == ["deep/data.bin"]


def test_a_read_only_folder_is_one_line_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "locked"

    with read_only(folder), pytest.raises(WriteError) as caught, atomic_file(folder / "a" / "b"):
        pass

    assert str(caught.value).startswith(f"cannot write '{folder}/a/b': ")
    assert f"make '{folder}' writable" in str(caught.value)
    assert caught.value.path == str(folder / "a" / "b")
