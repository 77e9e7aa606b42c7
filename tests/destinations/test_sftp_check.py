"""``herald destination check`` of the SFTP types against a real OpenSSH server: a working one,
then each way it can be wrong, each said in one line with what to do (and the offered host
key's fingerprint when it is not the trusted one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sftp_server import OpenSshServer, fingerprint

from herald.cli.main import main
from herald.workspace import Workspace


def workspace(tmp_path: Path, server: OpenSshServer, **changes: Any) -> Path:
    """A workspace whose destination ``import`` is Klaviyo's SFTP import on ``server``."""
    root = tmp_path / "ws"
    Workspace.init(root).close()
    settings = server.settings(**{"folder": "/profiles", **changes})
    table = "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())
    with (root / "herald.toml").open("a", encoding="utf-8") as config:
        config.write(f'\n[destinations.import]\ntype = "klaviyo_sftp"\n{table}')
    return root


def check(root: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["--workspace", str(root), "destination", "check", "import", *extra]
    )
    return result.exit_code, result.output


def test_a_working_server_passes_and_nothing_is_left_there(
    tmp_path: Path, sftp_server: OpenSshServer
) -> None:
    code, output = check(workspace(tmp_path, sftp_server))
    assert code == 0, output
    assert f"host key {sftp_server.host_fingerprint()} verified" in output
    assert "/profiles is writable" in output
    assert list(sftp_server.path("/profiles").iterdir()) == []  # the probe is removed


def test_a_changed_host_key_is_refused_showing_the_key_offered(
    tmp_path: Path, sftp_server: OpenSshServer
) -> None:
    trusted = fingerprint(Path(f"{sftp_server.keys.other_host}.pub"))
    code, output = check(workspace(tmp_path, sftp_server, host_key_fingerprint=trusted))
    assert code == 1
    assert "the host key changed" in output
    assert sftp_server.host_fingerprint() in output  # what the server offered, to trust it
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"folder": "/nowhere"}, "no such folder /nowhere on the server"),
        ({"folder": "/"}, "the account may not write in /"),
        ({"port": 1}, "connection refused: check the host and port"),
        ({"host": "no-such-host.invalid"}, "no-such-host.invalid"),
    ],
)
def test_each_problem_is_one_line_with_its_fix(
    tmp_path: Path, sftp_server: OpenSshServer, changes: dict[str, Any], says: str
) -> None:
    code, output = check(workspace(tmp_path, sftp_server, **changes))
    assert code == 1, output
    assert says in output
    assert output.count("\n") <= 3, output


def test_a_key_the_server_does_not_know_is_refused(
    tmp_path: Path, sftp_server: OpenSshServer
) -> None:
    stranger = str(sftp_server.keys.stranger)
    code, output = check(workspace(tmp_path, sftp_server, private_key_file=stranger), "--json")
    assert code == 1
    found = json.loads(output)
    assert found["ok"] is False
    assert found["reason"] == "auth"
    assert "add that public key to the account on the server" in found["detail"]
