"""The [notifications] table of herald.toml: read and typed, every mistake one line naming the
key (a secret or the hook's URL never shown), and when a run is slow."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from herald.alerts import check_notifications, slow_reason
from herald.config import DEFAULT_TOML, NotificationSettings, load_settings
from herald.core.dates import format_span, parse_span
from herald.exceptions import ConfigError

README = Path(__file__).resolve().parents[2] / "README.md"
FULL = """
[notifications]
on = ["failure", "slow"]
slow_after = "1h30m"
slow_factor = 2.5

[notifications.webhook]
url = "https://hooks.example.com/herald"
secret_env = "HERALD_WEBHOOK_SECRET"
timeout = 5
retries = 2

[notifications.command]
argv = ["/usr/local/bin/page-oncall", "--team", "crm"]
timeout = 20
"""


def load(tmp_path: Path, text: str) -> NotificationSettings:
    path = tmp_path / "herald.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path).notifications


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'herald.toml'}: [notifications")
    return message


def test_the_whole_table_is_read_and_typed(tmp_path: Path) -> None:
    got = load(tmp_path, FULL)
    assert got.on == ("failure", "slow")
    assert (got.slow_after, got.slow_factor) == (dt.timedelta(minutes=90), 2.5)
    assert got.webhook is not None
    assert (got.webhook.url, got.webhook.secret_env) == (
        "https://hooks.example.com/herald",
        "HERALD_WEBHOOK_SECRET",
    )
    assert (got.webhook.timeout, got.webhook.retries) == (5, 2)
    assert got.command is not None
    assert (got.command.argv, got.command.timeout) == (
        ["/usr/local/bin/page-oncall", "--team", "crm"],
        20,
    )


def test_without_the_table_only_failures_would_be_announced_and_nowhere(tmp_path: Path) -> None:
    got = load(tmp_path, "")
    assert (got.on, got.webhook, got.command) == (("failure",), None, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[notifications.webhook]\nurl = "ftp://hooks.example.com/x/tok3n"',
         "[notifications.webhook] url must be an http:// or https:// URL"),
        ('[notifications.webhook]\nurl = "hooks.example.com"',
         "[notifications.webhook] url must be an http:// or https:// URL"),
        ('[notifications.webhook]\nurl = "https://h.example"\nretires = 2',
         "[notifications.webhook] has an unknown key 'retires'. Did you mean retries?"),
        ('[notifications]\nslow_afterr = "2h"',
         "[notifications] has an unknown key 'slow_afterr'. Did you mean slow_after?"),
        ('[notifications.comand]\nargv = ["x"]',
         "[notifications] has an unknown key 'comand'. Did you mean command?"),
        ('[notifications]\non = ["slow"]\nslow_after = "2 hours"',
         "[notifications] slow_after: '2 hours' is not a duration such as 90m, 2h"),
        ('[notifications]\non = ["slow"]\nslow_after = 90',
         "[notifications] slow_after must be a duration such as 90m"),
        ('[notifications]\non = ["slow"]\nslow_after = "0m"',
         "[notifications] slow_after must be longer than 0"),
        ('[notifications]\non = ["slow"]', '[notifications] on has "slow": set slow_after'),
        ('[notifications]\nslow_after = "2h"', '[notifications] slow_after or slow_factor is set'),
        ('[notifications]\non = ["failures"]',
         "[notifications] on: 'failures' is no event. Did you mean failure?"),
        ('[notifications]\non = ["slow"]\nslow_factor = 0.5',
         "[notifications] slow_factor: Input should be greater than or equal to 1"),
        ('[notifications.webhook]\nurl = "https://h.example"\ntimeout = 0',
         "[notifications.webhook] timeout: Input should be greater than 0"),
        ('[notifications.command]\nargv = []',
         "[notifications.command] argv: List should have at least 1 item"),
        ('[notifications.webhook]\nurl = "https://h.example"\nsecret_env = "A"\nsecret_file = "b"',
         "[notifications.webhook] set secret_env or secret_file, not both"),
        ("[notifications]\nwebhook = 3", "[notifications.webhook] must be a table"),
    ],
)  # fmt: skip
def test_a_mistake_is_one_line_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    message = refused(tmp_path, text)
    assert expected in message
    assert "tok3n" not in message


@pytest.mark.parametrize("key", ["secret", "Secret", "token", "hmac_key", "password"])
def test_a_secret_written_in_the_file_is_refused_without_showing_it(
    tmp_path: Path, key: str
) -> None:
    value = "whsec_0123456789abcdefGHIJ"
    message = refused(
        tmp_path, f'[notifications.webhook]\nurl = "https://h.example"\n{key} = "{value}"'
    )
    assert f"has the secret '{key}' written in the file" in message
    assert "secret_env or secret_file" in message
    assert value not in message


def test_secret_env_set_to_the_secret_itself_is_refused_without_showing_it(
    tmp_path: Path,
) -> None:
    value = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    message = refused(
        tmp_path, f'[notifications.webhook]\nurl = "https://h.example"\nsecret_env = "{value}"'
    )
    assert "secret_env must name an environment variable" in message
    assert value not in message


def test_an_unset_secret_variable_is_one_line_at_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_HERALD_HOOK_SECRET", raising=False)
    table = '[notifications.webhook]\nurl = "https://h.example"\nsecret_env = "{}"'
    got = load(tmp_path, table.format("TEST_HERALD_HOOK_SECRET"))
    with pytest.raises(ConfigError) as info:
        check_notifications(got)
    assert str(info.value) == (
        "[notifications.webhook]: the environment variable TEST_HERALD_HOOK_SECRET (secret) "
        "is not set"
    )
    monkeypatch.setenv("TEST_HERALD_HOOK_SECRET", "with a space inside")
    with pytest.raises(ConfigError, match="has a space inside") as info:
        check_notifications(got)
    assert "with a space" not in str(info.value)


def test_the_init_template_has_a_commented_example_that_reads(tmp_path: Path) -> None:
    assert load(tmp_path, DEFAULT_TOML.format(database="d.duckdb")).webhook is None
    lines = DEFAULT_TOML.split("# [notifications]", 1)[1].splitlines()
    example = "\n".join(["[notifications]", *(line.removeprefix("# ") for line in lines)])
    got = load(
        tmp_path, DEFAULT_TOML.split("# [notifications]", 1)[0].format(database="d") + example
    )
    assert got.webhook is not None
    assert got.command is not None


def test_the_readme_example_reads(tmp_path: Path) -> None:
    section = README.read_text(encoding="utf-8").split("### Alerts", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert block
    got = load(tmp_path, block.group(1))
    assert got.webhook is not None
    assert got.command is not None
    assert "slow" in got.on


# --- slow runs --------------------------------------------------------------------------------


def test_slow_after_and_slow_factor_each_make_a_run_slow() -> None:
    both = NotificationSettings(on=("slow",), slow_after="2h", slow_factor=2.0)  # type: ignore[arg-type]
    assert slow_reason(both, seconds=600, estimate_seconds=400) is None
    assert slow_reason(both, seconds=7200, estimate_seconds=None) is None  # not longer
    assert slow_reason(both, seconds=7260, estimate_seconds=None) == (
        "running for 2h1m, longer than slow_after (2h)"
    )
    assert slow_reason(both, seconds=900, estimate_seconds=400) == (
        "running for 15m, more than 2 × its estimate (6m40s)"
    )
    assert slow_reason(both, seconds=900, estimate_seconds=None) is None
    assert slow_reason(both, seconds=900, estimate_seconds=0) is None


def test_no_run_is_slow_unless_slow_is_announced() -> None:
    assert slow_reason(NotificationSettings(), seconds=10**6, estimate_seconds=1) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90m", 5400), ("2h", 7200), ("1h30m", 5400), ("1h 30m", 5400), ("45s", 45), ("1d", 86400),
     ("2w", 1209600), ("2H", 7200)],
)  # fmt: skip
def test_durations_read_and_print_back(text: str, seconds: int) -> None:
    assert parse_span(text) == dt.timedelta(seconds=seconds)
    assert parse_span(format_span(seconds)) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "90", "h", "1.5h", "2 hours", "1h-30m", "m30", "1h x"])
def test_what_is_no_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration such as 90m"):
        parse_span(text)
