"""The client against the Klaviyo sandbox over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from herald.destinations.klaviyo_api.client import KlaviyoClient
from herald.destinations.klaviyo_api.retry import RetryPolicy
from herald.exceptions import FatalKlaviyoRequestError, FatalSyncError
from herald.sandbox import DEFAULT_API_KEY, ApiKey, SandboxConfig, SandboxServer

#: Virtual time runs this much faster in the fault tests (clock and sleep scaled together).
SPEED = 20.0


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """Limits off; the job worker runs every 10 ms. Shared by the tests of this module."""
    with SandboxServer(SandboxConfig(limits="off", job_tick=0.01)) as running:
        yield running


async def wait_for(client: KlaviyoClient, job_id: str) -> Any:
    for _ in range(400):
        job = await client.get_import(job_id)
        if job.status in ("complete", "cancelled"):
            return job
        await asyncio.sleep(0.01)
    raise AssertionError("the job did not finish")


def test_every_method(server: SandboxServer, settings: Any, run: Any) -> None:
    async def go() -> None:
        async with KlaviyoClient(settings(server.url)) as c:
            check = await c.check_scopes()
            assert check.key_valid
            assert check.missing == ()
            assert await c.find_list("Every Method") is None
            list_id = await c.create_list("Every Method")
            assert await c.find_list("Every Method") == list_id
            profiles = [{"email": f"m{i}@x.io", "external_id": f"x{i}"} for i in range(230)]
            job_id = await c.start_import([*profiles, {"email": "not-an-email"}], list_id)
            job = await wait_for(c, job_id)
            assert (job.total_count, job.completed_count, job.failed_count) == (231, 230, 1)
            errors = [e async for e in c.import_errors(job_id)]
            assert [(e.code, e.original_payload) for e in errors] == [
                ("invalid", {"email": "not-an-email"})
            ]
            members = [m async for m in c.list_members(list_id)]  # 3 pages of 100
            assert sorted(m.email for m in members) == sorted(p["email"] for p in profiles)
            assert all(m.external_id and m.profile_id for m in members)
            found = await c.find_profiles("email", ["M1@x.io", "m2@x.io", "nobody@x.io"])
            assert set(found) == {"M1@x.io", "m2@x.io"}
            by_ext = await c.find_profiles("external_id", ["x3"])
            await c.remove_from_list(list_id, [*found.values(), *by_ext.values()])
            assert len([m async for m in c.list_members(list_id)]) == 227
            counts = c.request_counts()
            assert counts[("get_profiles_for_list", 200)] == 6
            assert counts[("remove_profiles_from_list", 204)] == 1

    run(go())
    # The sandbox saw exactly what the client counted (probes included): the write probes
    # patch a list and a profile that do not exist, so 404 says the scope is there.
    probes = {("update_list", 404), ("update_profile", 404)}
    assert not [
        r
        for r in server.state.requests()
        if r.status >= 400 and (r.operation, r.status) not in probes
    ]


def test_klaviyo_limits_are_never_exceeded(settings: Any, run: Any) -> None:
    # 25 list creations at Klaviyo's real limits (10/s): the limiter waits instead of a 429.
    with SandboxServer(SandboxConfig(limits="klaviyo", job_tick=None)) as server:

        async def go() -> dict[tuple[str, int], int]:
            async with KlaviyoClient(settings(server.url)) as c:
                ids = await asyncio.gather(*(c.create_list(f"Burst {i}") for i in range(25)))
                assert len(set(ids)) == 25
                return c.request_counts()

        started = time.monotonic()
        counts = run(go())
        elapsed = time.monotonic() - started
        assert counts == {("create_list", 201): 25}
        assert server.state.request_counts() == {("create_list", 201): 25}
        assert 2.0 <= elapsed < 6.0  # 10 + 10 + 5 across three burst windows


def test_a_sandbox_with_scaled_limits_matches_limits_scale(settings: Any, run: Any) -> None:
    with SandboxServer(SandboxConfig(limits="0.2", job_tick=None)) as server:  # create_list 2/s

        async def go() -> dict[tuple[str, int], int]:
            async with KlaviyoClient(settings(server.url, limits_scale=0.2)) as c:
                await asyncio.gather(*(c.create_list(f"Slow {i}") for i in range(3)))
                return c.request_counts()

        assert run(go()) == {("create_list", 201): 3}


@pytest.mark.parametrize(
    "faults", ["5xx=0.3", "drop=0.2", "429=0.15,storm=3", "5xx=0.2,drop=0.1,429=0.05,storm=2"]
)
def test_every_call_succeeds_through_faults(faults: str, settings: Any, run: Any) -> None:
    config = SandboxConfig(limits="off", faults=faults, seed=3, job_tick=0.01)
    with SandboxServer(config) as server:

        async def sleep(seconds: float) -> None:
            await asyncio.sleep(seconds / SPEED)

        def clock() -> float:
            return time.monotonic() * SPEED

        async def go() -> dict[tuple[str, int], int]:
            client = KlaviyoClient(
                settings(server.url),
                clock=clock,
                sleep=sleep,
                retry=RetryPolicy(max_wait=600, rng=random.Random(1)),
            )
            async with client as c:
                list_ids = await asyncio.gather(*(c.create_list(f"F{i}") for i in range(6)))
                assert await c.find_list("F0") == list_ids[0]
                job_id = await c.start_import(
                    [{"email": f"f{i}@x.io"} for i in range(150)], list_ids[0]
                )
                job = await wait_for(c, job_id)
                assert job.completed_count == 150
                members = [m async for m in c.list_members(list_ids[0])]
                assert len(members) == 150
                found = await c.find_profiles("email", [m.email or "" for m in members[:100]])
                assert len(found) == 100
                await c.remove_from_list(list_ids[0], list(found.values()))
                assert len([m async for m in c.list_members(list_ids[0])]) == 50
                assert [e async for e in c.import_errors(job_id)] == []
                return c.request_counts()

        counts = run(go())
        failures = sum(n for (_, status), n in counts.items() if status == 0 or status >= 429)
        assert failures > 0, "the faults were injected"
        # Lists were created exactly once each, even when a POST failed.
        assert sorted(k.name for k in server.state.lists()) == [f"F{i}" for i in range(6)]


def test_a_key_without_profiles_write_is_reported(settings: Any, run: Any) -> None:
    keys = [
        ApiKey("pk_lists_only_000000000000", scopes=frozenset({"lists:write", "profiles:read"})),
        ApiKey("pk_profiles_only_0000000000", scopes=frozenset({"lists:read", "profiles:write"})),
        ApiKey("pk_read_only_00000000000000", scopes=frozenset({"lists:read", "profiles:read"})),
    ]
    with SandboxServer(SandboxConfig(api_keys=keys, limits="off", job_tick=None)) as server:

        async def check(key: str) -> Any:
            async with KlaviyoClient(settings(server.url, key=key)) as c:
                return await c.check_scopes()

        lists_only = run(check(keys[0].key))
        assert lists_only.key_valid
        assert lists_only.missing == ("profiles:write",)
        assert "create a private key with lists:write and profiles:write" in lists_only.detail
        assert run(check(keys[1].key)).missing == ("lists:write",)
        assert run(check(keys[2].key)).missing == ("lists:write", "profiles:write")
        # Nothing was written by the probes.
        assert server.state.lists() == []
        assert server.state.jobs() == []
        assert server.state.profiles() == []


def test_an_invalid_key_is_fatal_and_never_shown(
    server: SandboxServer, settings: Any, run: Any
) -> None:
    wrong = "pk_wrong_key_9f8e7d6c5b4a3210"

    async def go() -> Any:
        async with KlaviyoClient(settings(server.url, key=wrong)) as c:
            result = await c.check_scopes()
            with pytest.raises(FatalKlaviyoRequestError) as info:
                await c.find_list("VIP")
            assert (info.value.problem.status, info.value.problem.code) == (
                401,
                "authentication_failed",
            )
            return result, str(info.value)

    result, message = run(go())
    assert not result.key_valid
    assert "api_key_env" in result.detail
    assert "HTTP 401" in message
    assert "get_lists" in message
    assert wrong not in message
    assert wrong not in result.detail
    assert DEFAULT_API_KEY not in message


@pytest.mark.sandbox_violations  # an email that is a number, for Klaviyo's 400
def test_errors_carry_what_klaviyo_answered(server: SandboxServer, settings: Any, run: Any) -> None:
    # The sync reads these two from ``error.problem``: a job Klaviyo does not know (404) and
    # an import refused as a whole (400).
    async def go() -> list[FatalKlaviyoRequestError]:
        caught = []
        async with KlaviyoClient(settings(server.url)) as c:
            list_id = await c.create_list("Errors")
            with pytest.raises(FatalKlaviyoRequestError) as info:
                await c.get_import("NOSUCHJOB")
            caught.append(info.value)
            with pytest.raises(FatalKlaviyoRequestError) as info:
                await c.start_import([{"email": 5}], list_id)
            caught.append(info.value)
        return caught

    unknown, invalid = run(go())
    assert (unknown.problem.operation, unknown.problem.status, unknown.problem.code) == (
        "get_bulk_import_profiles_job",
        404,
        "not_found",
    )
    assert (invalid.problem.operation, invalid.problem.status, invalid.problem.code) == (
        "bulk_import_profiles",
        400,
        "invalid",
    )
    assert invalid.problem.where == "/data/attributes/profiles/data/0/attributes/email"
    assert invalid.problem.describe() in str(invalid)


def test_the_daily_list_cap_is_fatal(settings: Any, run: Any, fake_time: Any) -> None:
    # At a 0.01 scale the sandbox allows one list a minute and one a day; the client's table
    # says 150. It learns the steady limit from RateLimit-Limit (and waits out the window on
    # its fake clock), then the 429's day-long Retry-After ends the run.
    with SandboxServer(SandboxConfig(limits="0.01", job_tick=None)) as server:

        async def go() -> None:
            async with KlaviyoClient(
                settings(server.url), clock=fake_time, sleep=fake_time.sleep
            ) as c:
                await c.create_list("First")
                try:
                    await c.create_list("Second")
                finally:
                    assert c.limiter.limit("create_list").steady == 1

        with pytest.raises(
            FatalSyncError, match=r"daily cap is reached .* possible again in about"
        ) as info:
            run(go())
    assert isinstance(info.value, FatalKlaviyoRequestError)
    assert (info.value.problem.status, info.value.problem.code) == (429, "throttled")
