"""Klaviyo's full OpenAPI spec, which lives beside the repository (``../shared/klaviyo``), or
where ``HERALD_KLAVIYO_SPEC`` says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEC = Path(os.environ.get("HERALD_KLAVIYO_SPEC", REPO.parent / "shared/klaviyo/stable.json"))


def full_spec() -> Path:
    """The spec's path. Without it a test is skipped, except in CI (``CI=true``), where a
    missing spec is a failure: a test that cannot run there must not pass unseen."""
    if not SPEC.exists():
        reason = f"the full Klaviyo spec is not at {SPEC} (set HERALD_KLAVIYO_SPEC)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return SPEC
