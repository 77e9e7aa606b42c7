"""Golden ``.sql`` files beside their definitions: compare, or rewrite them on request.

``HERALD_UPDATE_GOLDEN=1`` rewrites each golden from what the code renders now (then the
comparison holds by construction), so it is refused in CI (``CI=true``), where it would make
every golden test pass whatever the code renders.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest


def updating() -> bool:
    update = os.environ.get("HERALD_UPDATE_GOLDEN") == "1"
    if update and os.environ.get("CI") == "true":
        pytest.fail("HERALD_UPDATE_GOLDEN=1 in CI would pass every golden test", pytrace=False)
    return update


def read_golden(path: Path) -> str:
    # Bytes, not text mode: a literal carriage return in the SQL must survive (see
    # .gitattributes in the fixtures folder).
    return path.read_bytes().decode("utf-8")


def missing_goldens(definitions: Sequence[Path]) -> list[str]:
    """The definitions without a ``.sql`` golden (none while goldens are being written)."""
    if updating():
        return []
    return [p.name for p in definitions if not p.with_suffix(".sql").exists()]


def check_golden(definition: Path, sql: str) -> None:
    """``sql`` equals the golden of ``definition`` (written first when updating)."""
    golden = definition.with_suffix(".sql")
    if updating():
        golden.write_bytes(sql.encode("utf-8"))
    assert read_golden(golden) == sql
