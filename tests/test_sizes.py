"""Module sizes: no module of the package is over 600 lines (STYLE.md, issue 9).

A module past that size holds more than one idea; split it by idea, as ``herald/demo`` and
``herald/state`` do. Alembic's migration scripts are generated and append-only, so they are
not counted.
"""

from __future__ import annotations

from pathlib import Path

MAX_LINES = 600
PACKAGE = Path(__file__).resolve().parents[1] / "herald"
NOT_COUNTED = PACKAGE / "state" / "migrations"


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if NOT_COUNTED not in p.parents)


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_package_has_modules_to_measure() -> None:
    modules = _modules()
    assert PACKAGE / "state" / "store.py" in modules
    assert PACKAGE / "destinations" / "klaviyo_api" / "client.py" in modules
    assert list(NOT_COUNTED.rglob("*.py")), "the migrations exist but are not counted"
    assert not any(NOT_COUNTED in p.parents for p in modules)


def test_no_module_is_over_600_lines() -> None:
    sizes = {p.relative_to(PACKAGE.parent).as_posix(): _lines(p) for p in _modules()}
    over = {name: n for name, n in sorted(sizes.items()) if n > MAX_LINES}
    listed = "\n".join(f"  {name}: {n} lines" for name, n in over.items())
    assert not over, f"modules over {MAX_LINES} lines; split each by idea:\n{listed}"
