"""Campaign results: lift of each group against its control, and power before the send.

The statistics load SciPy on first use, so the query side (``model``, the engine query) can
import this package without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from herald.core.results.model import Estimate, GroupSums, Lift

if TYPE_CHECKING:
    from herald.core.results.power import mde_conversion
    from herald.core.results.stats import compare, wilson_interval

__all__ = ["Estimate", "GroupSums", "Lift", "compare", "mde_conversion", "wilson_interval"]

_LAZY = {
    "compare": "herald.core.results.stats",
    "wilson_interval": "herald.core.results.stats",
    "mde_conversion": "herald.core.results.power",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'herald.core.results' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups find it without coming here
    return value
