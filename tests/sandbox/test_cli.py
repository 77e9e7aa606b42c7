"""``herald sandbox klaviyo``."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
from click.testing import CliRunner

from herald.cli.sandbox import sandbox


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(sandbox, ["klaviyo", "-h"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--limits", "--faults", "--seed", "--api-key", "--bounce"):
        assert option in result.output


def test_bad_options_are_refused() -> None:
    runner = CliRunner()
    bad_limits = runner.invoke(sandbox, ["klaviyo", "--limits", "fast"])
    assert bad_limits.exit_code == 2
    assert "--limits" in bad_limits.output
    bad_faults = runner.invoke(sandbox, ["klaviyo", "--faults", "meteor=0.1"])
    assert bad_faults.exit_code == 2
    assert "unknown fault 'meteor'" in bad_faults.output
    bad_key = runner.invoke(sandbox, ["klaviyo", "--scoped-key", "pk_only"])
    assert bad_key.exit_code == 2
    assert "KEY=SCOPE" in bad_key.output


def test_serves_and_masks_the_key() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = "pk_my_private_key_1234567890"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "herald.cli.sandbox",
            "klaviyo",
            "--port",
            str(port),
            "--api-key",
            key,
            "--limits",
            "10",
            "--log-level",
            "warning",
            "--scoped-key",
            "pk_read_only_key_0000000=lists:read",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        headers = {"Authorization": f"Klaviyo-API-Key {key}", "revision": "2026-07-15"}
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/lists", headers=headers)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the CLI sandbox did not start"
                time.sleep(0.05)
        assert r.status_code == 200
        assert r.headers["RateLimit-Limit"] == "7500"  # get_lists 750/m x 10
        reader = {
            **headers,
            "Authorization": "Klaviyo-API-Key pk_read_only_key_0000000",
            "content-type": "application/vnd.api+json",
        }
        url = f"http://127.0.0.1:{port}/api/lists"
        assert httpx.get(url, headers=reader).status_code == 200
        new = {"data": {"type": "list", "attributes": {"name": "n"}}}
        assert httpx.post(url, headers=reader, json=new).status_code == 403
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    assert "pk_m…7890 (+1 scoped)" in output
    assert key not in output
