"""Import jobs that a failed delivery left ``sent`` are settled before the next run diffs the
list: what they added joins the ledger, so Herald removes it once it leaves the group and the
list stays exact (DESIGN §1.4, "Herald removes only profiles that it added")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest

from herald.destinations.klaviyo_api.api import ImportJob
from herald.destinations.klaviyo_api.client import KlaviyoClient
from herald.exceptions import FatalSyncError
from herald.sandbox import FaultSpec
from herald.sandbox.faults import FaultInjector

pytestmark = pytest.mark.timeout(120)

Env = Any
BATCH = 25  # profiles per import batch: 100 profiles make 4 batches, all sent at once
BATCHES = 4
POLLS_FAIL = "4xx=1,status=418,only=get_bulk_import_profiles_job+get_bulk_import_profiles_jobs"


def faults(env: Env, spec: str) -> None:
    env.server.sandbox.faults = FaultInjector(FaultSpec.parse(spec), seed=1)


def imported(env: Env) -> int:
    """Profiles sent in bulk imports so far."""
    return sum(job.total_count for job in env.server.state.jobs())


class PollsAfterSends(KlaviyoClient):
    """A client whose polls wait until all the delivery's imports are sent.

    The failing poll then cannot cut a send short: on a loaded machine the first poll (a
    moment after the first send returns) could otherwise come while the other sends are on
    the wire, and its error would cancel them before they are ``sent``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sends = 0
        self._all_sent = asyncio.Event()

    async def start_import_encoded(self, profiles_json: Sequence[str], list_id: str) -> str:
        job_id = await super().start_import_encoded(profiles_json, list_id)
        self._sends += 1
        if self._sends == BATCHES:
            self._all_sent.set()  # the sync records this batch sent before the poller runs
        return job_id

    async def get_import(self, job_id: str) -> ImportJob:
        await self._all_sent.wait()
        return await super().get_import(job_id)

    async def recent_imports(self) -> dict[str, ImportJob]:
        await self._all_sent.wait()
        return await super().recent_imports()


def failed_with_jobs_sent(env: Env, keys: range) -> Any:
    """A first sync of ``keys`` whose imports are all sent but never polled: failed, its batches
    ``sent``; the sandbox completes the jobs anyway, so the profiles are in the list."""
    faults(env, POLLS_FAIL)
    run_id = env.new_run()
    with pytest.raises(FatalSyncError, match="418"):
        env.sync("Members", env.customers(keys), run_id=run_id, import_profiles=BATCH,
                 jobs_in_flight=10, sends_at_once=10, client_class=PollsAfterSends)  # fmt: skip
    faults(env, "")
    [failed] = env.store.run_deliveries(run_id)
    assert failed.status == "failed"
    batches = env.store.batches(failed.id)
    assert [b.status for b in batches] == ["sent"] * BATCHES
    deadline = time.monotonic() + 10
    while env.members("Members") != env.emails(keys) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env.members("Members") == env.emails(keys)
    return failed


def test_jobs_a_failed_delivery_left_sent_are_settled_and_the_next_run_ends_exact(
    env: Env,
) -> None:
    failed = failed_with_jobs_sent(env, range(100))
    sent_before = imported(env)

    # The group changed meanwhile: 0..49 left it, 100..149 joined.
    result = env.sync("Members", env.customers(range(50, 150)), import_profiles=BATCH)

    assert result.status == "done"
    assert env.members("Members") == env.emails(range(50, 150))  # those who left are removed
    assert result.counts["removes"] == 50
    assert result.counts["adds"] == 50  # the 50 still in the group were not sent again
    assert imported(env) - sent_before == 50
    earlier = env.store.get_delivery(failed.id)
    assert earlier.status == "failed"
    assert {b.status for b in env.store.batches(failed.id)} == {"confirmed"}
    # Settled once: a later run finds nothing left to poll.
    assert env.store.unsettled_deliveries("klaviyo", "Members", env.new_run()) == []


def test_a_job_klaviyo_does_not_know_does_not_hold_up_the_next_run(env: Env) -> None:
    failed = failed_with_jobs_sent(env, range(100))
    first = env.store.batches(failed.id)[0]
    env.store.set_batch(failed.id, first.seq, "sent", job_id="01JUNKNOWNJOB0000000000000")

    result = env.sync("Members", env.customers(range(50, 150)), import_profiles=BATCH)

    assert result.status == "done"
    statuses = [b.status for b in env.store.batches(failed.id)]
    assert statuses == ["failed", "confirmed", "confirmed", "confirmed"]
    # The unknown job's 25 profiles are in the list but not in the ledger: the known jobs'
    # profiles that left are removed; the others cannot be (Herald did not see them added).
    assert env.members("Members") == env.emails(range(50, 150)) | env.emails(range(25))
    assert env.store.unsettled_deliveries("klaviyo", "Members", env.new_run()) == []
