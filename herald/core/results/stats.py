"""Lift of a group against its control, from the two groups' sufficient statistics.

Every method works from ``GroupSums`` alone, so the engine reduces millions of recipients to
eight numbers per group and nothing is read row by row. The choices, and why:

- **Conversion, absolute lift p1 - p0**: Newcombe's hybrid score interval (his method 10),
  built from the two Wilson score intervals. Unlike the Wald interval it keeps close to its
  nominal coverage with few purchasers or rates near 0, never leaves [-1, 1] and exists when a
  group has no purchaser. Its p-value is the two-proportion z-test with the pooled proportion
  (the usual test of p1 = p0). References: R. G. Newcombe, "Interval estimation for the
  difference between independent proportions: comparison of eleven methods", Statistics in
  Medicine 17 (1998); E. B. Wilson, "Probable inference, the law of succession, and
  statistical inference", JASA 22 (1927).
- **Conversion, relative lift p1 / p0 - 1**: Katz's log interval for the risk ratio (normal on
  log(p1 / p0), variance 1/x1 - 1/n1 + 1/x0 - 1/n0), p-value from the same statistic. None
  when the control has no purchaser (no baseline to be relative to). Reference: D. Katz,
  J. Baptista, S. P. Azen, M. C. Pike, "Obtaining confidence intervals for the risk ratio in
  cohort studies", Biometrics 34 (1978).
- **Revenue per recipient, absolute lift**: Welch's t with the Welch–Satterthwaite degrees of
  freedom, two-sided. Revenue per recipient is mostly zeros with a long tail; with the
  thousands of recipients a campaign has, the mean is close to normal and Welch's test does
  not assume equal variances (a control group is usually much smaller than the treatment).
  A bootstrap would need every recipient's revenue in Python; Welch needs only the sums. The
  coverage test (tests/core/test_results_stats.py) checks it on zero-inflated skewed revenue.
  References: B. L. Welch, "The generalization of 'Student's' problem when several different
  population variances are involved", Biometrika 34 (1947); F. E. Satterthwaite, "An
  approximate distribution of estimates of variance components", Biometrics Bulletin 2 (1946).
- **Revenue, relative lift m1 / m0 - 1**: the delta method on the ratio of the two means
  (independent groups: Var(m1/m0) ≈ Var(m1)/m0² + m1² Var(m0)/m0⁴), normal interval. Reference:
  A. Deng, U. Knoblich, J. Lu, "Applying the delta method in metric analytics: a practical
  guide with novel ideas", KDD 2018.
- **Incremental revenue**: the absolute revenue lift times the treatment's recipients, its
  interval scaled the same way.
- **CUPED** (revenue only): y' = y - θ (x - mean x) with x a recipient's revenue in the
  same-length window before the launch and θ = cov(x, y) / var(x) over treatment and control
  pooled, so both groups are adjusted by the same θ and the difference of means stays unbiased
  (x is measured before assignment, so its group means differ only by chance). Welch's t and
  the delta method then run on y'. Applied when asked and var(x) > 0. Reference: A. Deng,
  Y. Xu, R. Kohavi, T. Walker, "Improving the sensitivity of online controlled experiments by
  utilizing pre-experiment data", WSDM 2013.

Degenerate inputs (a group under 2 recipients, no variance, a zero baseline) give estimates
whose missing fields are None with a reason, never NaN and never an exception.

The t and normal distributions come from ``scipy.special`` (``stdtr``/``stdtrit``,
``ndtr``/``ndtri``): the functions ``scipy.stats`` itself calls, at a third of its import time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

from herald.core.results.model import Estimate, GroupSums, Lift

MIN_RECIPIENTS = 2


def compare(
    treatment: GroupSums, control: GroupSums, *, cuped: bool = True, confidence: float = 0.95
) -> Lift:
    """Lift of ``treatment`` over ``control``: conversion, revenue, incremental revenue.

    Args:
        treatment: the group that received the campaign.
        control: the group held out of it (same sub-audience and window).
        cuped: adjust revenue with the pre-period revenue (CUPED) when it varies.
        confidence: the intervals' confidence level, in (0, 1).

    Returns:
        The estimates; see the module docstring for the methods.

    Raises:
        ValueError: ``confidence`` is not strictly between 0 and 1.

    >>> t = GroupSums(1000, 120, 150, 6000.0, 400000.0, 5000.0, 300000.0, 150000.0)
    >>> c = GroupSums(1000, 100, 120, 5000.0, 350000.0, 5100.0, 310000.0, 140000.0)
    >>> lift = compare(t, c)
    >>> round(lift.conversion.value, 3), round(lift.conversion.low, 4)
    (0.02, -0.0075)
    >>> lift.cuped, lift.revenue_width < lift.revenue_width_unadjusted
    (True, True)
    """
    if not 0 < confidence < 1:
        msg = f"confidence must be between 0 and 1 (exclusive), not {confidence}"
        raise ValueError(msg)
    small = _too_small(treatment, control)
    if small is not None:
        return _nothing(treatment, control, confidence, small, cuped=cuped)
    plain = _Moments.of(treatment), _Moments.of(control)
    theta, why_not = _cuped_theta(treatment, control) if cuped else (None, None)
    moments = plain if theta is None else _adjusted(treatment, control, theta)
    revenue = _welch(*moments, confidence)
    return Lift(
        treatment=treatment,
        control=control,
        confidence=confidence,
        conversion=_conversion_difference(treatment, control, confidence),
        conversion_relative=_conversion_ratio(treatment, control, confidence),
        revenue=revenue,
        revenue_relative=_ratio_of_means(*moments, confidence),
        incremental_revenue=revenue.scaled(treatment.recipients),
        revenue_unadjusted=revenue if theta is None else _welch(*plain, confidence),
        cuped_theta=theta,
        cuped_reason=why_not,
    )


def _nothing(
    treatment: GroupSums, control: GroupSums, confidence: float, reason: str, *, cuped: bool
) -> Lift:
    """A lift with every estimate missing for ``reason``."""
    missing = Estimate.missing(reason)
    return Lift(
        treatment=treatment,
        control=control,
        confidence=confidence,
        conversion=missing,
        conversion_relative=missing,
        revenue=missing,
        revenue_relative=missing,
        incremental_revenue=missing,
        revenue_unadjusted=missing,
        cuped_theta=None,
        cuped_reason=reason if cuped else None,
    )


def _too_small(treatment: GroupSums, control: GroupSums) -> str | None:
    for name, group in (("treatment", treatment), ("control", control)):
        if group.recipients < MIN_RECIPIENTS:
            return (
                f"the {name} group has {group.recipients} recipient(s); "
                f"at least {MIN_RECIPIENTS} are needed"
            )
    return None


# --- conversion -------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (no continuity correction).

    >>> tuple(round(b, 4) for b in wilson_interval(0, 20))
    (0.0, 0.1611)
    """
    z = _z(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _conversion_difference(treatment: GroupSums, control: GroupSums, confidence: float) -> Estimate:
    """p1 - p0 with Newcombe's hybrid score interval and the pooled z-test's p-value."""
    x1, n1 = treatment.purchasers, treatment.recipients
    x0, n0 = control.purchasers, control.recipients
    p1, p0 = x1 / n1, x0 / n0
    low1, high1 = wilson_interval(x1, n1, confidence)
    low0, high0 = wilson_interval(x0, n0, confidence)
    low = p1 - p0 - math.hypot(p1 - low1, high0 - p0)
    high = p1 - p0 + math.hypot(high1 - p1, p0 - low0)
    pooled = (x1 + x0) / (n1 + n0)
    if pooled in (0.0, 1.0):
        reason = "no purchaser in either group" if pooled == 0 else "every recipient purchased"
        return Estimate(p1 - p0, low, high, None, f"no p-value: {reason}")
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    return Estimate(p1 - p0, low, high, _normal_p((p1 - p0) / se))


def _conversion_ratio(treatment: GroupSums, control: GroupSums, confidence: float) -> Estimate:
    """p1 / p0 - 1 with Katz's log interval; None without a purchaser in the control."""
    x1, n1 = treatment.purchasers, treatment.recipients
    x0, n0 = control.purchasers, control.recipients
    if x0 == 0:
        return Estimate.missing("no purchaser in the control group: no baseline for a ratio")
    ratio = (x1 / n1) / (x0 / n0)
    if x1 == 0:
        return Estimate(-1.0, None, None, None, "no purchaser in the treatment group: no interval")
    se = math.sqrt(1 / x1 - 1 / n1 + 1 / x0 - 1 / n0)
    if se == 0:
        return Estimate(ratio - 1, None, None, None, "every recipient purchased in both groups")
    spread = _z(confidence) * se
    return Estimate(
        ratio - 1,
        ratio * math.exp(-spread) - 1,
        ratio * math.exp(spread) - 1,
        _normal_p(math.log(ratio) / se),
    )


# --- revenue ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Moments:
    """A group's revenue per recipient (CUPED-adjusted or not): n, mean, sample variance."""

    n: int
    mean: float
    variance: float

    @classmethod
    def of(cls, group: GroupSums) -> _Moments:
        return cls(
            group.recipients, group.revenue / group.recipients, group.revenue_variance or 0.0
        )

    @property
    def variance_of_mean(self) -> float:
        return self.variance / self.n


def _welch(treatment: _Moments, control: _Moments, confidence: float) -> Estimate:
    """Difference of means with Welch's t interval and two-sided p-value."""
    difference = treatment.mean - control.mean
    v1, v0 = treatment.variance_of_mean, control.variance_of_mean
    if v1 + v0 == 0:
        return Estimate(difference, None, None, None, "revenue does not vary in either group")
    se = math.sqrt(v1 + v0)
    # Welch-Satterthwaite, (v1 + v0)² / (v1² / (n1 - 1) + v0² / (n0 - 1)), in shares of v1 + v0
    # so that tiny variances do not underflow when squared.
    share1, share0 = v1 / (v1 + v0), v0 / (v1 + v0)
    df = 1 / (share1 * share1 / (treatment.n - 1) + share0 * share0 / (control.n - 1))
    spread = float(special.stdtrit(df, 0.5 + confidence / 2)) * se
    p_value = 2 * float(special.stdtr(df, -abs(difference) / se))
    return Estimate(difference, difference - spread, difference + spread, p_value)


def _ratio_of_means(treatment: _Moments, control: _Moments, confidence: float) -> Estimate:
    """m1 / m0 - 1 with a delta-method normal interval; None when m0 <= 0.

    Var(m1 / m0) ≈ (Var(m1) + r² Var(m0)) / m0², r = m1 / m0, for independent groups.
    """
    if control.mean <= 0:
        return Estimate.missing("control revenue per recipient is not positive: no ratio")
    ratio = treatment.mean / control.mean
    if not math.isfinite(ratio):
        return Estimate.missing("control revenue too close to 0 for a ratio")
    # hypot: the same square root without squaring (and overflowing) a huge ratio.
    spread_of_means = math.hypot(
        math.sqrt(treatment.variance_of_mean), ratio * math.sqrt(control.variance_of_mean)
    )
    if spread_of_means == 0:
        return Estimate(ratio - 1, None, None, None, "revenue does not vary in either group")
    se = spread_of_means / control.mean
    spread = _z(confidence) * se
    if not math.isfinite(spread):
        return Estimate(ratio - 1, None, None, None, "control revenue too close to 0 for a ratio")
    return Estimate(ratio - 1, ratio - 1 - spread, ratio - 1 + spread, _normal_p((ratio - 1) / se))


def _cuped_theta(treatment: GroupSums, control: GroupSums) -> tuple[float | None, str | None]:
    """θ = cov(x, y) / var(x) over both groups pooled, or None and why."""
    pooled = treatment + control
    var_x = pooled.pre_revenue_variance
    cov_xy = pooled.revenue_covariance
    if var_x and cov_xy is not None:
        return cov_xy / var_x, None
    if pooled.pre_revenue == 0:
        return None, "no pre-period revenue"
    return None, "pre-period revenue does not vary"


def _adjusted(treatment: GroupSums, control: GroupSums, theta: float) -> tuple[_Moments, _Moments]:
    """Both groups' moments of y' = y - θ (x - pooled mean of x)."""
    pooled = treatment + control
    mean_x = pooled.pre_revenue / pooled.recipients
    return _adjust(treatment, theta, mean_x), _adjust(control, theta, mean_x)


def _adjust(group: GroupSums, theta: float, mean_x: float) -> _Moments:
    n = group.recipients
    var_y = group.revenue_variance or 0.0
    var_x = group.pre_revenue_variance or 0.0
    cov = group.revenue_covariance or 0.0
    mean = (group.revenue - theta * (group.pre_revenue - n * mean_x)) / n
    # var(y - θx) = var y - 2θ cov + θ² var x; rounding may leave a tiny negative.
    return _Moments(n, mean, max(0.0, var_y - 2 * theta * cov + theta * theta * var_x))


# --- distributions ----------------------------------------------------------------------------


def _z(confidence: float) -> float:
    """The two-sided normal quantile for ``confidence`` (1.96 for 0.95)."""
    return float(special.ndtri(0.5 + confidence / 2))


def _normal_p(statistic: float) -> float | None:
    """Two-sided p-value of a standard normal statistic (None for a NaN statistic)."""
    p_value = 2 * float(special.ndtr(-abs(statistic)))
    return p_value if math.isfinite(p_value) else None
