"""Task timeouts: an attempt running longer than its timeout is cancelled (a plain ``def`` one abandoned) and
counts as a failed attempt with ``TaskTimeoutError``; the retry policy applies. Per-call options set the
timeout or the retry policy without changing the task's address. Driven on a fake clock."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiki import FakeClock, RunStatus, task, workflow
from aiki.execution.task_runner import task_address
from tests.conftest import Env
from tests.integration.eventually import eventually

TIMEOUT_MS = 30_000


def _clock(env: Env) -> FakeClock:
    assert env.clock is not None
    return env.clock


async def _time_out_the_attempt(env: Env, entered: asyncio.Event) -> None:
    """Once the attempt runs and its timer waits on the fake clock, move the clock past the timeout."""
    await asyncio.wait_for(entered.wait(), 15)
    await eventually(lambda: _clock(env).sleeper_count == 1, "the attempt's timer waits on the clock")
    entered.clear()
    _clock(env).advance(TIMEOUT_MS)


async def test_an_async_attempt_past_its_timeout_is_cancelled_and_fails_the_task(fake_env: Env) -> None:
    entered = asyncio.Event()
    cancelled = asyncio.Event()

    @task(name="hang", timeout=TIMEOUT_MS)
    async def hang() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    @workflow(name="timeout-async").v("1")
    async def hang_v1(run: Any) -> None:
        await hang.start(run)

    await fake_env.start_worker(hang_v1)
    handle = await hang_v1.start(fake_env.client)
    await _time_out_the_attempt(fake_env, entered)

    result = await handle.wait_for_status("failed", timeout={"seconds": 15})
    assert result.success
    error = handle.run.state.error
    assert error is not None
    assert (error["type"], error["task"]) == ("TaskTimeoutError", "hang")
    assert f"ran longer than its timeout of {TIMEOUT_MS} ms" in error["message"]
    assert cancelled.is_set()
    (entry,) = (await fake_env.client.get_history(handle.id)).tasks
    assert entry.status == "failed"
    (attempt,) = entry.attempt_times
    assert attempt.ended_at_ms - attempt.started_at_ms == TIMEOUT_MS


async def test_a_timed_out_attempt_is_retried_by_the_retry_policy(fake_env: Env) -> None:
    entered = asyncio.Event()
    calls: list[int] = []

    @task(name="flaky-hang", timeout=TIMEOUT_MS, retry={"type": "fixed", "max_attempts": 2, "delay_ms": 0})
    async def flaky_hang() -> str:
        calls.append(1)
        if len(calls) == 1:
            entered.set()
            await asyncio.Event().wait()
        return "second time lucky"

    @workflow(name="timeout-retry").v("1")
    async def flaky_v1(run: Any) -> str:
        return await flaky_hang.start(run)

    await fake_env.start_worker(flaky_v1)
    handle = await flaky_v1.start(fake_env.client)
    await _time_out_the_attempt(fake_env, entered)

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.output == "second time lucky"
    (entry,) = (await fake_env.client.get_history(handle.id)).tasks
    assert (entry.status, entry.attempts) == ("completed", 2)
    assert [attempt.number for attempt in entry.attempt_times] == [1, 2]
    first, second = entry.attempt_times
    assert first.ended_at_ms - first.started_at_ms == TIMEOUT_MS
    assert second.started_at_ms >= first.ended_at_ms


async def test_a_plain_def_attempt_past_its_timeout_is_abandoned_and_its_late_result_ignored(
    fake_env: Env,
) -> None:
    running = threading.Event()
    release = threading.Event()
    finished = threading.Event()
    entered = asyncio.Event()
    loop = asyncio.get_running_loop()

    def blocking() -> str:
        running.set()
        loop.call_soon_threadsafe(entered.set)
        release.wait(15)
        finished.set()
        return "too late"

    stuck = task(name="stuck", handler=blocking, timeout=TIMEOUT_MS)

    @workflow(name="timeout-thread").v("1")
    async def stuck_v1(run: Any) -> str:
        return await stuck.start(run)

    await fake_env.start_worker(stuck_v1)
    handle = await stuck_v1.start(fake_env.client)
    try:
        await _time_out_the_attempt(fake_env, entered)
        result = await handle.wait_for_status("failed", timeout={"seconds": 15})
        assert result.success
        assert not finished.is_set()
    finally:
        release.set()
    await eventually(finished.is_set, "the abandoned thread returned")

    run = await handle.refresh()
    assert run.state.error is not None and run.state.error["type"] == "TaskTimeoutError"
    (entry,) = (await fake_env.client.get_history(handle.id)).tasks
    assert (entry.status, entry.output) == ("failed", None)


async def test_call_options_set_the_timeout_and_retry_and_keep_the_tasks_address(fake_env: Env) -> None:
    entered = asyncio.Event()
    failures: list[int] = []

    @task(name="step")
    async def step(value: int) -> int:
        if value == 1:
            entered.set()
            await asyncio.Event().wait()
        if len(failures) < 2:
            failures.append(value)
            raise ValueError("not yet")
        return value * 10

    @workflow(name="task-call-options").v("1")
    async def options_v1(run: Any) -> Any:
        timed = None
        retried = (
            await step.with_().opt("retry", {"type": "fixed", "max_attempts": 3, "delay_ms": 0}).start(run, 2)
        )
        try:
            await step.with_().opt("timeout", TIMEOUT_MS).start(run, 1)
        except Exception as error:
            timed = type(error).__name__
        return [retried, timed]

    await fake_env.start_worker(options_v1)
    handle = await options_v1.start(fake_env.client)
    await _time_out_the_attempt(fake_env, entered)

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.output == [20, "TaskFailedError"]
    retried, timed = (await fake_env.client.get_history(handle.id)).tasks
    assert (retried.address, retried.status, retried.attempts) == (task_address("step", 2), "completed", 3)
    assert (timed.address, timed.status) == (task_address("step", 1), "failed")
    assert timed.error is not None and timed.error["type"] == "TaskTimeoutError"
    assert handle.run.status is RunStatus.COMPLETED
