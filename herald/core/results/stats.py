"""TEMPORARY STAND-IN from the query branch (issue 14 part B): point estimates only.

The statistics branch owns this module (intervals, p-values, CUPED) and ``Estimate`` and
``Lift`` live in its ``model.py``; the integrator replaces this file with its version. Only
the names and fields the results command reads are copied here, so that nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from herald.core.results.model import GroupSums


@dataclass(frozen=True)
class Estimate:
    """One lift with its interval and p-value (None: not computed)."""

    value: float | None
    low: float | None
    high: float | None
    p_value: float | None
    reason: str | None = None

    @property
    def width(self) -> float | None:
        return None if self.low is None or self.high is None else self.high - self.low


@dataclass(frozen=True)
class Lift:
    """A group against its control (the statistics branch's fields)."""

    treatment: GroupSums
    control: GroupSums
    confidence: float
    conversion: Estimate
    conversion_relative: Estimate
    revenue: Estimate
    revenue_relative: Estimate
    incremental_revenue: Estimate
    revenue_unadjusted: Estimate
    cuped_theta: float | None
    cuped_reason: str | None = None

    @property
    def cuped(self) -> bool:
        return self.cuped_theta is not None

    @property
    def revenue_width(self) -> float | None:
        return self.revenue.width

    @property
    def revenue_width_unadjusted(self) -> float | None:
        return self.revenue_unadjusted.width


def compare(
    treatment: GroupSums, control: GroupSums, *, cuped: bool = True, confidence: float = 0.95
) -> Lift:
    """Point estimates of ``treatment`` against ``control`` (stand-in: no intervals)."""
    why = "stand-in statistics: point estimates only"
    if treatment.recipients == 0 or control.recipients == 0:
        none = Estimate(None, None, None, None, "a group has no recipients")
        return Lift(treatment, control, confidence, *(none,) * 6, None, none.reason)
    p1 = treatment.purchasers / treatment.recipients
    p0 = control.purchasers / control.recipients
    m1 = treatment.revenue / treatment.recipients
    m0 = control.revenue / control.recipients
    revenue = Estimate(m1 - m0, None, None, None, why)
    return Lift(
        treatment,
        control,
        confidence,
        conversion=Estimate(p1 - p0, None, None, None, why),
        conversion_relative=Estimate(p1 / p0 - 1 if p0 else None, None, None, None, why),
        revenue=revenue,
        revenue_relative=Estimate(m1 / m0 - 1 if m0 else None, None, None, None, why),
        incremental_revenue=Estimate((m1 - m0) * treatment.recipients, None, None, None, why),
        revenue_unadjusted=revenue,
        cuped_theta=None,
        cuped_reason=why if cuped else None,
    )
