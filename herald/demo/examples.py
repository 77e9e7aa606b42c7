"""Where the example definitions are: ``herald/demo/examples``.

``examples/`` in the repository links there.
"""

from __future__ import annotations

from pathlib import Path


def examples_dir() -> Path:
    """The folder of example definitions shipped with Herald (``segments/`` inside it)."""
    return Path(__file__).resolve().parent / "examples"
