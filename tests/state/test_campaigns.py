"""Campaign operational state: the immutable uid, status compare-and-set, and delete rules."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest

from herald.exceptions import NotFoundError, StateError
from herald.state import CampaignState, StateStore

SPRING = {"audience": {"include": ["vip"]}}
SPRING2 = {"audience": {"include": ["vip", "lapsed"]}}
STATUSES = ["draft", "scheduled", "running", "delivered", "error", "archived"]


def campaign(store: StateStore, name: str = "spring", *, active: bool = False) -> str:
    store.save_draft("campaign", name, SPRING)
    if active:
        store.activate("campaign", name)
    return name


def run_together(*targets) -> list[BaseException]:
    """Run the targets in threads that start at the same moment; return their errors."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def wrapped(target):
        try:
            barrier.wait(timeout=60)
            target()
        except BaseException as err:  # reported by the test, in the main thread
            errors.append(err)

    threads = [threading.Thread(target=wrapped, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


# --- uid ------------------------------------------------------------------------------------


def test_the_uid_is_32_hex_digits_created_on_first_call(store):
    campaign(store)

    uid = store.campaign_uid("spring")

    assert re.fullmatch(r"[0-9a-f]{32}", uid)
    assert store.campaign_uid("spring") == uid


def test_the_uid_never_changes_across_versions_and_activations(store):
    campaign(store)
    uid = store.campaign_uid("spring")

    store.activate("campaign", "spring")
    store.save_draft("campaign", "spring", SPRING2, description="v2")
    store.activate("campaign", "spring")
    store.apply("campaign", "spring", SPRING, status="active")
    store.set_campaign_status("spring", "scheduled")

    assert len(store.versions("campaign", "spring")) == 3
    assert store.campaign_uid("spring") == uid
    assert store.campaign_status("spring").uid == uid


def test_the_uid_is_the_same_from_another_store(store, open_store):
    campaign(store)
    uid = store.campaign_uid("spring")

    assert open_store().campaign_uid("spring") == uid


def test_every_campaign_has_its_own_uid(store):
    uids = {store.campaign_uid(campaign(store, f"c{n}")) for n in range(5)}

    assert len(uids) == 5


def test_concurrent_first_calls_agree_on_the_uid(store, open_store):
    names = [campaign(store, f"race_{n}") for n in range(8)]
    other = open_store()
    seen: dict[str, list[str]] = {name: [] for name in names}

    def ask(each: StateStore):
        def target():
            for name in names:
                seen[name].append(each.campaign_uid(name))

        return target

    def status(each: StateStore):
        def target():
            for name in reversed(names):
                seen[name].append(each.campaign_status(name).uid)

        return target

    errors = run_together(ask(store), ask(other), status(open_store()))

    assert errors == []
    for name in names:
        assert len(seen[name]) == 3
        assert len(set(seen[name])) == 1, name
        assert store.campaign_uid(name) == seen[name][0]


def test_unknown_campaign_is_not_found_with_a_suggestion(store):
    campaign(store, "spring_sale")
    store.save_draft("segment", "vip", {"where": {"all": []}})

    with pytest.raises(NotFoundError, match=r"campaign 'spring_sal' not found; did you mean"):
        store.campaign_uid("spring_sal")
    # A segment's name is not a campaign's.
    for call in (store.campaign_uid, store.campaign_status):
        with pytest.raises(NotFoundError, match="campaign 'vip' not found"):
            call("vip")
    with pytest.raises(NotFoundError, match="campaign 'vip' not found"):
        store.set_campaign_status("vip", "scheduled")


# --- status ---------------------------------------------------------------------------------


def test_a_new_campaign_is_a_draft(store):
    campaign(store)
    before = datetime.now(UTC)

    state = store.campaign_status("spring")

    assert isinstance(state, CampaignState)
    assert (state.name, state.status) == ("spring", "draft")
    assert state.uid == store.campaign_uid("spring")
    assert state.updated_at.tzinfo is UTC
    assert before - timedelta(seconds=5) <= state.updated_at <= datetime.now(UTC)
    assert store.campaign_status("spring") == state


def test_set_status_records_it_with_the_time(store):
    campaign(store)
    first = store.campaign_status("spring")

    scheduled = store.set_campaign_status("spring", "scheduled")

    assert scheduled.status == "scheduled"
    assert scheduled.uid == first.uid
    assert scheduled.updated_at.tzinfo is UTC
    assert scheduled.updated_at >= first.updated_at
    assert store.campaign_status("spring") == scheduled


def test_every_status_can_be_set(store):
    campaign(store)

    for status in [*STATUSES, "draft"]:
        assert store.set_campaign_status("spring", status).status == status
        assert store.campaign_status("spring").status == status


def test_setting_the_current_status_again_writes_nothing(store):
    campaign(store)
    scheduled = store.set_campaign_status("spring", "scheduled")

    assert store.set_campaign_status("spring", "scheduled", expected="scheduled") == scheduled
    assert store.campaign_status("spring").updated_at == scheduled.updated_at


def test_compare_and_set_succeeds_from_an_expected_status(store):
    campaign(store)

    store.set_campaign_status("spring", "scheduled", expected="draft")
    state = store.set_campaign_status("spring", "running", expected=["scheduled", "error"])

    assert state.status == "running"
    store.set_campaign_status("spring", "error", expected={"running"})
    assert store.set_campaign_status("spring", "running", expected=("scheduled", "error")).status


def test_compare_and_set_refuses_and_names_the_current_status(store):
    campaign(store)
    scheduled = store.set_campaign_status("spring", "scheduled")

    # "A scheduled campaign must be unscheduled before it is edited."
    with pytest.raises(StateError) as caught:
        store.set_campaign_status("spring", "draft", expected="draft")
    assert str(caught.value) == (
        "campaign 'spring' is scheduled, not draft; it cannot be set to draft"
    )
    with pytest.raises(StateError, match=r"is scheduled, not delivered or error;"):
        store.set_campaign_status("spring", "archived", expected=["error", "delivered"])

    assert store.campaign_status("spring") == scheduled


def test_a_refused_first_call_leaves_the_campaign_a_draft(store):
    campaign(store)

    with pytest.raises(StateError, match="is draft, not scheduled"):
        store.set_campaign_status("spring", "running", expected="scheduled")

    assert store.campaign_status("spring").status == "draft"


def test_unknown_statuses_are_programming_errors(store):
    campaign(store)

    with pytest.raises(ValueError, match=r"unknown campaign status 'sheduled'; did you mean"):
        store.set_campaign_status("spring", "sheduled")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown campaign status 'done'"):
        store.set_campaign_status("spring", "draft", expected=["draft", "done"])


def test_concurrent_compare_and_set_lets_exactly_one_writer_win(store, open_store):
    names = [campaign(store, f"cas_{n}") for n in range(6)]
    for name in names:
        store.set_campaign_status(name, "scheduled")
    other = open_store()
    wins: list[tuple[str, str]] = []
    refusals: list[str] = []

    def start(each: StateStore, me: str):
        def target():
            for name in names:
                try:
                    each.set_campaign_status(name, "running", expected="scheduled")
                    wins.append((name, me))
                except StateError as err:
                    refusals.append(str(err))

        return target

    errors = run_together(start(store, "a"), start(other, "b"))

    assert errors == []
    assert sorted(name for name, _ in wins) == names
    assert len(refusals) == len(names)
    assert all("is running, not scheduled" in message for message in refusals)


# --- delete ---------------------------------------------------------------------------------


def test_a_draft_campaign_can_be_deleted_with_its_state(store):
    campaign(store, active=True)  # an active version does not stop a draft campaign
    store.campaign_uid("spring")

    store.delete("campaign", "spring")

    assert store.list("campaign") == []
    with pytest.raises(NotFoundError, match="campaign 'spring' not found"):
        store.campaign_status("spring")


def test_a_campaign_whose_state_was_never_asked_for_can_be_deleted(store):
    campaign(store)

    store.delete("campaign", "spring")

    assert store.list("campaign") == []


def test_a_scheduled_campaign_can_be_deleted(store):
    campaign(store, active=True)
    store.set_campaign_status("spring", "scheduled")

    store.delete("campaign", "spring")

    assert store.list("campaign") == []


def test_other_campaigns_cannot_be_deleted(store):
    hints = {
        "delivered": "archive it instead",
        "error": "archive it instead",
        "running": "only draft and scheduled campaigns can be deleted; let the run finish",
        "archived": "archived campaigns are kept with their run history",
    }
    for status, hint in hints.items():
        name = campaign(store, status, active=True)
        state = store.set_campaign_status(name, status)

        with pytest.raises(StateError) as caught:
            store.delete("campaign", name)

        assert str(caught.value) == f"campaign '{status}' is {status}; {hint}"
        assert store.campaign_status(name) == state
        assert len(store.versions("campaign", name)) == 1


def test_a_recreated_name_is_a_new_campaign_with_a_new_uid(store):
    campaign(store)
    old = store.campaign_uid("spring")
    store.delete("campaign", "spring")

    campaign(store)

    assert store.campaign_uid("spring") != old
    assert store.campaign_status("spring").status == "draft"


def test_deleting_an_unknown_campaign_is_not_found(store):
    with pytest.raises(NotFoundError, match="campaign 'spring' not found; no campaigns exist yet"):
        store.delete("campaign", "spring")


def test_segments_keep_their_own_delete_rule(store):
    store.save_draft("segment", "vip", {"where": {"all": []}})
    store.activate("segment", "vip")

    with pytest.raises(StateError, match="segment 'vip' cannot be deleted: version 1 is active"):
        store.delete("segment", "vip")
