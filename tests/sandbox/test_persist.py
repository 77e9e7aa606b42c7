"""A sandbox account kept in a file: ``herald sandbox klaviyo --state FILE`` and the demo's."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from ports import free_port

from herald.exceptions import ConfigError
from herald.sandbox import SandboxConfig, SandboxServer, persist


def _profile(email: str, phone: str | None = None) -> dict:
    attributes = {"email": email, "first_name": "Ada", "properties": {"tier": "gold"}}
    if phone:
        attributes["phone_number"] = phone
    return {"type": "profile", "attributes": attributes}


def _fill(server: SandboxServer) -> str:
    """A list with three imported profiles; returns the list's id."""
    with server.client() as http:
        made = http.post(
            "/api/lists", json={"data": {"type": "list", "attributes": {"name": "VIP"}}}
        )
        list_id = made.json()["data"]["id"]
        body = {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {
                    "profiles": {
                        "data": [
                            _profile("a@example.com", "+15005550006"),
                            _profile("b@example.com"),
                            _profile("c@example.com"),
                        ]
                    }
                },
                "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}},
            }
        }
        assert http.post("/api/profile-bulk-import-jobs", json=body).status_code == 202
    server.state.run_jobs()
    assert len(server.state.list_members(list_id)) == 3
    return list_id


def test_an_account_round_trips_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.json"
    with SandboxServer(SandboxConfig(limits="off", job_tick=None)) as first:
        list_id = _fill(first)
        persist.save(first.state, path)
        profiles = {p.id: (p.email, p.phone_number, p.attributes) for p in first.state.profiles()}

    with SandboxServer(SandboxConfig(limits="off", job_tick=None)) as second:
        assert persist.load(second.state, path)
        assert [k.name for k in second.state.lists()] == ["VIP"]
        assert second.state.list_members(list_id) == list(profiles)
        restored = {p.id: (p.email, p.phone_number, p.attributes) for p in second.state.profiles()}
        assert restored == profiles
        # The identity indexes came back too: the same email finds the same profile.
        found = second.state.find_profile(email="A@example.com")
        assert found is not None
        assert found.id in profiles
        # Ids made after the restart never repeat the ones made before it (same seed).
        with second.client() as http:
            made = http.post(
                "/api/lists", json={"data": {"type": "list", "attributes": {"name": "New"}}}
            )
        assert made.json()["data"]["id"] != list_id


def test_a_missing_file_starts_empty_and_a_bad_one_is_named(tmp_path: Path) -> None:
    with SandboxServer(SandboxConfig(limits="off")) as server:
        assert persist.load(server.state, tmp_path / "none.json") is False
        bad = tmp_path / "bad.json"
        bad.write_text('{"format": 1, "lists": "nope"}')
        with pytest.raises(ConfigError, match=r"bad\.json is not a sandbox state"):
            persist.load(server.state, bad)
        bad.write_text("not json")
        with pytest.raises(ConfigError, match="cannot read the sandbox state"):
            persist.load(server.state, bad)
        assert server.state.lists() == []


@contextmanager
def _cli_sandbox(port: int, state: Path) -> Iterator[str]:
    command = [sys.executable, "-m", "herald", "sandbox", "klaviyo", "--port", str(port),
               "--limits", "off", "--state", str(state), "--log-level", "warning"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as process:
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{url}/__sandbox__/state", timeout=2)
                    break
                except httpx.TransportError:
                    assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
            yield url
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) in (0, 130)  # 130: stopped by Ctrl-C


def test_the_cli_sandbox_writes_its_state_when_stopped_and_loads_it_when_started(
    tmp_path: Path,
) -> None:
    state, port = tmp_path / "klaviyo.json", free_port()
    headers = SandboxServer().headers()
    create = {"data": {"type": "list", "attributes": {"name": "Kept"}}}

    with _cli_sandbox(port, state) as url:
        made = httpx.post(f"{url}/api/lists", json=create, headers=headers)
        assert made.status_code == 201
    saved = json.loads(state.read_bytes())
    assert [k["name"] for k in saved["lists"]] == ["Kept"]

    with _cli_sandbox(port, state) as url:
        lists = httpx.get(f"{url}/__sandbox__/lists").json()
    assert [k["name"] for k in lists] == ["Kept"]
