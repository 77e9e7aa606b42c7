"""Campaign results statistics (herald.core.results): each method against statsmodels or SciPy
on fixed data, then the coverage of the intervals on seeded simulations with a known truth."""

from __future__ import annotations

import dataclasses
import itertools
import math
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    power_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)
from statsmodels.stats.proportion import test_proportions_2indep as proportions_2indep_test

from herald.core.results import Estimate, GroupSums, Lift, compare, mde_conversion, wilson_interval

FloatArray = np.ndarray


def sums(y: FloatArray, x: FloatArray | None = None, orders: FloatArray | None = None) -> GroupSums:
    """One group's per-recipient revenue ``y`` (pre-period ``x``, orders) reduced to its sums."""
    x = np.zeros_like(y) if x is None else x
    orders = (y > 0).astype(int) if orders is None else orders
    return GroupSums(
        recipients=len(y),
        purchasers=int((orders > 0).sum()),
        orders=int(orders.sum()),
        revenue=float(y.sum()),
        revenue_sq=float((y * y).sum()),
        pre_revenue=float(x.sum()),
        pre_revenue_sq=float((x * x).sum()),
        revenue_cross=float((x * y).sum()),
    )


def proportion(purchasers: int, recipients: int) -> GroupSums:
    """A group known only by its conversion (revenue 1 per purchaser)."""
    y = np.zeros(recipients)
    y[:purchasers] = 1.0
    return sums(y)


def revenue(rng: np.random.Generator, n: int, rate: float = 0.3) -> FloatArray:
    """Zero-inflated, skewed revenue per recipient, like a campaign's."""
    return (rng.random(n) < rate) * rng.lognormal(3.5, 0.8, n)


def estimates(lift: Lift) -> Iterator[Estimate]:
    for field in dataclasses.fields(lift):
        value = getattr(lift, field.name)
        if isinstance(value, Estimate):
            yield value


# --- the sums -----------------------------------------------------------------------------------


def test_group_sums_give_numpys_moments() -> None:
    rng = np.random.default_rng(1)
    y, x = revenue(rng, 500), revenue(rng, 500)
    group = sums(y, x)
    assert group.revenue_variance == pytest.approx(np.var(y, ddof=1), rel=1e-10)
    assert group.pre_revenue_variance == pytest.approx(np.var(x, ddof=1), rel=1e-10)
    assert group.revenue_covariance == pytest.approx(np.cov(x, y)[0, 1], rel=1e-9)
    assert group.revenue_per_recipient == pytest.approx(y.mean())
    assert group.revenue_per_purchaser == pytest.approx(y[y > 0].mean())
    added = sums(y[:200], x[:200]) + sums(y[200:], x[200:])
    assert dataclasses.astuple(added) == pytest.approx(dataclasses.astuple(group), rel=1e-12)


def test_a_constant_revenue_has_zero_variance_despite_rounding() -> None:
    assert sums(np.full(7, 10.1)).revenue_variance == 0.0
    assert sums(np.array([5.0])).revenue_variance is None
    assert GroupSums(0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0).conversion is None


# --- conversion against statsmodels ---------------------------------------------------------------

PROPORTIONS = [
    (120, 1000, 100, 1000),
    (0, 50, 3, 40),
    (5, 7, 0, 9),
    (30, 30, 12, 40),
    (1, 2, 1, 3),
    (480, 10_000, 200, 5000),
]


@pytest.mark.parametrize(("x1", "n1", "x0", "n0"), PROPORTIONS)
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_newcombe_interval_is_statsmodels(
    x1: int, n1: int, x0: int, n0: int, confidence: float
) -> None:
    got = compare(proportion(x1, n1), proportion(x0, n0), confidence=confidence).conversion
    low, high = confint_proportions_2indep(
        x1, n1, x0, n0, method="newcomb", compare="diff", alpha=1 - confidence
    )
    assert got.value == pytest.approx(x1 / n1 - x0 / n0)
    assert (got.low, got.high) == pytest.approx((low, high), abs=1e-12)
    assert wilson_interval(x1, n1, confidence) == pytest.approx(
        proportion_confint(x1, n1, alpha=1 - confidence, method="wilson"), abs=1e-12
    )


@pytest.mark.parametrize(("x1", "n1", "x0", "n0"), PROPORTIONS)
def test_conversion_p_value_is_the_pooled_z_test(x1: int, n1: int, x0: int, n0: int) -> None:
    got = compare(proportion(x1, n1), proportion(x0, n0)).conversion
    if x1 + x0 in (0, n1 + n0):
        assert got.p_value is None
        return
    _, p_value = proportions_ztest([x1, x0], [n1, n0])
    assert got.p_value == pytest.approx(p_value, rel=1e-9)


@pytest.mark.parametrize(("x1", "n1", "x0", "n0"), [p for p in PROPORTIONS if 0 not in p[::2]])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_relative_conversion_is_katz_log_interval(
    x1: int, n1: int, x0: int, n0: int, confidence: float
) -> None:
    got = compare(proportion(x1, n1), proportion(x0, n0), confidence=confidence)
    relative = got.conversion_relative
    if x1 == n1 and x0 == n0:
        assert relative.low is None
        return
    low, high = confint_proportions_2indep(
        x1, n1, x0, n0, method="log", compare="ratio", alpha=1 - confidence
    )
    with np.errstate(divide="ignore"):  # statsmodels also computes the odds ratio, 30/0 here
        tested = proportions_2indep_test(x1, n1, x0, n0, method="log", compare="ratio")
    assert relative.value == pytest.approx((x1 / n1) / (x0 / n0) - 1)
    assert (relative.low, relative.high) == pytest.approx((low - 1, high - 1), rel=1e-10)
    assert relative.p_value == pytest.approx(tested.pvalue, rel=1e-9)


@pytest.mark.parametrize(("n1", "n0"), [(30, 30), (50, 20), (100, 40)])
def test_newcombe_keeps_its_coverage_in_small_groups_where_wald_does_not(n1: int, n0: int) -> None:
    # Exact coverage, no simulation: every outcome (x1, x0) weighted by its binomial
    # probability, over a grid of true rates from rare to common.
    x1, x0 = np.arange(n1 + 1)[:, None], np.arange(n0 + 1)[None, :]
    bounds = np.array([[_newcombe(a, n1, b, n0) for b in range(n0 + 1)] for a in range(n1 + 1)])
    q1, q0 = x1 / n1, x0 / n0
    wald = stats.norm.ppf(0.975) * np.sqrt(q1 * (1 - q1) / n1 + q0 * (1 - q0) / n0)
    newcombe_rates, wald_rates = [], []
    for p1, p0 in itertools.product([0.02, 0.05, 0.1, 0.2, 0.3, 0.5], repeat=2):
        weight = stats.binom.pmf(x1, n1, p1) * stats.binom.pmf(x0, n0, p0)
        inside = (bounds[..., 0] <= p1 - p0) & (p1 - p0 <= bounds[..., 1])
        newcombe_rates.append(float((weight * inside).sum()))
        wald_rates.append(float((weight * (abs(q1 - q0 - (p1 - p0)) <= wald)).sum()))
    assert 0.95 <= np.mean(newcombe_rates) <= 0.975
    assert min(newcombe_rates) >= 0.94
    assert min(wald_rates) < 0.87  # what the textbook interval would have given


def _newcombe(x1: int, n1: int, x0: int, n0: int) -> tuple[float | None, float | None]:
    conversion = compare(proportion(x1, n1), proportion(x0, n0)).conversion
    return conversion.low, conversion.high


# --- revenue against SciPy ----------------------------------------------------------------------


@pytest.mark.parametrize(("n1", "n0"), [(50, 30), (500, 80), (3, 2), (2000, 2000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_revenue_is_welchs_t_test(n1: int, n0: int, confidence: float) -> None:
    rng = np.random.default_rng(n1 * 7 + n0)
    y1, y0 = revenue(rng, n1, 0.6), revenue(rng, n0, 0.6)
    lift = compare(sums(y1), sums(y0), confidence=confidence)
    scipy_result = stats.ttest_ind(y1, y0, equal_var=False)
    low, high = scipy_result.confidence_interval(confidence)
    assert lift.revenue == lift.revenue_unadjusted  # no pre-period revenue: no CUPED
    assert lift.revenue.value == pytest.approx(y1.mean() - y0.mean(), rel=1e-12)
    assert (lift.revenue.low, lift.revenue.high) == pytest.approx((low, high), rel=1e-9)
    assert lift.revenue.p_value == pytest.approx(scipy_result.pvalue, rel=1e-8)
    assert lift.incremental_revenue.value == pytest.approx(lift.revenue.value * n1)
    assert lift.incremental_revenue.high == pytest.approx(high * n1, rel=1e-9)


def test_relative_revenue_is_the_delta_method_on_the_ratio_of_means() -> None:
    rng = np.random.default_rng(3)
    y1, y0 = revenue(rng, 3000, 0.35), revenue(rng, 1500, 0.3)
    lift = compare(sums(y1), sums(y0), confidence=0.9)

    def ratio(means: FloatArray) -> float:
        return float(means[0] / means[1])

    # The delta method from its definition: a numerical gradient and the covariance of the means.
    means = np.array([y1.mean(), y0.mean()])
    step = 1e-6 * means
    gradient = np.array(
        [(ratio(means + d) - ratio(means - d)) / (2 * d.sum()) for d in np.diag(step)]
    )
    covariance = np.diag([np.var(y1, ddof=1) / len(y1), np.var(y0, ddof=1) / len(y0)])
    se = math.sqrt(gradient @ covariance @ gradient)
    z = stats.norm.ppf(0.95)
    relative = lift.revenue_relative
    assert relative.value == pytest.approx(ratio(means) - 1, rel=1e-12)
    assert (relative.low, relative.high) == pytest.approx(
        (ratio(means) - 1 - z * se, ratio(means) - 1 + z * se), rel=1e-6
    )
    assert relative.p_value == pytest.approx(
        2 * stats.norm.sf(abs(ratio(means) - 1) / se), rel=1e-5
    )


def test_cuped_is_welch_on_the_adjusted_revenue_with_the_pooled_slope() -> None:
    rng = np.random.default_rng(4)
    x = revenue(rng, 3000, 0.4)
    y = 0.6 * x + revenue(rng, 3000, 0.3)
    y[:2000] *= 1.05
    lift = compare(sums(y[:2000], x[:2000]), sums(y[2000:], x[2000:]))
    theta = stats.linregress(x, y).slope  # y on x over both groups pooled
    adjusted = y - theta * (x - x.mean())
    oracle = stats.ttest_ind(adjusted[:2000], adjusted[2000:], equal_var=False)
    assert lift.cuped_theta == pytest.approx(theta, rel=1e-9)
    assert lift.revenue.value == pytest.approx(
        adjusted[:2000].mean() - adjusted[2000:].mean(), rel=1e-9
    )
    assert (lift.revenue.low, lift.revenue.high) == pytest.approx(
        oracle.confidence_interval(0.95), rel=1e-8
    )
    assert lift.revenue.p_value == pytest.approx(oracle.pvalue, rel=1e-7)
    plain = stats.ttest_ind(y[:2000], y[2000:], equal_var=False).confidence_interval(0.95)
    assert lift.revenue_width_unadjusted == pytest.approx(plain.high - plain.low, rel=1e-9)
    assert lift.revenue_width < lift.revenue_width_unadjusted
    assert 0 < lift.variance_reduction < 1


def test_cuped_off_or_without_pre_period_revenue() -> None:
    rng = np.random.default_rng(5)
    y1, y0 = revenue(rng, 100), revenue(rng, 100)
    off = compare(sums(y1, y1), sums(y0, y0), cuped=False)
    assert (off.cuped, off.cuped_theta, off.cuped_reason) == (False, None, None)
    assert off.revenue == off.revenue_unadjusted
    assert off.variance_reduction is None
    none = compare(sums(y1), sums(y0))
    assert none.cuped_reason == "no pre-period revenue"
    flat = compare(sums(y1, np.full(100, 3.0)), sums(y0, np.full(100, 3.0)))
    assert flat.cuped_reason == "pre-period revenue does not vary"


# --- small and degenerate groups ----------------------------------------------------------------


def test_a_group_under_two_recipients_gives_reasons_not_numbers() -> None:
    lift = compare(proportion(1, 1), proportion(3, 10))
    for estimate in estimates(lift):
        assert (estimate.value, estimate.low, estimate.high, estimate.p_value) == (None,) * 4
        assert estimate.reason == "the treatment group has 1 recipient(s); at least 2 are needed"
    empty = compare(proportion(3, 10), GroupSums(0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0))
    assert empty.conversion.reason is not None
    assert "control group has 0" in empty.conversion.reason


def test_no_purchaser_anywhere() -> None:
    lift = compare(proportion(0, 500), proportion(0, 100))
    assert lift.conversion.value == 0
    assert lift.conversion.low is not None
    assert lift.conversion.low < 0 < lift.conversion.high
    assert (lift.conversion.p_value, lift.conversion.reason) == (
        None,
        "no p-value: no purchaser in either group",
    )
    assert lift.conversion_relative.value is None
    assert lift.conversion_relative.reason is not None
    assert "no purchaser in the control" in lift.conversion_relative.reason
    assert (lift.revenue.value, lift.revenue.low) == (0.0, None)
    assert lift.revenue.reason == "revenue does not vary in either group"
    assert lift.revenue_relative.reason == "control revenue per recipient is not positive: no ratio"


def test_no_purchaser_in_the_treatment_only() -> None:
    relative = compare(proportion(0, 500), proportion(4, 100)).conversion_relative
    assert (relative.value, relative.low, relative.p_value) == (-1.0, None, None)
    assert relative.reason == "no purchaser in the treatment group: no interval"


def test_bad_levels_are_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"^confidence must be between 0 and 1 \(exclusive\)"):
        compare(proportion(1, 5), proportion(1, 5), confidence=95)
    with pytest.raises(ValueError, match=r"^power must be between 0 and 1"):
        mde_conversion(0.1, 100, 100, power=80)


recipients = st.lists(
    st.tuples(
        st.integers(0, 3), st.floats(0, 1e4, allow_subnormal=False), st.sampled_from([0.0, 9.5])
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(recipients, recipients, st.booleans())
def test_any_groups_give_finite_estimates_around_their_value(
    treated: list[tuple[int, float, float]], held: list[tuple[int, float, float]], cuped: bool
) -> None:
    def group(rows: list[tuple[int, float, float]]) -> GroupSums:
        orders = np.array([r[0] for r in rows], dtype=int)
        y = np.array([r[1] if r[0] else 0.0 for r in rows])
        return sums(y, np.array([r[2] for r in rows]), orders)

    lift = compare(group(treated), group(held), cuped=cuped)
    for estimate in estimates(lift):
        numbers = (estimate.value, estimate.low, estimate.high, estimate.p_value)
        assert all(v is None or math.isfinite(v) for v in numbers)
        assert all(v is not None for v in numbers) or estimate.reason
        if estimate.low is not None and estimate.high is not None and estimate.value is not None:
            slack = 1e-9 * max(1.0, abs(estimate.value))
            assert estimate.low - slack <= estimate.value <= estimate.high + slack
        if estimate.p_value is not None:
            assert 0 <= estimate.p_value <= 1


# --- minimum detectable effect against statsmodels ------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "n_treatment", "n_control", "alpha", "power"),
    [
        (0.05, 10_000, 10_000, 0.05, 0.8),
        (0.05, 90_000, 10_000, 0.05, 0.8),
        (0.2, 500, 100, 0.05, 0.8),
        (0.01, 1_000_000, 50_000, 0.01, 0.9),
        (0.5, 40, 40, 0.1, 0.5),
    ],
)
def test_mde_is_where_statsmodels_power_reaches_the_target(
    baseline: float, n_treatment: int, n_control: int, alpha: float, power: float
) -> None:
    mde = mde_conversion(baseline, n_treatment, n_control, alpha=alpha, power=power)
    assert mde is not None

    def statsmodels_power(uplift: float) -> float:
        return power_proportions_2indep(
            uplift, baseline, n_treatment, ratio=n_control / n_treatment, alpha=alpha
        ).power

    assert statsmodels_power(mde) == pytest.approx(power, abs=1e-9)
    assert statsmodels_power(mde * 0.999) < power


def test_mde_shrinks_with_the_control_and_is_none_when_nothing_is_detectable() -> None:
    sizes = [100, 1000, 10_000, 100_000]
    mdes = [mde_conversion(0.03, 100_000, n) for n in sizes]
    assert all(a is not None and b is not None and a > b for a, b in itertools.pairwise(mdes))
    assert mde_conversion(0.0, 100, 100) is None
    assert mde_conversion(0.03, 100, 0) is None
    assert mde_conversion(0.9, 2, 2) is None  # even p1 = 1 is not detectable with 2 and 2


# --- coverage on seeded simulations ------------------------------------------------------------
#
# Each simulated recipient has a purchase rate λ ~ Gamma(0.3, scale 2) (most rarely buy, a few
# often) and an order value v ~ LogNormal(log 40, 0.6). Pre-period revenue x = Poisson(λ) · v;
# window revenue y = Poisson(λ (1 + uplift)) · v in the treatment, uplift 0 in the control. x
# and y share λ and v, so CUPED has something to remove. The true lifts follow in closed form:
# P(buy) = 1 - (1 + 2 (1 + u))^-0.3, E[y] = 0.6 (1 + u) E[v].

SHAPE, SCALE, LOG_VALUE, SPREAD = 0.3, 2.0, math.log(40), 0.6
N_TREATMENT, N_CONTROL, UPLIFT = 4000, 2000, 0.1


def true_lifts(uplift: float) -> dict[str, float]:
    def conversion(u: float) -> float:
        return 1 - (1 + SCALE * (1 + u)) ** -SHAPE

    mean_value = math.exp(LOG_VALUE + SPREAD**2 / 2)
    return {
        "conversion": conversion(uplift) - conversion(0),
        "conversion_relative": conversion(uplift) / conversion(0) - 1,
        "revenue": uplift * SHAPE * SCALE * mean_value,
        "revenue_relative": uplift,
    }


def simulated_groups(rng: np.random.Generator, sims: int, n: int, uplift: float) -> list[GroupSums]:
    rate = rng.gamma(SHAPE, SCALE, (sims, n))
    value = rng.lognormal(LOG_VALUE, SPREAD, (sims, n))
    x = rng.poisson(rate) * value
    orders = rng.poisson(rate * (1 + uplift))
    y = orders * value
    columns = zip(
        (orders > 0).sum(1),
        orders.sum(1),
        y.sum(1),
        (y * y).sum(1),
        x.sum(1),
        (x * x).sum(1),
        (x * y).sum(1),
        strict=True,
    )
    return [GroupSums(n, int(p), int(o), *map(float, rest)) for p, o, *rest in columns]


def simulate(seed: int, sims: int, uplift: float) -> tuple[list[Lift], list[Lift]]:
    """``sims`` experiments: their lifts with CUPED and without (in batches to bound memory)."""
    rng = np.random.default_rng(seed)
    with_cuped: list[Lift] = []
    without: list[Lift] = []
    for start in range(0, sims, 250):
        batch = min(250, sims - start)
        treated = simulated_groups(rng, batch, N_TREATMENT, uplift)
        held = simulated_groups(rng, batch, N_CONTROL, 0.0)
        with_cuped += [compare(t, c) for t, c in zip(treated, held, strict=True)]
        without += [compare(t, c, cuped=False) for t, c in zip(treated, held, strict=True)]
    return with_cuped, without


def coverage(lifts: list[Lift], name: str, truth: float) -> float:
    intervals = [getattr(lift, name) for lift in lifts]
    return float(np.mean([e.low <= truth <= e.high for e in intervals]))


def rejections(lifts: list[Lift], name: str) -> float:
    return float(np.mean([getattr(lift, name).p_value < 0.05 for lift in lifts]))


def rates(seed: int, sims: int) -> dict[str, float]:
    """Coverage with a known uplift and without one, and the no-effect runs' rejection rate."""
    found: dict[str, float] = {}
    for uplift, label in ((UPLIFT, "effect"), (0.0, "null")):
        cuped, plain = simulate(seed if uplift else seed + 1, sims, uplift)
        for name, truth in true_lifts(uplift).items():
            found[f"{label} cover {name}"] = coverage(cuped, name, truth)
        found[f"{label} cover revenue without CUPED"] = coverage(
            plain, "revenue", true_lifts(uplift)["revenue"]
        )
        if not uplift:
            for name in ("conversion", "conversion_relative", "revenue", "revenue_relative"):
                found[f"null reject {name}"] = rejections(cuped, name)
            found["null reject revenue without CUPED"] = rejections(plain, "revenue")
        widths = [lift.revenue_width / lift.revenue_width_unadjusted for lift in cuped]
        found[f"{label} CUPED width ratio"] = float(np.median(widths))
        found[f"{label} CUPED narrower"] = float(np.mean(np.array(widths) < 1))
    return found


def out_of_band(found: dict[str, float], tolerance: float) -> dict[str, float]:
    """The rates off their target (0.95 coverage, 0.05 rejection) by more than ``tolerance``."""
    return {
        name: rate
        for name, rate in found.items()
        if ("cover" in name and abs(rate - 0.95) > tolerance)
        or ("reject" in name and abs(rate - 0.05) > tolerance)
    }


@pytest.mark.slow
def test_200_simulations_cover_the_truth_and_reject_at_5_percent() -> None:
    # The test: 200 seeded runs with a 10 % uplift whose 95 % intervals cover the true
    # lift in 93-97 %, and 200 without an uplift whose tests reject in 3-7 %, with CUPED and
    # without. Over 200 runs a rate has a binomial sd of 1.5 points, so a perfectly calibrated
    # method lands in such a band with probability ~0.86 per rate, and all ten together hold
    # for about one seed in four (8 of the seeds 100-129 here). So the seed is fixed (14, the
    # first one tried), and the 2000-run test below checks the calibration against the binomial
    # sd instead, which holds for almost any seed.
    found = rates(seed=14, sims=200)
    required = {k: v for k, v in found.items() if "effect cover" in k or "null reject" in k}
    assert len(required) == 10
    assert out_of_band(required, 0.02 + 1e-9) == {}
    assert found["effect CUPED width ratio"] < 0.8
    assert found["null CUPED width ratio"] < 0.8
    assert found["effect CUPED narrower"] == found["null CUPED narrower"] == 1.0


@pytest.mark.slow
def test_2000_simulations_are_calibrated_within_three_and_a_half_standard_deviations() -> None:
    # Every rate (coverage with and without an uplift, rejection without, CUPED or not) within
    # 3.5 binomial sd of its target: a calibrated method fails this for ~1 seed in 100.
    sd = math.sqrt(0.95 * 0.05 / 2000)  # 0.49 points
    found = rates(seed=1400, sims=2000)
    assert out_of_band(found, 3.5 * sd) == {}
    assert found["effect CUPED width ratio"] < 0.8


def test_the_results_model_loads_without_scipy() -> None:
    # The engine query imports the model; SciPy loads with the statistics only.
    code = "import sys, herald.core.results.model; print('scipy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    code = "import sys, herald.core.results as r; r.compare; print('scipy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"
