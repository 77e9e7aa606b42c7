"""List sync against the sandbox over HTTP: incremental syncs, several lists, lists found by
name, invalid records, identity conflicts, whole-request rejections, scopes, reconcile."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from herald.destinations.klaviyo_api import _errors as P
from herald.destinations.klaviyo_api.client import KlaviyoClient
from herald.exceptions import FatalSyncError
from herald.sandbox import DEFAULT_API_KEY, ApiKey, SandboxConfig

Env = Any


def imports(env: Env) -> int:
    return sum(n for (op, status), n in env.server.state.request_counts().items()
               if op == "bulk_import_profiles" and status == 202)  # fmt: skip


def test_incremental_sync_adds_joiners_removes_leavers_and_updates_changes(env: Env) -> None:
    env.sync("Spring_A", env.customers(range(300)))
    before = imports(env)
    rows = env.customers(range(50, 350))  # 0-49 leave, 300-349 join
    for row in rows[:10]:  # 50-59 change an attribute
        row["tier"] = "silver"

    result = env.sync("Spring_A", rows)

    assert env.members("Spring_A") == env.emails(range(50, 350))
    c = result.counts
    assert (c["adds"], c["updates"], c["removes"], c["unchanged"]) == (50, 10, 50, 240)
    assert (c["sent"], c["removed"], c["ledger"]) == (60, 50, 300)
    assert imports(env) - before == 2  # one add batch, one update batch
    tiers = {p.email: p.attributes["properties"]["tier"] for p in env.server.state.profiles()}
    assert tiers["c50@example.com"] == "silver"

    again = env.sync("Spring_A", rows)  # nothing changed: nothing is sent
    assert (again.counts["adds"], again.counts["updates"], again.counts["removes"]) == (0, 0, 0)
    assert imports(env) - before == 2


def test_leavers_ids_are_looked_up_100_at_a_time_when_that_is_cheaper(env: Env) -> None:
    """2,000 members, 250 leave: three filtered look-ups cost less than 20 member pages."""
    env.sync("Lookups", env.customers(range(2_000)), import_profiles=1_000)
    before = env.server.state.request_counts()
    result = env.sync("Lookups", env.customers(range(250, 2_000)), import_profiles=1_000)

    assert result.counts["removes"] == 250
    assert env.members("Lookups") == env.emails(range(250, 2_000))
    after = env.server.state.request_counts()
    # three look-ups (and no scope probe)
    assert after[("get_profiles", 200)] - before.get(("get_profiles", 200), 0) == 3
    assert after.get(("get_profiles_for_list", 200), 0) == 0


def test_several_groups_and_lists_in_one_run(env: Env) -> None:
    run_id = env.new_run()
    a = env.sync("Spring_A", env.customers(range(120)), run_id=run_id)
    b = env.sync("Spring_B", env.customers(range(120, 200)), run_id=run_id)

    assert env.members("Spring_A") == env.emails(range(120))
    assert env.members("Spring_B") == env.emails(range(120, 200))
    assert a.list_id != b.list_id
    assert [d.list_name for d in env.store.run_deliveries(run_id)] == ["Spring_A", "Spring_B"]


def test_an_existing_list_is_found_by_name_once(env: Env) -> None:
    existing = env.server.state.create_list("Spring_A", None)

    def look_ups() -> int:
        return sum(
            n for (op, _), n in env.server.state.request_counts().items() if op == "get_lists"
        )

    env.sync("Spring_A", env.customers(range(10)))
    first = look_ups()  # the look-up by name
    env.sync("Spring_A", env.customers(range(12)))

    counts = env.server.state.request_counts()
    assert not any(op == "create_list" and status < 300 for op, status in counts)
    # Each delivery: one look-up by name (which notices a deleted list), no scope probe.
    assert look_ups() - first == 1
    assert env.store.list_id("klaviyo", "Spring_A") == existing.id
    assert env.members("Spring_A") == env.emails(range(12))


def test_a_list_deleted_in_klaviyo_is_created_again_and_refilled(env: Env) -> None:
    env.sync("Spring_A", env.customers(range(10)))
    old_id = env.store.list_id("klaviyo", "Spring_A")
    assert old_id is not None
    env.server.state.delete_list(old_id)

    env.sync("Spring_A", env.customers(range(11)))

    new_id = env.store.list_id("klaviyo", "Spring_A")
    assert new_id not in (None, old_id)
    # The new list's ledger starts empty, so every member is added again, not just the new one.
    assert env.members("Spring_A") == env.emails(range(11))


def test_invalid_emails_and_phones_are_skipped_and_never_sent(env: Env) -> None:
    rows = env.customers(range(5), phones=True)
    rows[1]["email"] = "not an email"
    rows[2]["phone"] = "12345"  # the phone is blanked, the profile is sent
    result = env.sync("Spring_A", rows)

    outcomes = {o["key"]: o for o in env.rows(result.outcomes)}
    assert outcomes["k0000001"]["outcome"] == "skipped_invalid"
    assert outcomes["k0000001"]["reason"] == "invalid_email"
    assert outcomes["k0000002"]["outcome"] == "sent"
    assert result.counts["skipped_invalid"] == 1
    assert env.members("Spring_A") == env.emails([0, 2, 3, 4])
    sent = {p.email for p in env.server.state.profiles()}
    assert "not an email" not in sent
    assert env.server.state.find_profile(email="c2@example.com").phone_number is None


def test_identity_conflicts_are_rejected_with_a_reason_and_retried_next_run(env: Env) -> None:
    # Customer 3's email and phone belong to two different existing Klaviyo profiles.
    env.server.state.create_profile({"email": "c3@example.com"})
    env.server.state.create_profile({"phone_number": "+12065550003", "email": "other@example.com"})
    rows = env.customers(range(6), phones=True)

    first = env.sync("Spring_A", rows)

    outcomes = {o["key"]: o for o in env.rows(first.outcomes)}
    assert outcomes["k0000003"]["outcome"] == "rejected"
    assert "duplicate_profile" in outcomes["k0000003"]["reason"]
    assert "@" not in outcomes["k0000003"]["reason"]
    assert first.counts["rejected"] == 1
    assert env.members("Spring_A") == env.emails([0, 1, 2, 4, 5])

    second = env.sync("Spring_A", rows)  # not in the ledger: tried again

    assert second.counts["adds"] == 1
    assert {o["key"]: o["outcome"] for o in env.rows(second.outcomes)} == {"k0000003": "rejected"}


class Poisoned(KlaviyoClient):
    """Klaviyo answering 400 to any import that holds one bad profile (as it does for one bad
    field: FACTS §7), which the sandbox's valid-by-construction profiles never trigger."""

    async def start_import_encoded(self, profiles: Any, list_id: str) -> str:
        if any(orjson.loads(p).get("email") == "c37@example.com" for p in profiles):
            problem = P.ApiProblem(
                "bulk_import_profiles",
                400,
                "invalid",
                "Invalid input.",
                "'first_name' is not valid.",
                "/data/attributes/profiles/data/3",
            )
            raise P.error_from_problem(problem)
        return await super().start_import_encoded(profiles, list_id)


def test_a_request_rejected_as_a_whole_is_halved_until_the_bad_profile_is_alone(env: Env) -> None:
    result = env.sync("Spring_A", env.customers(range(100)), client_class=Poisoned)

    assert result.status == "done"
    outcomes = {o["key"]: o for o in env.rows(result.outcomes)}
    assert outcomes["k0000037"]["outcome"] == "rejected"
    assert "'first_name' is not valid" in outcomes["k0000037"]["reason"]
    assert result.counts["rejected"] == 1
    assert env.members("Spring_A") == env.emails(set(range(100)) - {37})
    batches = env.store.batches(result.delivery_id)
    assert sum(b.status == "split" for b in batches) == 6  # 100 → 50 → 25 → 13 → 6 → 3 → 1
    assert {b.status for b in batches} == {"split", "confirmed"}


READ_ONLY = ApiKey("pk_read_only_0000000000000000", frozenset({"lists:read", "profiles:read"}))


@pytest.mark.parametrize(
    "sandbox_config", [SandboxConfig(api_keys=[ApiKey(DEFAULT_API_KEY), READ_ONLY], job_tick=0.01)]
)
def test_a_key_without_scopes_fails_on_the_first_403_naming_the_scope(env: Env) -> None:
    run_id = env.new_run()
    with pytest.raises(FatalSyncError) as caught:
        env.sync("Spring_A", env.customers(range(10)), run_id=run_id, key=READ_ONLY.key)

    assert str(caught.value) == (
        "destination 'klaviyo': the API key lacks the lists:write scope (needed to create "
        "lists): give the key that scope in Klaviyo"
    )
    # No probe: the list look-up, then the one refused create.
    assert env.server.state.request_counts() == {("get_lists", 200): 1, ("create_list", 403): 1}
    [delivery] = env.store.run_deliveries(run_id)
    assert delivery.status == "failed"
    assert env.store.batches(delivery.id) == []


@pytest.mark.parametrize(
    "sandbox_config", [SandboxConfig(limits="10", job_tick=0.01, bounce_share=0.1, seed=3)]
)
def test_reconcile_repairs_drift_marks_bounces_and_leaves_foreign_members(env: Env) -> None:
    rows = env.customers(range(200))
    env.sync("Spring_A", rows)
    bounced = env.emails(range(200)) - env.members("Spring_A")
    assert 5 < len(bounced) < 40  # Klaviyo removed the bounced profiles from the list
    state = env.server.state
    list_id = env.list_id("Spring_A")
    drifted = state.find_profile(email=min(env.emails(range(200)) - bounced))
    state.remove_members(list_id, [drifted.id])  # someone removed a member by hand
    for n in range(20):  # someone added a member Herald did not add (one that does not bounce)
        foreign = state.create_profile({"email": f"foreign{n}@example.com"})
        state.add_members(list_id, [foreign.id])
        if foreign.id in state.list_members(list_id):
            break

    result = env.sync("Spring_A", rows, reconcile=True)

    assert env.members("Spring_A") == env.emails(range(200)) - bounced | {foreign.email}
    c = result.counts
    assert (c["repairs"], c["bounced_now"], c["foreign"]) == (len(bounced) + 1, len(bounced), 1)
    ledger = env.rows(env.root / "lists" / "klaviyo" / f"{list_id}.parquet")
    assert sum(r["status"] == "bounced" for r in ledger) == len(bounced)

    before = imports(env)
    again = env.sync("Spring_A", rows, reconcile=True)  # bounced profiles are not re-added

    assert (again.counts["repairs"], again.counts["bounced"], again.counts["adds"]) == (
        0,
        len(bounced),
        0,
    )
    assert imports(env) == before
    assert foreign.email in env.members("Spring_A")
