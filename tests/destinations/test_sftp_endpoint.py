"""The SFTP endpoint settings: what herald.toml may say, and the one-line refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from herald.destinations import registry
from herald.destinations.base import Destination
from herald.destinations.settings import DestinationSettings
from herald.destinations.ssh.endpoint import SftpEndpoint, normalise_fingerprint
from herald.exceptions import ConfigError

PRINT = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"


def endpoint(**changes: Any) -> SftpEndpoint:
    values: dict[str, Any] = {
        "host": "sftp.example.com",
        "username": "acme",
        "private_key_file": "keys/id_ed25519",
        "host_key_fingerprint": PRINT,
    }
    values.update(changes)
    return SftpEndpoint.model_validate({k: v for k, v in values.items() if v is not None})


def problem(**changes: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        endpoint(**changes)
    error = caught.value.errors()[0]
    message = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
    assert "\n" not in message
    return message


def test_defaults() -> None:
    found = endpoint()
    assert (found.port, found.retries, found.address) == (22, 5, "sftp.example.com:22")


def test_a_host_key_is_required_and_the_error_names_both_ways() -> None:
    message = problem(host_key_fingerprint=None)
    assert "known_hosts" in message
    assert "host_key_fingerprint" in message


def test_only_one_way_to_know_the_host_key() -> None:
    assert "not both" in problem(known_hosts="~/.ssh/known_hosts")


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"private_key_file": None}, 'private_key_file = "PATH" or private_key_env'),
        ({"private_key_env": "SFTP_KEY"}, "not both"),
        ({"private_key_file": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl"}, "looks like a key"),
        ({"private_key_file": None, "private_key_env": "b3BlbnNzaC1rZXktdjEAAAAABG5v"}, "key"),
        ({"passphrase_env": "my passphrase"}, "passphrase_env must name an environment variable"),
        ({"port": 0}, "greater than or equal to 1"),
        ({"host": "sftp://sftp.example.com"}, "bare host name"),
        ({"host": "acme@sftp.example.com"}, "put the user in username"),
        ({"username": " "}, "user name"),
        ({"host_key_fingerprint": "SHA256:tooshort"}, "SHA256 fingerprint"),
        ({"host_key_fingerprint": "16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48"}, "MD5"),
        ({"hostkey": PRINT}, "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_are_refused_in_one_line(changes: dict[str, Any], says: str) -> None:
    assert says in problem(**changes)


def test_fingerprints_are_written_as_openssh_prints_them() -> None:
    assert normalise_fingerprint(f"  {PRINT}=") == PRINT
    assert endpoint(host_key_fingerprint=f"{PRINT}=").host_key_fingerprint == PRINT
    with pytest.raises(ValueError, match="SHA256 fingerprint"):
        normalise_fingerprint("SHA256:" + "!" * 43)


def test_relative_files_are_resolved_against_the_workspace(tmp_path: Path) -> None:
    found = endpoint(known_hosts="known_hosts", host_key_fingerprint=None).resolved(tmp_path)
    assert found.private_key_file == str(tmp_path / "keys" / "id_ed25519")
    assert found.known_hosts == str(tmp_path / "known_hosts")
    absolute = endpoint(private_key_file="/etc/herald/key").resolved(tmp_path)
    assert absolute.private_key_file == "/etc/herald/key"


def test_a_destination_settings_model_can_extend_it() -> None:
    class SftpSettings(DestinationSettings, SftpEndpoint):
        folder: str = "/profiles"

    settings = SftpSettings.model_validate(
        {"type": "sftp", "host": "h", "username": "u", "private_key_env": "K", "known_hosts": "k"}
    )
    assert (settings.type, settings.folder, settings.port) == ("sftp", "/profiles", 22)
    with pytest.raises(ValidationError, match="host_key_fingerprint"):
        SftpSettings.model_validate(
            {"type": "sftp", "host": "h", "username": "u", "private_key_env": "K"}
        )


def test_herald_toml_may_pin_a_fingerprint_but_not_hold_a_key() -> None:
    class SftpSettings(DestinationSettings, SftpEndpoint):
        pass

    class SftpDestination(Destination):
        type = "test_sftp_endpoint"
        settings_model = SftpSettings

    registry.register("test_sftp_endpoint", SftpDestination)
    table = {"type": "test_sftp_endpoint", "host": "h", "username": "u", "private_key_env": "K"}
    try:
        parsed = registry.parse_destination("s", {**table, "host_key_fingerprint": PRINT})
        assert isinstance(parsed, SftpEndpoint)
        assert parsed.host_key_fingerprint == PRINT
        with pytest.raises(ConfigError, match="'private_key' written in the file"):
            registry.parse_destination("s", {**table, "private_key": "-----BEGIN"})
    finally:
        registry._known().pop("test_sftp_endpoint")
