"""The command: a real program (a small Python script) gets the notice on stdin and in its
environment; a hung one is killed with its children; a failing one is reported."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from herald.alerts import RunNotice, notify, payload
from herald.config import CommandSettings, NotificationSettings

RECORD = """
import json, os, sys
notice = json.load(sys.stdin)
env = {k: v for k, v in os.environ.items() if k.startswith("HERALD_")}
with open(sys.argv[1], "w") as out:
    json.dump({"notice": notice, "env": env, "args": sys.argv[2:]}, out)
"""

HANG = """
import subprocess, sys, time
marker = sys.argv[1]
# A child in the same process group, as a shell script's commands would be.
subprocess.Popen([sys.executable, "-c",
                  f"import time; time.sleep(1.5); open({marker!r}, 'w').write('alive')"])
time.sleep(60)
"""

FAIL = """
import sys
sys.stdin.read()
print("paging failed for ann.lee@example.com", file=sys.stderr)
print("", file=sys.stderr)
sys.exit(3)
"""


def command(script: str, *args: str, timeout: float = 30) -> NotificationSettings:
    argv = [sys.executable, "-c", script, *args]
    return NotificationSettings(command=CommandSettings(argv=argv, timeout=timeout))


def test_the_command_gets_the_notice_on_stdin_and_in_its_environment(
    tmp_path: Path, make_notice: Callable[..., RunNotice]
) -> None:
    out = tmp_path / "seen.json"
    [sent] = notify(command(RECORD, str(out), "--team", "crm"), make_notice())
    assert (sent.channel, sent.ok, sent.status, sent.error) == ("command", True, 0, None)
    assert sent.target == sys.executable
    seen = json.loads(out.read_text())
    assert seen["notice"] == payload(make_notice())
    assert seen["args"] == ["--team", "crm"]
    ours = ("HERALD_EVENT", "HERALD_RUN_ID", "HERALD_CAMPAIGN", "HERALD_STATUS")
    assert {k: v for k, v in seen["env"].items() if k in ours} == {
        "HERALD_EVENT": "failure",
        "HERALD_RUN_ID": "run_20261206T030000_a1b2c3",
        "HERALD_CAMPAIGN": "CA Winback Offer",
        "HERALD_STATUS": "error",
    }


def test_a_hung_command_is_killed_with_its_children_after_its_timeout(
    tmp_path: Path, make_notice: Callable[..., RunNotice]
) -> None:
    marker = tmp_path / "child-survived"
    started = time.monotonic()
    [sent] = notify(command(HANG, str(marker), timeout=0.5), make_notice())
    assert time.monotonic() - started < 5
    assert not sent.ok
    assert sent.error == f"command {sys.executable} was killed after its timeout (0.5s)"
    time.sleep(2)
    assert not marker.exists()


def test_a_non_zero_exit_is_reported_with_its_last_words_redacted(
    make_notice: Callable[..., RunNotice],
) -> None:
    [sent] = notify(command(FAIL), make_notice())
    assert (sent.ok, sent.status) == (False, 3)
    assert sent.error == f"command {sys.executable} exited with status 3: paging failed for [email]"


def test_a_command_that_does_not_read_its_input_is_fine(
    make_notice: Callable[..., RunNotice],
) -> None:
    big = make_notice(counts={f"list_{n}": n for n in range(50_000)})  # more than a pipe holds
    [sent] = notify(command("pass"), big)
    assert sent.ok


def test_a_command_is_not_run_for_an_event_not_asked_for(
    tmp_path: Path, make_notice: Callable[..., RunNotice]
) -> None:
    out = tmp_path / "seen.json"
    assert notify(command(RECORD, str(out)), make_notice(event="success")) == []
    assert not out.exists()
