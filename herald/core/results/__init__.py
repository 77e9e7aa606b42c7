"""Campaign results: lift of each group against its control, and power before the send."""

from __future__ import annotations

from herald.core.results.model import Estimate, GroupSums, Lift
from herald.core.results.power import mde_conversion
from herald.core.results.stats import compare, wilson_interval

__all__ = ["Estimate", "GroupSums", "Lift", "compare", "mde_conversion", "wilson_interval"]
