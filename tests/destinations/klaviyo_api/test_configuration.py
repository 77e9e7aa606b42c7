"""Reading a klaviyo_api destination from herald.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from herald.config import DestinationSettings, parse_destination
from herald.destinations.klaviyo_api.configuration import KlaviyoSettings, key_source
from herald.destinations.klaviyo_api.limits import RateLimit
from herald.exceptions import ConfigError

SECRET = "pk_live_abcdefghijklmnopqrstuvwxyz0123"


def dest(**kw: object) -> DestinationSettings:
    return parse_destination("k", {"type": "klaviyo_api", **kw})


def test_defaults_and_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLAVIYO_TEST_KEY", SECRET)
    s = KlaviyoSettings.from_destination("k", dest(api_key_env="KLAVIYO_TEST_KEY"))
    assert s.api_key == SECRET
    assert (s.base_url, s.revision, s.concurrency, s.max_wait, s.poll_interval) == (
        "https://a.klaviyo.com",
        "2026-07-15",
        4,
        600.0,
        2.0,
    )
    assert s.limits["create_list"] == RateLimit(10, 150, 150)
    assert SECRET not in repr(s)
    assert SECRET not in str(s)


def test_key_from_file_and_every_option(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(SECRET + "\n")
    s = KlaviyoSettings.from_destination(
        "k",
        dest(
            api_key_file=str(key_file),
            base_url="http://127.0.0.1:8700/",
            revision="2026-04-15",
            concurrency=2,
            timeout=5,
            max_wait=60,
            poll_interval=1,
            limits_scale=10,
            limits={"create_list": {"burst": 3, "steady": 30}},
        ),
    )
    assert s.api_key == SECRET
    assert s.base_url == "http://127.0.0.1:8700"
    assert (s.revision, s.concurrency, s.timeout, s.max_wait, s.poll_interval) == (
        "2026-04-15",
        2,
        5.0,
        60.0,
        1.0,
    )
    assert s.limits["create_list"] == RateLimit(3, 30, 150)  # the override keeps the daily cap
    assert s.limits["get_lists"] == RateLimit(750, 7500)


def test_missing_key_is_a_config_error_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_KEY", raising=False)
    with pytest.raises(ConfigError, match="NOPE_KEY"):
        KlaviyoSettings.from_destination("k", dest(api_key_env="NOPE_KEY"))
    with pytest.raises(ConfigError, match="api_key_env"):
        KlaviyoSettings.from_destination("k", dest())
    listed = KlaviyoSettings.from_destination("k", dest(api_key_env="NOPE_KEY"), load_key=False)
    assert listed.api_key == ""
    assert key_source(dest(api_key_env="NOPE_KEY")) == "env NOPE_KEY"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "concurrency must be a positive number"),
        ({"max_wait": "soon"}, "max_wait must be a positive number"),
        ({"base_url": "a.klaviyo.com"}, "base_url must look like"),
        ({"revision": "latest"}, "revision must look like"),
        ({"limits": {"create_lists": {"burst": 1}}}, "Did you mean create_list"),
        ({"limits": {"create_list": {"burts": 1}}}, "takes burst, steady and daily"),
        ({"limits_scale": -1}, "limits_scale must be a positive number"),
    ],
)
def test_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        KlaviyoSettings.from_destination("k", dest(api_key_env="X", **options), load_key=False)
    assert "[destinations.k]" in str(info.value)


def test_other_types_are_refused() -> None:
    with pytest.raises(ConfigError, match="not 'klaviyo_api'"):
        KlaviyoSettings.from_destination("f", DestinationSettings(type="csv_file"), load_key=False)
