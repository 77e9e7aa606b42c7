"""Campaign results: what every statistic needs, computed in the engine.

(Minimal version from the query branch: the statistics branch owns this module and keeps
these fields.)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GroupSums:
    """One group over one window: what every statistic needs, computed in the engine."""

    recipients: int
    """n"""
    purchasers: int
    """Recipients with at least one order in the window."""
    orders: int
    revenue: float
    """Sum of y, each recipient's revenue in the window (0 without orders)."""
    revenue_sq: float
    """Sum of y²."""
    pre_revenue: float
    """Sum of x, each recipient's revenue in the pre-period (CUPED's covariate)."""
    pre_revenue_sq: float
    """Sum of x²."""
    revenue_cross: float
    """Sum of x·y."""
