"""Cut a delivery's rows into batches that Klaviyo accepts: pure arithmetic, no I/O.

Bulk imports take ≤ 10,000 profiles in a body of ≤ 5 MB; relationship deletes take ≤ 1,000
profile ids (FACTS §2.3). A batch is a row range of the delivery's diff file.
"""

from __future__ import annotations

import numpy as np

from herald.destinations.klaviyo_api.limits import MAX_IMPORT_BYTES, MAX_IMPORT_PROFILES

# '{"type":"profile","attributes":' + attributes + '}' and the comma before every item but
# the first: what one profile adds to a bulk import body encoded compactly.
ITEM_OVERHEAD = len('{"type":"profile","attributes":}') + 1
# The JSON:API envelope of an import body around the profiles, with a long list id, and a
# margin for the list id Klaviyo actually uses and anything the client adds.
ENVELOPE = 1_000


def import_ranges(
    sizes: np.ndarray, *, max_count: int = MAX_IMPORT_PROFILES, max_bytes: int = MAX_IMPORT_BYTES
) -> list[tuple[int, int]]:
    """Greedy row ranges ``(first, count)`` of ≤ ``max_count`` profiles and ≤ ``max_bytes``.

    Args:
        sizes: each profile's attributes as compact JSON, in bytes, in row order.
        max_count: profiles per batch.
        max_bytes: body bytes per batch, envelope included.

    >>> import_ranges(np.array([10] * 5), max_count=2)
    [(0, 2), (2, 2), (4, 1)]
    >>> import_ranges(np.array([400, 400, 400]), max_count=10, max_bytes=2_000)
    [(0, 2), (2, 1)]
    """
    budget = max_bytes - ENVELOPE
    cost = np.asarray(sizes, dtype=np.int64) + ITEM_OVERHEAD
    ends = np.cumsum(cost)
    ranges: list[tuple[int, int]] = []
    first, total = 0, len(cost)
    while first < total:
        spent = ends[first - 1] if first else 0
        # The last row whose running total still fits; at least one row per batch (a single
        # profile is capped at 100 KB, far below a body).
        fits = int(np.searchsorted(ends, spent + budget, side="right")) - first
        count = max(1, min(max_count, fits, total - first))
        ranges.append((first, count))
        first += count
    return ranges


def fixed_ranges(rows: int, size: int) -> list[tuple[int, int]]:
    """Row ranges of ``size`` rows covering ``rows`` rows.

    >>> fixed_ranges(2_500, 1_000)
    [(0, 1000), (1000, 1000), (2000, 500)]
    """
    return [(first, min(size, rows - first)) for first in range(0, rows, size)]
