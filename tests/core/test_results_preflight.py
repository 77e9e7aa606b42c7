"""Each group's minimum detectable effect before the send (pure): which control it is measured
against, when the control is too small, and why a group has no MDE."""

from __future__ import annotations

import pytest

from herald.core.results.power import mde_conversion
from herald.core.results.preflight import PLAUSIBLE_RELATIVE, GroupPower, group_power
from herald.runs.snapshots import GroupCount


def power_of(counts: list[GroupCount], baselines: dict[str, float | None]) -> dict[str, GroupPower]:
    return {p.group: p for p in group_power(counts, baselines)}


def test_each_treatment_against_its_own_sub_audiences_control() -> None:
    found = power_of(
        [
            GroupCount("A", "Offer", False, 20_000),
            GroupCount("A", "Holdout", True, 20_000),
            GroupCount("B", "Promo", False, 9_800),
            GroupCount("B", "Tiny", True, 200),
        ],
        {"A": 0.05, "B": 0.05},
    )
    offer, promo = found["Offer"], found["Promo"]
    assert offer.control == "Holdout"
    assert offer.mde is not None
    assert offer.relative is not None
    assert promo.relative is not None
    assert offer.mde == pytest.approx(mde_conversion(0.05, 20_000, 20_000))
    assert offer.relative == pytest.approx(offer.mde / 0.05)
    assert offer.relative < PLAUSIBLE_RELATIVE
    assert not offer.too_small
    assert offer.warning() is None
    assert promo.control == "Tiny"
    assert promo.relative > PLAUSIBLE_RELATIVE
    assert promo.too_small
    warning = promo.warning()
    assert warning is not None
    assert warning.startswith("'B' / 'Promo': the control group 'Tiny' is too small")
    assert (found["Holdout"].mde, found["Holdout"].too_small) == (None, False)


def test_groups_without_an_mde_say_why() -> None:
    found = power_of(
        [
            GroupCount("A", "Alone", False, 500),
            GroupCount("B", "Offer", False, 500),
            GroupCount("B", "Empty", True, 0),
            GroupCount("C", "Offer C", False, 500),
            GroupCount("C", "Holdout C", True, 500),
            GroupCount("D", "Offer D", False, 500),
            GroupCount("D", "One", True, 100),
            GroupCount("D", "Two", True, 100),
            GroupCount("E", "Offer E", False, 3),
            GroupCount("E", "Holdout E", True, 1),
        ],
        {"A": 0.1, "B": 0.1, "C": 0.0, "D": 0.1, "E": 0.1},
    )
    assert (found["Alone"].note, found["Alone"].too_small) == (
        "no control group in this sub-audience",
        False,
    )
    assert (found["Offer"].note, found["Offer"].too_small) == (
        "the control group 'Empty' is empty",
        True,
    )
    assert found["Offer"].warning() == (
        "'B' / 'Offer': the control group 'Empty' is empty; enlarge the control group"
    )
    assert found["Offer C"].mde is None
    assert not found["Offer C"].too_small  # no purchase yet: nothing to detect against
    assert found["Offer D"].note is not None
    assert "several control groups" in found["Offer D"].note
    # Four recipients: even p1 = 1 would not reach the power.
    assert (found["Offer E"].mde, found["Offer E"].too_small) == (None, True)
