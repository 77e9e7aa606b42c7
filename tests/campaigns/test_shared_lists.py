"""Two campaigns may not send to the same list or file of one destination, and `campaign
validate` refuses exactly what `apply` refuses (one validation path).

``Collide Sale`` and ``Collide_Sale`` both make the list ``Collide_Sale_Offer``; if both
were stored, each run of one would remove the other's members.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import one_error_line
from click.testing import CliRunner, Result

from herald.cli.main import main
from herald.workspace import Workspace

CAMPAIGN = """\
kind: campaign
name: {name}
include: [Email Opted In]
remaining:
  groups:
    - name: {group}
      percent: 100
      destinations: [{destination}]
"""


def write(folder: Path, file: str, name: str, group: str = "Offer", to: str = "klaviyo") -> Path:
    path = folder / file
    path.write_text(CAMPAIGN.format(name=name, group=group, destination=to), encoding="utf-8")
    return path


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "200"})


def stored(ws_dir: Path) -> list[str]:
    with Workspace.open(ws_dir) as ws:
        return [c.name for c in ws.store.list("campaign")]


COLLISION = (
    "campaign 'Collide_Sale' group 'Offer' would send to list 'Collide_Sale_Offer' on "
    "destination 'klaviyo', which campaign 'Collide Sale' group 'Offer' already uses: rename one"
)


@pytest.mark.parametrize("command", [["campaign", "validate"], ["campaign", "apply"], ["apply"]])
def test_a_second_campaign_on_the_same_list_is_refused_naming_the_first(
    ws_dir: Path, tmp_path: Path, command: list[str]
) -> None:
    assert cli("apply", "-f", str(write(tmp_path, "first.yaml", "Collide Sale"))).exit_code == 0
    second = write(tmp_path, "second.yaml", "Collide_Sale")

    line = one_error_line(cli(*command, "-f", str(second)))

    assert COLLISION in line
    assert "second.yaml" in line
    assert stored(ws_dir) == ["Collide Sale"]


def test_names_that_differ_only_in_case_collide(ws_dir: Path, tmp_path: Path) -> None:
    assert cli("apply", "-f", str(write(tmp_path, "a.yaml", "Spring Sale"))).exit_code == 0

    line = one_error_line(cli("apply", "-f", str(write(tmp_path, "b.yaml", "spring sale"))))

    assert "list 'spring_sale_Offer'" in line
    assert "campaign 'Spring Sale' group 'Offer' already uses" in line


def test_two_colliding_campaigns_in_one_folder_write_nothing(ws_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    write(folder, "a.yaml", "Collide Sale")
    write(folder, "b.yaml", "Collide_Sale")

    line = one_error_line(cli("apply", "-f", str(folder)))

    assert COLLISION in line
    assert stored(ws_dir) == []


def test_a_file_destination_collides_too(ws_dir: Path, tmp_path: Path) -> None:
    assert cli("apply", "-f", str(write(tmp_path, "a.yaml", "X", "Y Z", to="files"))).exit_code == 0

    line = one_error_line(cli("apply", "-f", str(write(tmp_path, "b.yaml", "X Y", "Z", "files"))))

    assert "would send to file 'X_Y_Z' on destination 'files'" in line


def test_an_archived_campaign_still_holds_its_lists(ws_dir: Path, tmp_path: Path) -> None:
    assert cli("apply", "-f", str(write(tmp_path, "a.yaml", "Collide Sale"))).exit_code == 0
    with Workspace.open(ws_dir) as ws:
        ws.store.set_campaign_status("Collide Sale", "archived")

    line = one_error_line(cli("apply", "-f", str(write(tmp_path, "b.yaml", "Collide_Sale"))))

    assert COLLISION in line


def test_other_destinations_and_the_campaign_itself_do_not_collide(
    ws_dir: Path, tmp_path: Path
) -> None:
    assert cli("apply", "-f", str(write(tmp_path, "a.yaml", "Collide Sale"))).exit_code == 0
    # the same campaign changed (another group name) is not a collision with itself
    assert cli("apply", "-f", str(write(tmp_path, "a.yaml", "Collide Sale", "Deal"))).exit_code == 0
    # the old name is free again: 'Collide Sale' now sends to Collide_Sale_Deal
    result = cli("apply", "-f", str(write(tmp_path, "b.yaml", "Collide_Sale", to="files")))
    assert result.exit_code == 0, result.output
    assert stored(ws_dir) == ["Collide Sale", "Collide_Sale"]


@pytest.mark.parametrize(
    ("name", "expect"),
    [
        ("S" * 300, "campaign name is 300 characters long; the limit is 200"),
        ('"Sale\\u202eelaS"', "campaign name has an invisible formatting character (U+202E)"),
    ],
)
def test_validate_refuses_what_apply_refuses(
    ws_dir: Path, tmp_path: Path, name: str, expect: str
) -> None:
    path = write(tmp_path, "long.yaml", name)

    validated = one_error_line(cli("campaign", "validate", "-f", str(path)))
    applied = one_error_line(cli("campaign", "apply", "-f", str(path)))

    assert expect in validated
    assert validated == applied
    assert "at name" in validated
    assert stored(ws_dir) == []


def test_a_list_freed_and_taken_in_one_folder_applies(ws_dir: Path, tmp_path: Path) -> None:
    assert (
        cli("apply", "-f", str(write(tmp_path, "old.yaml", "Sale", "Spring Offer"))).exit_code == 0
    )
    folder = tmp_path / "batch"
    folder.mkdir()
    write(folder, "a.yaml", "Sale Spring", "Offer")  # takes Sale_Spring_Offer, listed first
    write(folder, "b.yaml", "Sale", "Autumn Offer")  # frees it

    result = cli("apply", "-f", str(folder))

    assert result.exit_code == 0, result.output
    assert stored(ws_dir) == ["Sale", "Sale Spring"]
