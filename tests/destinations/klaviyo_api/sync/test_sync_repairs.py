"""``repairs`` counts only drift repairs: members a reconcile found missing and re-added, never
customers whose email changed (those are identity changes)."""

from __future__ import annotations

from typing import Any

Env = Any


def test_changed_emails_without_reconcile_are_identity_changes_not_repairs(env: Env) -> None:
    rows = env.customers(range(40))
    env.sync("Spring_A", rows)
    for row in rows[:5]:  # customers 0-4 change their email
        row["email"] = row["email"].replace("@", ".new@")

    result = env.sync("Spring_A", rows)

    c = result.counts
    assert c["repairs"] == 0
    assert (c["identity_changes"], c["adds"], c["removes"], c["unchanged"]) == (5, 5, 5, 35)
    assert env.members("Spring_A") == {r["email"] for r in rows}


def test_a_member_removed_behind_herald_s_back_is_one_repair_with_reconcile(env: Env) -> None:
    rows = env.customers(range(40))
    env.sync("Spring_A", rows)
    for row in rows[:3]:  # an email change in the same run is still no repair
        row["email"] = row["email"].replace("@", ".new@")
    state = env.server.state
    lost = state.find_profile(email="c10@example.com")
    state.remove_members(env.list_id("Spring_A"), [lost.id])  # removed by hand in Klaviyo

    result = env.sync("Spring_A", rows, reconcile=True)

    c = result.counts
    assert (c["repairs"], c["identity_changes"], c["adds"]) == (1, 3, 4)
    assert env.members("Spring_A") == {r["email"] for r in rows}
