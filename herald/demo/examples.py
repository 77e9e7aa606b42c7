"""Where the example definitions are: ``herald/demo/examples``.

``examples/`` in the repository links there.
"""

from __future__ import annotations

from pathlib import Path


def examples_dir() -> Path:
    """The folder of example definitions shipped with Herald (``segments/`` inside it)."""
    return Path(__file__).resolve().parent / "examples"


def both_roads_campaign() -> Path:
    """The demo's campaign whose group goes to Klaviyo by the API and by SFTP: not among the
    examples, since it needs the SFTP sandbox's ``klaviyo_sftp`` destination."""
    return Path(__file__).resolve().parent / "both_roads" / "vip-early-access.yaml"
