"""Campaign results as frozen data: a group's sufficient statistics and the lift estimates.

``GroupSums`` is the contract between the engine and the statistics: the results query reduces
every recipient of a group to these eight numbers, and ``compare`` needs nothing else (means,
variances and the CUPED covariance all follow from the sums). ``Estimate`` and ``Lift`` are what
``compare`` returns; every field that cannot be computed is ``None`` with a reason, never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GroupSums:
    """One group over one window: what every statistic needs, computed in the engine.

    Per recipient, y is the revenue in the window (0 without orders) and x the revenue in the
    same-length window before it (for CUPED); the fields are their sums over the group.

    >>> g = GroupSums(4, 2, 3, 30.0, 500.0, 10.0, 100.0, 0.0)
    >>> g.conversion, g.revenue_per_recipient, g.revenue_per_purchaser, g.orders_per_recipient
    (0.5, 7.5, 15.0, 0.75)
    >>> g.revenue_variance  # (500 - 30**2 / 4) / 3
    91.66666666666667
    """

    recipients: int
    """n: every recipient assigned to the group (intent to treat), delivered or not."""
    purchasers: int
    """Recipients with at least one order in the window."""
    orders: int
    """Orders in the window."""
    revenue: float
    """Sum of y, a recipient's revenue in the window."""
    revenue_sq: float
    """Sum of y²."""
    pre_revenue: float
    """Sum of x, a recipient's revenue in the pre-period."""
    pre_revenue_sq: float
    """Sum of x²."""
    revenue_cross: float
    """Sum of x·y."""

    @property
    def conversion(self) -> float | None:
        """Purchasers ÷ recipients; None for an empty group."""
        return _ratio(self.purchasers, self.recipients)

    @property
    def revenue_per_recipient(self) -> float | None:
        """Mean revenue over every recipient; None for an empty group."""
        return _ratio(self.revenue, self.recipients)

    @property
    def revenue_per_purchaser(self) -> float | None:
        """Mean revenue over the purchasers; None without a purchaser."""
        return _ratio(self.revenue, self.purchasers)

    @property
    def orders_per_recipient(self) -> float | None:
        """Orders ÷ recipients; None for an empty group."""
        return _ratio(self.orders, self.recipients)

    @property
    def pre_revenue_per_recipient(self) -> float | None:
        """Mean pre-period revenue; None for an empty group."""
        return _ratio(self.pre_revenue, self.recipients)

    @property
    def revenue_variance(self) -> float | None:
        """Sample variance of y (n - 1 in the denominator); None under 2 recipients."""
        return covariance(self.recipients, self.revenue, self.revenue, self.revenue_sq)

    @property
    def pre_revenue_variance(self) -> float | None:
        """Sample variance of x; None under 2 recipients."""
        return covariance(self.recipients, self.pre_revenue, self.pre_revenue, self.pre_revenue_sq)

    @property
    def revenue_covariance(self) -> float | None:
        """Sample covariance of x and y; None under 2 recipients."""
        return covariance(self.recipients, self.pre_revenue, self.revenue, self.revenue_cross)

    def __add__(self, other: GroupSums) -> GroupSums:
        """Two disjoint sets of recipients as one (the sums add)."""
        return GroupSums(
            self.recipients + other.recipients,
            self.purchasers + other.purchasers,
            self.orders + other.orders,
            self.revenue + other.revenue,
            self.revenue_sq + other.revenue_sq,
            self.pre_revenue + other.pre_revenue,
            self.pre_revenue_sq + other.pre_revenue_sq,
            self.revenue_cross + other.revenue_cross,
        )


def covariance(n: int, sum_a: float, sum_b: float, sum_ab: float) -> float | None:
    """Sample covariance from sums, n - 1 in the denominator; None under 2 observations.

    A variance (``a`` is ``b``) that rounding leaves slightly negative, or a few ulps above a
    true zero, is 0: the sums come from floats, and "zero variance" must be recognised.

    >>> covariance(3, 30.3, 30.3, 306.03)  # three times 10.1
    0.0
    """
    if n < 2:
        return None
    value = (sum_ab - sum_a * sum_b / n) / (n - 1)
    # Cancellation leaves an error of a few ulps of the mean product, not of the result.
    if abs(value) <= 1e-12 * abs(sum_ab) / n:
        return 0.0
    return value


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


@dataclass(frozen=True)
class Estimate:
    """One lift with its confidence interval and two-sided p-value.

    A field that cannot be computed (too few recipients, no variance, a zero baseline) is None
    and ``reason`` says why; the value may exist without an interval (``reason`` then explains
    the interval).

    >>> Estimate(0.125, -0.25, 0.5, 0.4).width
    0.75
    >>> Estimate.missing("control group has fewer than 2 recipients").value is None
    True
    """

    value: float | None
    low: float | None
    high: float | None
    p_value: float | None
    reason: str | None = None

    @classmethod
    def missing(cls, reason: str) -> Estimate:
        """An estimate with nothing computed, for ``reason``."""
        return cls(None, None, None, None, reason)

    @property
    def width(self) -> float | None:
        """high - low, or None without an interval."""
        if self.low is None or self.high is None:
            return None
        return self.high - self.low

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero (False without an interval)."""
        if self.low is None or self.high is None:
            return False
        return self.low > 0 or self.high < 0

    def scaled(self, factor: float) -> Estimate:
        """The same estimate in other units (value and interval times ``factor``)."""
        return Estimate(
            _times(self.value, factor),
            _times(self.low, factor),
            _times(self.high, factor),
            self.p_value,
            self.reason,
        )


def _times(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


@dataclass(frozen=True)
class Lift:
    """A group against its control: what ``compare`` returns.

    Revenue estimates are CUPED-adjusted when ``cuped_theta`` is set; ``revenue_unadjusted`` is
    the plain Welch estimate either way, so the report can show the interval width with and
    without CUPED. Conversion is never adjusted.
    """

    treatment: GroupSums
    control: GroupSums
    confidence: float
    conversion: Estimate
    """p1 - p0: Newcombe's hybrid score interval, pooled two-proportion z-test."""
    conversion_relative: Estimate
    """p1 / p0 - 1: Katz's log interval."""
    revenue: Estimate
    """Difference of mean revenue per recipient (CUPED when applied): Welch's t."""
    revenue_relative: Estimate
    """Ratio of mean revenue per recipient - 1 (CUPED when applied): delta method."""
    incremental_revenue: Estimate
    """``revenue`` times the treatment's recipients."""
    revenue_unadjusted: Estimate
    """Difference of mean revenue per recipient without CUPED: Welch's t."""
    cuped_theta: float | None
    """The CUPED coefficient cov(x, y) / var(x), or None when CUPED was not applied."""
    cuped_reason: str | None = None
    """Why CUPED was not applied, e.g. "no pre-period revenue" (None when it was, or was not
    asked for)."""

    @property
    def cuped(self) -> bool:
        """Whether the revenue estimates are CUPED-adjusted."""
        return self.cuped_theta is not None

    @property
    def revenue_width(self) -> float | None:
        """Width of the revenue interval reported (with CUPED when applied)."""
        return self.revenue.width

    @property
    def revenue_width_unadjusted(self) -> float | None:
        """Width of the revenue interval without CUPED."""
        return self.revenue_unadjusted.width

    @property
    def variance_reduction(self) -> float | None:
        """1 - (width with CUPED ÷ width without)², or None without CUPED or an interval."""
        with_, without = self.revenue_width, self.revenue_width_unadjusted
        if not self.cuped or with_ is None or not without:
            return None
        return 1 - (with_ / without) ** 2
