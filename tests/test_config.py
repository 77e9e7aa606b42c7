"""herald.toml: typed destinations (a typo is an error, never a silent default), secrets only
by reference and checked without being shown, and a file that is not UTF-8."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from herald.config import (
    DestinationSettings,
    Settings,
    destination_types,
    load_settings,
    parse_destination,
    read_secret,
)
from herald.destinations import registry
from herald.destinations.csv_file import CsvFileDestination, CsvFileSettings
from herald.destinations.klaviyo_api.configuration import (
    KlaviyoDestinationSettings,
    KlaviyoSettings,
)
from herald.exceptions import ConfigError
from herald.redact import redact

KEY = "pk_live_0123456789abcdefghijklmnop"


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "herald.toml"
    path.write_text(text, encoding="utf-8")
    return path


def one_line(error: pytest.ExceptionInfo[ConfigError]) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


# --- item 3: a typo is an error ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key", "hint"),
    [
        ('type = "klaviyo_api"\nbaseurl = "http://127.0.0.1:8700"', "baseurl", "base_url"),
        ('type = "klaviyo_api"\nBASE_URL = "http://127.0.0.1:8700"', "BASE_URL", "base_url"),
        ('type = "klaviyo_api"\nconcurency = 2', "concurency", "concurrency"),
        ('type = "klaviyo_api"\napi_key_enV = "K"', "api_key_enV", "api_key_env"),
        ('type = "csv_file"\nfoldr = "out"', "foldr", "folder"),
    ],
)
def test_an_unknown_key_names_file_destination_key_and_the_fix(
    tmp_path: Path, table: str, key: str, hint: str
) -> None:
    path = toml(tmp_path, f"[destinations.prod]\n{table}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    text = one_line(info)
    assert text.startswith(f"{path}: [destinations.prod]")
    assert f"unknown key '{key}'" in text
    assert f"Did you mean {hint}?" in text


def test_known_keys_are_typed_per_destination_type(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        '[destinations.files]\ntype = "csv_file"\nfolder = "out"\n'
        '[destinations.k]\ntype = "klaviyo_api"\napi_key_env = "K"\n'
        'base_url = "http://127.0.0.1:8700"\nconcurrency = 2\n',
    )
    settings = load_settings(path)
    files, klaviyo = settings.destinations["files"], settings.destinations["k"]
    assert isinstance(files, CsvFileSettings)
    assert files.folder == "out"
    assert isinstance(klaviyo, KlaviyoDestinationSettings)
    assert (klaviyo.base_url, klaviyo.concurrency) == ("http://127.0.0.1:8700", 2)
    built = Settings.model_validate({"destinations": {"f": {"type": "csv_file"}}})
    assert isinstance(built.destinations["f"], CsvFileSettings)


def test_python_built_settings_are_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'folr'\. Did you mean folder\?"):
        Settings.model_validate({"destinations": {"f": {"type": "csv_file", "folr": "x"}}})


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("klaviyo", "unknown destination type 'klaviyo'. Did you mean klaviyo_api?"),
        ("csv", "Known types: csv_file, klaviyo_api"),
    ],
)
def test_an_unknown_type_names_the_known_ones(tmp_path: Path, kind: str, message: str) -> None:
    path = toml(tmp_path, f'[destinations.d]\ntype = "{kind}"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert message in one_line(info)
    assert "[destinations.d]" in str(info.value)


def test_a_later_type_plugs_in_by_name() -> None:
    class SftpSettings(DestinationSettings):
        host: str

    class SftpDestination(CsvFileDestination):
        type = "test_sftp"
        settings_model = SftpSettings

    registry.register("test_sftp", SftpDestination)
    try:
        assert "test_sftp" in destination_types()
        parsed = parse_destination("s", {"type": "test_sftp", "host": "sftp.example"})
        assert isinstance(parsed, SftpSettings)
        with pytest.raises(ConfigError, match=r"Did you mean host\?"):
            parse_destination("s", {"type": "test_sftp", "hots": "x"})
    finally:
        registry._known().pop("test_sftp")


@pytest.mark.parametrize(
    "key",
    ["api_key", "API_KEY", "apikey", "Api-Key", "password", "private_key", "token", "secret",
     "Access-Token", "client_secret", "klaviyo_key"],
)  # fmt: skip
def test_inline_secrets_are_refused_whatever_their_spelling(tmp_path: Path, key: str) -> None:
    path = toml(tmp_path, f'[destinations.k]\ntype = "klaviyo_api"\n"{key}" = "{KEY}"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    text = one_line(info)
    assert KEY not in text
    assert f"'{key}' written in the file" in text
    assert "api_key_env" in text


def test_key_references_stay_allowed(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        '[destinations.a]\ntype = "klaviyo_api"\napi_key_env = "KLAVIYO_API_KEY"\n'
        '[destinations.b]\ntype = "klaviyo_api"\napi_key_file = "~/.klaviyo"\n',
    )
    assert set(load_settings(path).destinations) == {"a", "b"}


@pytest.mark.parametrize("value", [KEY, "pk_live_secret123", "Ab3dE9fGh1jK2lM4nP5qR7sT"])
def test_api_key_env_set_to_the_key_is_refused_without_echoing_it(
    tmp_path: Path, value: str
) -> None:
    path = toml(tmp_path, f'[destinations.k]\ntype = "klaviyo_api"\napi_key_env = "{value}"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    text = one_line(info)
    assert value not in text
    assert "api_key_env must name an environment variable such as KLAVIYO_API_KEY" in text
    assert "looks like a key: put the key in that variable" in text


def test_api_key_env_that_is_no_variable_name(tmp_path: Path) -> None:
    path = toml(tmp_path, '[destinations.k]\ntype = "klaviyo_api"\napi_key_env = "MY KEY"\n')
    with pytest.raises(ConfigError, match="letters, digits and _"):
        load_settings(path)


def test_existing_value_checks_survive(tmp_path: Path) -> None:
    path = toml(tmp_path, '[destinations.k]\ntype = "klaviyo_api"\nconcurrency = 0\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert one_line(info) == (
        f"{path}: [destinations.k] concurrency must be a positive number, not 0"
    )


# --- item 1: the key, read and checked without ever being shown ---------------------------------


def klaviyo(**refs: str) -> DestinationSettings:
    return parse_destination("k", {"type": "klaviyo_api", **refs})


@pytest.mark.parametrize(
    "content",
    [f"{KEY}\n", f"{KEY}\r\n", f"  {KEY}  \n", f"{KEY}\nsecond line\n", f"\n\n{KEY}\nmore\n",
     f"\ufeff{KEY}\n"],
)  # fmt: skip
def test_a_key_file_is_read_as_its_first_line_stripped(tmp_path: Path, content: str) -> None:
    path = tmp_path / "key"
    path.write_bytes(content.encode("utf-8"))
    assert read_secret(klaviyo(api_key_file=str(path)), "api_key", "k") == KEY


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (KEY[:10] + "\u200b" + KEY[10:], "has an invisible character"),
        (KEY[:10] + "\ufeff" + KEY[10:], "has an invisible character"),
        (KEY[:10] + "\r" + KEY[10:], "has a line break"),
        (KEY[:10] + "\u2028" + KEY[10:], "has a line break"),
        (KEY[:10] + " " + KEY[10:], "has a space"),
        (KEY[:10] + "\t" + KEY[10:], "has a space"),
        (KEY[:10] + "\x00" + KEY[10:], "has an invisible character"),
        (KEY[:10] + "é" + KEY[10:], "has a character that is not plain ASCII"),
    ],
)
def test_a_bad_key_in_a_file_is_refused_by_name(tmp_path: Path, key: str, problem: str) -> None:
    path = tmp_path / "key"
    path.write_text(key + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read_secret(klaviyo(api_key_file=str(path)), "api_key", "k")
    text = one_line(info)
    assert f"destination 'k': the api_key in {path} {problem}" in text
    assert KEY[:10] not in text
    assert KEY[11:] not in text


@pytest.mark.parametrize(
    ("key", "problem"),
    [(KEY[:10] + "\n" + KEY[10:], "has a line break"), (KEY + "\u200b" + "x", "invisible")],
)
def test_a_bad_key_in_a_variable_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, key: str, problem: str
) -> None:
    monkeypatch.setenv("HERALD_TEST_KEY", key)
    with pytest.raises(ConfigError) as info:
        read_secret(klaviyo(api_key_env="HERALD_TEST_KEY"), "api_key", "k")
    text = one_line(info)
    assert "the api_key in the environment variable HERALD_TEST_KEY" in text
    assert problem in text
    assert KEY[:10] not in text


def test_a_key_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_bytes(b"pk_\xff\xfe\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        read_secret(klaviyo(api_key_file=str(path)), "api_key", "k")


def test_a_key_read_is_registered_with_the_redactor(monkeypatch: pytest.MonkeyPatch) -> None:
    # No pk_ prefix, so only registration can catch it; unique, so no other test has
    # registered it already (the redactor's secrets last for the process).
    odd = f"odd-shaped-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("HERALD_TEST_KEY", odd)
    read_secret(klaviyo(api_key_env="HERALD_TEST_KEY"), "api_key", "k")
    assert odd not in redact(f"httpx said: Illegal header value b'{odd}'")


def test_settings_built_in_python_refuse_a_bad_key_before_any_request() -> None:
    with pytest.raises(ConfigError, match="has a line break") as info:
        KlaviyoSettings(name="k", api_key=KEY + "\nsecond")
    assert KEY not in str(info.value)


# --- item 18: a herald.toml that is not UTF-8 ----------------------------------------------------


def test_a_non_utf8_herald_toml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "herald.toml"
    path.write_bytes('[engine]\nname = "duckdb"  # caf\xe9\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert one_line(info) == f"{path} is not UTF-8 text: save it as UTF-8"


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "herald.toml"
    path.write_bytes(b'\xef\xbb\xbf[state]\nurl = "sqlite:///x.db"\n')
    assert load_settings(path).state.url == "sqlite:///x.db"


def test_api_key_file_set_to_the_key_is_refused_but_any_path_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        klaviyo(api_key_file=KEY)
    assert KEY not in one_line(info)
    assert "api_key_file must name the file that holds the key" in str(info.value)
    for path in ("/tmp/pytest-of-root/pytest-177/popen-gw0/demo1/.herald/sandbox.key", "k"):
        assert klaviyo(api_key_file=path).api_key_file == path  # type: ignore[attr-defined]
