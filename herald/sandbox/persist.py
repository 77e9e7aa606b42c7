"""Keep a sandbox's account (profiles, lists and their members) in a file between runs.

``herald sandbox klaviyo --state FILE`` loads the file when it starts and writes it when it
stops, and ``herald demo`` writes its in-process sandbox's account to its workspace: the lists
then hold what Herald's ledgers say they hold when the sandbox is started again. Without it a
new sandbox starts empty, and ledgers written against the old one no longer match any list.

Jobs, the request log and rate-limit windows are not kept: they describe one session. The id
generator's state is, so that ids made after a restart never repeat ids made before it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from herald.atomic import atomic_file
from herald.exceptions import ConfigError
from herald.sandbox.models import IDENTIFIERS, KList, Profile, hashed_dict
from herald.sandbox.state import SandboxState

FORMAT = 1
"""The file's format version; a file of another version is refused, not guessed at."""


def dump(state: SandboxState) -> dict[str, Any]:
    """The account as JSON-ready data."""
    with state.lock:
        return {
            "format": FORMAT,
            "ids": _jsonable(state.ids.state()),
            "profiles": [
                [
                    p.id,
                    p.created,
                    p.updated,
                    p.email,
                    p.phone_number,
                    p.external_id,
                    p.attributes,
                    p.suppressions,
                ]
                for p in state.profiles()
            ],
            "lists": [
                {
                    "id": k.id,
                    "name": k.name,
                    "opt_in_process": k.opt_in_process,
                    "created": k.created,
                    "updated": k.updated,
                    "members": list(k.members.items()),
                }
                for k in state.lists()
            ],
        }


def restore(state: SandboxState, data: dict[str, Any]) -> None:
    """Put a dumped account into an empty ``state``.

    Raises:
        ConfigError: the data is of another format, or the state is not empty.
    """
    if data.get("format") != FORMAT:
        msg = f"the sandbox state is of format {data.get('format')!r}, not {FORMAT}"
        raise ConfigError(msg)
    with state.lock:
        if state.profiles() or state.lists():
            msg = "the sandbox already holds profiles or lists; restore into a new one"
            raise ConfigError(msg)
        state.ids.restore(_tuples(data["ids"]))
        book = state.book
        for pid, created, updated, *identifiers, attributes, suppressions in data["profiles"]:
            profile = Profile(
                pid, created, updated, attributes=attributes, suppressions=suppressions
            )
            book.restore(profile, dict(zip(IDENTIFIERS, identifiers, strict=True)))
        for item in data["lists"]:
            members = hashed_dict()
            members.update((pid, joined) for pid, joined in item["members"])
            klist = KList(
                item["id"],
                item["name"],
                item["opt_in_process"],
                item["created"],
                item["updated"],
                members,
            )
            state.restore_list(klist)


def save(state: SandboxState, path: Path) -> None:
    """Write the account to ``path`` atomically (see `herald.atomic`)."""
    with atomic_file(path, "wb") as file:
        file.write(orjson.dumps(dump(state)))


def load(state: SandboxState, path: Path) -> bool:
    """Fill an empty ``state`` from ``path``; False when there is no such file yet.

    Raises:
        ConfigError: the file cannot be read or is not a sandbox state, naming it.
    """
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return False
    except (OSError, orjson.JSONDecodeError) as error:
        msg = f"cannot read the sandbox state {path}: {getattr(error, 'strerror', None) or error}"
        raise ConfigError(msg) from None
    try:
        restore(state, data)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        msg = f"{path} is not a sandbox state ({type(error).__name__}); move it away to start empty"
        raise ConfigError(msg) from None
    except ConfigError as error:
        msg = f"{path}: {error}"
        raise ConfigError(msg) from None
    return True


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, tuple | list) else value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
