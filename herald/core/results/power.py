"""Minimum detectable effect on conversion, before the send.

The effect is the smallest absolute uplift p1 - p0 that the two-sided pooled two-proportion
z-test (the test ``compare`` reports for conversion) detects with the given power at level
alpha, by the normal approximation: under p1 = p0 the difference has the pooled standard error,
under the alternative the unpooled one, and both tails count. This is the power function of
statsmodels' ``power_proportions_2indep``; the tests check against it. Reference: J. L. Fleiss,
B. Levin, M. C. Paik, *Statistical Methods for Rates and Proportions*, 3rd ed. (2003), §4.
"""

from __future__ import annotations

import math

from scipy import special

_BISECTIONS = 100


def mde_conversion(
    baseline: float, n_treatment: int, n_control: int, *, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """The smallest absolute conversion uplift the test detects, or None if none can be.

    Args:
        baseline: the control's expected conversion rate p0, in (0, 1).
        n_treatment: recipients in the treatment group.
        n_control: recipients in the control group.
        alpha: the two-sided test's level.
        power: the probability of detecting the effect.

    Returns:
        The uplift p1 - p0 (absolute: 0.01 is one percentage point), or None when the baseline
        is 0 or 1, a group is empty, or even p1 = 1 would not reach the power.

    Raises:
        ValueError: ``alpha`` or ``power`` is not strictly between 0 and 1.

    >>> round(mde_conversion(0.05, 10_000, 10_000), 5)
    0.00899
    >>> mde_conversion(0.05, 10, 0) is None
    True
    """
    for name, value in (("alpha", alpha), ("power", power)):
        if not 0 < value < 1:
            msg = f"{name} must be between 0 and 1 (exclusive), not {value}"
            raise ValueError(msg)
    if not 0 < baseline < 1 or n_treatment < 1 or n_control < 1:
        return None
    if _power(1 - baseline, baseline, n_treatment, n_control, alpha) < power:
        return None
    # The power grows with the uplift on (0, 1 - p0]: bisect for where it reaches ``power``.
    low, high = 0.0, 1 - baseline
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2
        if _power(middle, baseline, n_treatment, n_control, alpha) < power:
            low = middle
        else:
            high = middle
    return high


def _power(uplift: float, baseline: float, n1: int, n0: int, alpha: float) -> float:
    """Power of the two-sided pooled z-test when p1 = baseline + uplift."""
    p1 = baseline + uplift
    pooled = (n1 * p1 + n0 * baseline) / (n1 + n0)
    se_null = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    # Never 0: baseline is strictly between 0 and 1.
    se_alt = math.sqrt(p1 * (1 - p1) / n1 + baseline * (1 - baseline) / n0)
    critical = float(special.ndtri(1 - alpha / 2)) * se_null
    upper = float(special.ndtr((uplift - critical) / se_alt))
    lower = float(special.ndtr((-uplift - critical) / se_alt))
    return upper + lower
