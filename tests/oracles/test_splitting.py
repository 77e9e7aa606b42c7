"""The split oracle's own contract: it refuses shares that are not a split of 100 %.

(Its arithmetic is checked by its doctests and, against production, by every split test.)
"""

from __future__ import annotations

import pytest

from oracles.splitting import largest_remainder


@pytest.mark.parametrize(
    "bps", [[5000, 4000], [5000, 5001], []], ids=["total-90", "total-100.01", "no-groups"]
)
def test_percentages_not_totalling_100_are_refused(bps: list[int]) -> None:
    with pytest.raises(ValueError, match=r"percentages total .* %, not 100 %"):
        largest_remainder(10, bps)


def test_negative_percentages_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        largest_remainder(10, [12_000, -2_000])
