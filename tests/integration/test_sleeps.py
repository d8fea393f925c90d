"""Durable sleeps: per-name queues, no worker held while sleeping, awake, the duration-change rule, limits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aiki import InvalidTransitionError, RunStatus, WorkflowVersion, task, workflow
from aiki.contract import ClaimRequest, RunOutcome
from aiki.durations import MAX_SLEEP_MS
from tests.conftest import Env
from tests.integration.run_watch import sleeping_at, until

nap = workflow(name="nap")


@nap.v("1.0.0")
async def nap_v1(run: Any, input: Any) -> dict[str, Any]:
    result = await run.sleep("nap", input.get("ms", 1_000))
    return {"cancelled": result.cancelled}


def _ticker() -> tuple[WorkflowVersion[Any, list[int]], list[int]]:
    """A fresh ``ticker@1.0.0`` that sleeps then ticks, three times over one sleep name; and its ticks."""
    ticks_done: list[int] = []

    @task(name="tick")
    async def tick(number: int) -> int:
        ticks_done.append(number)
        return number

    @workflow(name="ticker").v("1.0.0")
    async def ticker_v1(run: Any, input: Any) -> list[int]:
        numbers = []
        for number in range(3):
            await run.sleep("between-ticks", 1_000)
            numbers.append(await tick.start(run, number))
        return numbers

    return ticker_v1, ticks_done


async def test_a_sleeping_run_wakes_at_its_wake_time_and_not_before(fake_env: Env) -> None:
    assert fake_env.clock is not None
    await fake_env.start_worker(nap_v1)
    started_at_ms = fake_env.clock.now_ms()
    handle = await nap_v1.start(fake_env.client, {"ms": 5_000})

    run = await until(handle, RunStatus.SLEEPING)
    assert run.state.sleep_name == "nap"
    assert run.state.wake_at_ms == started_at_ms + 5_000

    fake_env.clock.advance(4_999)
    assert await fake_env.server.runtime.tick() == 0
    assert (await handle.refresh()).status is RunStatus.SLEEPING

    fake_env.clock.advance(1)
    assert await fake_env.server.runtime.tick() == 1
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.success and result.state is not None
    assert result.state.output == {"cancelled": False}


async def test_a_sleep_counts_from_when_the_run_asked_not_from_when_its_write_got_the_database(
    fake_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = fake_env.clock
    assert clock is not None
    handle = await nap_v1.start(fake_env.client, {"ms": 5_000})
    request = ClaimRequest(worker_id="w", workflows=[("nap", "1.0.0")], shards=None, limit=1)
    [claimed] = await fake_env.client.transport.claim(request)
    core = fake_env.server.core
    write = core.write

    @contextlib.asynccontextmanager
    async def late_write(**options: Any) -> AsyncIterator[Any]:
        clock.advance(3_000)  # the write waits 3 s for the database (a burst of other writes ahead of it)
        async with write(**options) as opened:
            yield opened

    monkeypatch.setattr(core, "write", late_write)
    asked_at_ms = clock.now_ms()
    await fake_env.client.transport.finish(
        RunOutcome(
            run_id=claimed.run.id,
            claim_token=claimed.claim_token,
            expected_revision=claimed.run.revision,
            kind="sleep",
            name="nap",
            index=0,
            duration_ms=5_000,
        )
    )

    run = await handle.refresh()
    assert run.status is RunStatus.SLEEPING
    assert run.state.wake_at_ms == asked_at_ms + 5_000
    # The timeline still says when the run entered the sleep.
    assert run.updated_at_ms == asked_at_ms + 3_000


async def test_the_same_sleep_name_in_a_loop_sleeps_each_time(fake_env: Env) -> None:
    assert fake_env.clock is not None
    ticker_v1, ticks_done = _ticker()
    await fake_env.start_worker(ticker_v1)
    handle = await ticker_v1.start(fake_env.client)

    for index in range(3):
        await until(handle, sleeping_at(index, "between-ticks"))
        assert ticks_done == list(range(index))
        fake_env.clock.advance(1_000)
        assert await fake_env.server.runtime.tick() == 1

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == [0, 1, 2]
    history = await fake_env.client.get_history(handle.id)
    assert [(sleep.name, sleep.occurrence, sleep.status) for sleep in history.sleeps] == [
        ("between-ticks", 0, "completed"),
        ("between-ticks", 1, "completed"),
        ("between-ticks", 2, "completed"),
    ]
    assert ticks_done == [0, 1, 2]


quick = workflow(name="quick")


@quick.v("1.0.0")
async def quick_v1(run: Any, input: Any) -> str:
    return "done"


async def test_a_sleeping_run_holds_no_worker_so_another_run_executes_meanwhile(fake_env: Env) -> None:
    worker = await fake_env.start_worker(nap_v1, quick_v1, max_concurrent_workflow_runs=1)
    sleeper = await nap_v1.start(fake_env.client, {"ms": 60_000})
    await until(sleeper, RunStatus.SLEEPING)

    other = await quick_v1.start(fake_env.client)

    result = await other.wait_for_status("completed", timeout={"seconds": 15})
    assert result.success
    assert (await sleeper.refresh()).status is RunStatus.SLEEPING
    assert worker.active_run_ids == []


async def test_awake_ends_the_sleep_early_and_the_sleep_returns_cancelled(fake_env: Env) -> None:
    await fake_env.start_worker(nap_v1)
    handle = await nap_v1.start(fake_env.client, {"ms": 3_600_000})
    await until(handle, RunStatus.SLEEPING)

    awoken = await handle.awake()

    assert awoken.status is RunStatus.QUEUED
    assert awoken.state.reason == "wakeup_early"
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == {"cancelled": True}
    history = await fake_env.client.get_history(handle.id)
    assert [sleep.status for sleep in history.sleeps] == ["cancelled"]


async def test_awake_of_a_run_that_is_not_sleeping_is_an_invalid_transition(fake_env: Env) -> None:
    handle = await nap_v1.start(fake_env.client, {"ms": 1_000})

    with pytest.raises(InvalidTransitionError, match="Only a sleeping run can be awoken"):
        await handle.awake()


async def test_a_sleep_made_longer_in_code_while_the_run_sleeps_sleeps_only_the_difference_once(
    fake_env: Env,
) -> None:
    assert fake_env.clock is not None
    first_deploy = workflow(name="cool-down")

    @first_deploy.v("1.0.0")
    async def cool_down_before(run: Any, input: Any) -> str:
        await run.sleep("cool-down", {"seconds": 10})
        return "before"

    old_worker = await fake_env.start_worker(cool_down_before)
    handle = await cool_down_before.start(fake_env.client)
    first_sleep = await until(handle, RunStatus.SLEEPING)
    await old_worker.stop()

    # The redeploy: another process defines the same name and version with a longer sleep.
    second_deploy = workflow(name="cool-down")
    executions: list[str] = []

    @second_deploy.v("1.0.0")
    async def cool_down_after(run: Any, input: Any) -> str:
        executions.append("replay")
        await run.sleep("cool-down", {"seconds": 30})
        return "after"

    await fake_env.start_worker(cool_down_after)
    fake_env.clock.advance(10_000)
    await fake_env.server.runtime.tick()
    woke_at_ms = fake_env.clock.now_ms()

    run = await until(
        handle, lambda run: run.status is RunStatus.SLEEPING and run.revision > first_sleep.revision
    )
    assert run.state.wake_at_ms == woke_at_ms + 20_000

    fake_env.clock.advance(19_999)
    assert await fake_env.server.runtime.tick() == 0
    fake_env.clock.advance(1)
    assert await fake_env.server.runtime.tick() == 1

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == "after"
    assert executions == ["replay", "replay"]
    history = await fake_env.client.get_history(handle.id)
    assert [(sleep.occurrence, sleep.status, sleep.duration_ms) for sleep in history.sleeps] == [
        (0, "completed", 30_000)
    ]


async def test_a_sleep_made_longer_in_code_is_not_slept_again_when_the_run_already_slept_that_long(
    fake_env: Env,
) -> None:
    assert fake_env.clock is not None
    first_deploy = workflow(name="paused-nap")

    @first_deploy.v("1.0.0")
    async def paused_nap_before(run: Any, input: Any) -> str:
        await run.sleep("nap", {"seconds": 10})
        return "before"

    old_worker = await fake_env.start_worker(paused_nap_before)
    handle = await paused_nap_before.start(fake_env.client)
    await until(handle, RunStatus.SLEEPING)
    await old_worker.stop()
    # Paused for a minute, the run wakes on resume having slept 60 s rather than the 10 s it asked for.
    await handle.pause()
    fake_env.clock.advance(60_000)
    await handle.resume()
    assert await fake_env.server.runtime.tick() == 1

    second_deploy = workflow(name="paused-nap")

    @second_deploy.v("1.0.0")
    async def paused_nap_after(run: Any, input: Any) -> str:
        await run.sleep("nap", {"seconds": 30})
        return "after"

    await fake_env.start_worker(paused_nap_after)

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == "after"
    statuses = [step.to_status for step in await fake_env.client.transport.get_timeline(handle.id)]
    assert statuses.count("sleeping") == 2  # the first sleep, and its restoration on resume


@pytest.mark.parametrize(
    ("duration", "complaint"),
    [
        (0, "must be longer than zero"),
        (-5, "must not be negative"),
        ({"days": -1}, "must not be negative"),
        (MAX_SLEEP_MS + 1, "at most 10 years"),
        ({"days": 3_651}, "at most 10 years"),
    ],
    ids=["zero", "negative", "negative-days", "one-ms-over-ten-years", "3651-days"],
)
async def test_a_sleep_of_an_invalid_duration_fails_the_run_with_a_clear_error(
    fake_env: Env, duration: Any, complaint: str
) -> None:
    await fake_env.start_worker(nap_v1)
    handle = await nap_v1.start(fake_env.client, {"ms": duration})

    result = await handle.wait_for_status("failed", timeout={"seconds": 15})

    assert result.success and result.state is not None and result.state.error is not None
    assert result.state.error["type"] == "InvalidOptionError"
    message = result.state.error["message"].lower()
    assert "sleep 'nap'" in message
    assert complaint in message
    history = await fake_env.client.get_history(handle.id)
    assert history.sleeps == []


async def test_a_sleep_of_exactly_ten_years_is_accepted(fake_env: Env) -> None:
    await fake_env.start_worker(nap_v1)
    handle = await nap_v1.start(fake_env.client, {"ms": MAX_SLEEP_MS})

    run = await until(handle, RunStatus.SLEEPING)

    assert run.state.wake_at_ms == run.updated_at_ms + MAX_SLEEP_MS


async def test_cancelling_a_sleeping_run_cancels_its_sleep(fake_env: Env) -> None:
    await fake_env.start_worker(nap_v1)
    handle = await nap_v1.start(fake_env.client, {"ms": 60_000})
    await until(handle, RunStatus.SLEEPING)

    cancelled = await handle.cancel("no longer needed")

    assert cancelled.status is RunStatus.CANCELLED
    assert cancelled.state.reason == "no longer needed"
    history = await fake_env.client.get_history(handle.id)
    assert [sleep.status for sleep in history.sleeps] == ["cancelled"]
    # What is left is the end of its retention, not the sleep's wake-up.
    assert fake_env.clock is not None
    retention_ms = fake_env.server.settings.retention_ms
    assert retention_ms is not None
    assert await fake_env.server.runtime.next_deadline() == fake_env.clock.now_ms() + retention_ms


async def test_a_short_sleep_on_the_real_clock_wakes_by_itself(env: Env) -> None:
    await env.start_worker(nap_v1)
    handle = await nap_v1.start(env.client, {"ms": 50})

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.state is not None and result.state.output == {"cancelled": False}
