"""Every error the state store writes goes in redacted, whoever the caller: no API key, email
or phone number reaches the database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from herald.redact import register_secret
from herald.state import StateStore

AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
KEY = "pk_live_0123456789abcdefghijklmnop"
SECRET = "odd-shaped-secret-value-7f3a"
LEAKS = (KEY, SECRET, "ann@example.com", "zoë@bücher.de", "+1 (206) 555-0100", "2065550100")
WHY = (
    f"Illegal header value b'Klaviyo-API-Key {KEY}\\n'; token {SECRET}; "
    "member ann@example.com / zoë@bücher.de, phone +1 (206) 555-0100 or 2065550100, "
    "at 2026-12-03 00:51"
)


def every_text(store: StateStore) -> str:
    """Every text value of every table, straight from the database."""
    engine = store._engine
    meta = sa.MetaData()
    meta.reflect(bind=engine)
    out = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(sa.select(table)):
                out.extend(str(v) for v in row if isinstance(v, str))
    return "\n".join(out)


def test_stored_errors_and_figures_are_redacted(store: StateStore) -> None:
    register_secret(SECRET)
    store.save_draft("campaign", "spring", {"v": 1})
    store.activate("campaign", "spring")
    run = store.create_run("spring", 1, as_of=AS_OF, pins={})
    delivery = store.start_delivery(run.id, "klaviyo", "All", "A", "Spring_A")
    store.plan_delivery(delivery.id, [("add", 0, 10), ("add", 10, 10)], counts={"why": WHY})
    store.set_batch(delivery.id, 1, "sent", job_id="J1")
    store.set_batch(delivery.id, 1, "failed", error=WHY)
    store.count_batch_attempt(delivery.id, 2, WHY)
    store.split_batch(delivery.id, 2, WHY)
    store.update_delivery(delivery.id, status="failed", error=WHY, counts={"rejected": [WHY]})
    finished = store.finish_run(run.id, "error", error=WHY, stats={"lists": {"A": WHY}, "n": 20})

    text = every_text(store)
    for leak in LEAKS:
        assert leak not in text, leak
    assert "2026-12-03 00:51" in text  # timestamps survive
    assert "[email]" in finished.error  # type: ignore[operator]
    assert store.get_delivery(delivery.id).counts == {
        "rejected": [store.get_delivery(delivery.id).error]
    }
    assert store.get_run(run.id).stats == {"lists": {"A": finished.error}, "n": 20}
