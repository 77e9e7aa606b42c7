"""The ``[destinations.NAME]`` tables of herald.toml: the base every destination type's
settings extend, and its secrets.

Secrets never live in the file: a destination names the environment variable
(``api_key_env``) or the file (``api_key_file``) that holds its key.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from herald.exceptions import ConfigError
from herald.redact import register_secret

__all__ = [
    "DestinationSettings",
    "SecretSettings",
    "check_env_name",
    "check_secret",
    "read_secret",
    "secret_from",
]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_KLAVIYO_KEY = re.compile(r"pk_[A-Za-z0-9_]{4,}")
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


class DestinationSettings(BaseModel):
    """One ``[destinations.NAME]`` table. Each destination type extends it with its own keys
    (its ``settings_model``, see :mod:`herald.destinations.base`); a key the type does not
    take is an error, so a typo such as ``baseurl`` cannot silently leave a default in place."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    """The destination type, such as ``klaviyo_api`` or ``csv_file``."""


class SecretSettings(DestinationSettings):
    """A destination with an API key, read from ``api_key_env`` or ``api_key_file``."""

    api_key_env: str | None = None
    """The environment variable that holds the key, such as ``KLAVIYO_API_KEY``."""
    api_key_file: str | None = None
    """A file whose first line is the key."""

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None:
            check_env_name(value, "api_key_env", "KLAVIYO_API_KEY")
        return value

    @field_validator("api_key_file")
    @classmethod
    def _file_name(cls, value: str | None) -> str | None:
        # Only the key's own shape: a path has digits, letters and no "_" often enough.
        if value is not None and _KLAVIYO_KEY.match(value):
            msg = (
                "api_key_file must name the file that holds the key; "
                "the value given looks like a key: put the key in that file"
            )
            raise ValueError(msg)
        return value


def check_env_name(value: str, field: str, example: str) -> None:
    """Refuse ``value`` for the setting ``field`` unless it names an environment variable.

    The message never repeats the value: it may be the secret itself.

    Raises:
        ValueError: ``{field} must name an environment variable such as {example}``, and
            either that the value looks like a key or what a variable's name is made of.
    """
    if _ENV_NAME.fullmatch(value) and not _looks_like_key(value):
        return
    if _looks_like_key(value):
        msg = (
            f"{field} must name an environment variable such as {example}; "
            "the value given looks like a key: put the key in that variable"
        )
    else:
        msg = (
            f"{field} must name an environment variable such as {example} "
            "(letters, digits and _, not starting with a digit)"
        )
    raise ValueError(msg)


def _looks_like_key(value: str) -> bool:
    """A Klaviyo private key, or a long run of mixed letters and digits with no ``_``."""
    if _KLAVIYO_KEY.match(value):
        return True
    mixed = any(c.isdigit() for c in value) and any(c.islower() for c in value)
    return len(value) >= 20 and mixed and "_" not in value


# --- secrets ----------------------------------------------------------------------------------


def read_secret(settings: DestinationSettings, key: str, destination: str) -> str:
    """The secret ``key`` of a destination, from its ``{key}_env`` variable or ``{key}_file``.

    A file is read as its first line, stripped. The value is registered with
    :func:`herald.redact.register_secret`, so no message, log line or stored error shows it.

    Raises:
        ConfigError: when neither is set, the variable or file is empty, or the secret has a
            line break, a space or an invisible character inside; the secret itself is never
            part of the message.
    """
    env_name = getattr(settings, f"{key}_env", None)
    file_name = getattr(settings, f"{key}_file", None)
    if not env_name and not file_name:
        msg = (
            f"destination '{destination}' needs "
            f'{key}_env = "VARIABLE" or {key}_file = "PATH" in herald.toml'
        )
        raise ConfigError(msg)
    return secret_from(env_name, file_name, key=key, owner=f"destination '{destination}'")


def secret_from(env_name: str | None, file_name: str | None, *, key: str, owner: str) -> str:
    """A secret from the environment variable ``env_name``, else the first line of the file
    ``file_name``, registered with the redactor and checked as :func:`read_secret` does.

    Args:
        env_name: the variable's name, or None.
        file_name: the file's path (``~`` expanded), or None.
        key: what the secret is, such as ``api_key``; for messages.
        owner: what it belongs to, such as ``destination 'klaviyo'``; starts messages.

    Raises:
        ConfigError: when neither is given, or as :func:`read_secret`; the secret itself is
            never part of the message.
    """
    prefix = f"{owner}:"
    if env_name:
        return _checked_secret(
            os.environ.get(str(env_name), "").strip(),
            missing=f"{prefix} the environment variable {env_name} ({key}) is not set",
            where=f"{prefix} the {key} in the environment variable {env_name}",
        )
    if file_name:
        return _checked_secret(
            _first_line(Path(str(file_name)).expanduser(), f"{prefix} {key}_file '{file_name}'"),
            missing=f"{prefix} {key}_file '{file_name}' is empty",
            where=f"{prefix} the {key} in {file_name}",
        )
    msg = f'{owner} needs {key}_env = "VARIABLE" or {key}_file = "PATH"'
    raise ConfigError(msg)


def _checked_secret(value: str, *, missing: str, where: str) -> str:
    """``value`` registered with the redactor (before any check can fail and quote it), then
    refused when it is empty or has characters no key has."""
    register_secret(value)
    if not value:
        raise ConfigError(missing)
    check_secret(value, where)
    return value


def _first_line(path: Path, what: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        msg = f"{what}: cannot read it: {error.strerror}"
        raise ConfigError(msg) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        msg = f"{what} is not UTF-8 text: write the key as plain text"
        raise ConfigError(msg) from None
    # Only "\n" ends the line: a lone "\r" or U+2028 inside is a line break in the key.
    return text.strip().split("\n", 1)[0].strip()


def check_secret(value: str, what: str) -> None:
    """Refuse a secret with a line break, a space, an invisible or a non-ASCII character
    inside: an HTTP header cannot carry it, and the message would otherwise show it.

    Args:
        value: the secret.
        what: names it, such as ``the api_key in ~/.klaviyo``; starts the message.

    Raises:
        ConfigError: ``{what} has a line break`` (or a space, an invisible character, a
            character that is not plain ASCII); the value is never part of it.
    """
    for char in value:
        if char in _LINE_BREAKS:
            problem = "a line break: keep only the key, on one line"
        elif char.isspace():
            problem = "a space inside: keep only the key, without spaces"
        elif unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs", "Cn"):
            problem = (
                "an invisible character (such as a zero-width space) inside: "
                "type the key again or copy it from Klaviyo as plain text"
            )
        elif not " " < char < "\x7f":
            problem = "a character that is not plain ASCII: keys are letters, digits and _"
        else:
            continue
        msg = f"{what} has {problem}"
        raise ConfigError(msg)
