"""Campaign results: lift of each group against its control.

(Query branch version; the statistics branch's ``__init__`` replaces it and exports the same
names, with ``Estimate`` and ``Lift`` from its ``model.py``.)
"""

from __future__ import annotations

from herald.core.results.model import GroupSums
from herald.core.results.stats import Estimate, Lift, compare

__all__ = ["Estimate", "GroupSums", "Lift", "compare"]
