"""Insights history: appended per refresh, read back oldest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from herald.exceptions import NotFoundError
from herald.state import InsightsRecord

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
METRICS = {"unique_customers": 1200, "revenue_l12m": 45678.9, "email_share": None}


@pytest.fixture
def segment(store):
    store.save_draft("segment", "vip", {"where": {"all": []}})
    store.activate("segment", "vip")
    return store


def test_record_and_read_back(segment):
    record = segment.record_insights(
        "vip", 1, METRICS, computed_at=T0, as_of=T0 - timedelta(days=1)
    )

    assert record == InsightsRecord("vip", 1, METRICS, T0, T0 - timedelta(days=1))
    assert segment.insights_history("vip") == [record]


def test_history_is_oldest_first_whatever_the_insert_order(segment):
    times = [T0 + timedelta(hours=h) for h in (5, 1, 3, 2, 4)]
    for hour, at in zip((5, 1, 3, 2, 4), times, strict=True):
        segment.record_insights("vip", 1, {"unique_customers": hour}, computed_at=at)

    history = segment.insights_history("vip")

    assert [r.metrics["unique_customers"] for r in history] == [1, 2, 3, 4, 5]
    assert [r.computed_at for r in history] == sorted(times)


def test_limit_keeps_the_newest_records_oldest_first(segment):
    for hour in range(6):
        segment.record_insights("vip", 1, {"n": hour}, computed_at=T0 + timedelta(hours=hour))

    assert [r.metrics["n"] for r in segment.insights_history("vip", limit=3)] == [3, 4, 5]
    assert segment.insights_history("vip", limit=0) == []


def test_times_come_back_in_utc(segment):
    paris = timezone(timedelta(hours=2))
    segment.record_insights(
        "vip", 1, METRICS, computed_at=datetime(2026, 3, 1, 14, 0, tzinfo=paris)
    )

    (record,) = segment.insights_history("vip")

    assert record.computed_at == T0
    assert record.computed_at.tzinfo is UTC
    assert record.as_of is None


def test_history_spans_versions(segment):
    segment.record_insights("vip", 1, {"n": 1}, computed_at=T0)
    segment.save_draft("segment", "vip", {"where": {"any": []}})
    segment.activate("segment", "vip")
    segment.record_insights("vip", 2, {"n": 2}, computed_at=T0 + timedelta(days=1))

    assert [(r.version, r.metrics["n"]) for r in segment.insights_history("vip")] == [
        (1, 1),
        (2, 2),
    ]


def test_unknown_segment_or_version(segment):
    with pytest.raises(NotFoundError, match=r"segment 'vp' not found; did you mean 'vip'\?"):
        segment.record_insights("vp", 1, METRICS, computed_at=T0)
    with pytest.raises(NotFoundError, match="segment 'vip' has no version 2; it has version 1"):
        segment.record_insights("vip", 2, METRICS, computed_at=T0)
    with pytest.raises(NotFoundError, match="segment 'nope' not found"):
        segment.insights_history("nope")
    assert segment.insights_history("vip") == []


def test_naive_times_and_bad_metrics_are_refused(segment):
    with pytest.raises(ValueError, match="computed_at must be timezone-aware"):
        segment.record_insights("vip", 1, METRICS, computed_at=datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="store None instead"):
        segment.record_insights("vip", 1, {"x": float("inf")}, computed_at=T0)
    with pytest.raises(ValueError, match="must map a name to a number"):
        segment.record_insights("vip", 1, {"x": "many"}, computed_at=T0)  # type: ignore[dict-item]
    assert segment.insights_history("vip") == []


def test_deleting_a_draft_segment_deletes_its_insights(store):
    store.save_draft("segment", "tmp", {"where": {"all": []}})
    store.record_insights("tmp", 1, METRICS, computed_at=T0)

    store.delete("segment", "tmp")
    store.save_draft("segment", "tmp", {"where": {"all": []}})

    assert store.insights_history("tmp") == []
