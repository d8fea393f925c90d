"""Pause and resume in every status a run can wait in: a paused run does not wake, fire or time out, and
``resume`` puts it back where it was (a deadline that passed meanwhile fires at once)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aiki import InvalidTransitionError, RunStatus, WorkflowRunHandle, event, task, workflow
from tests.conftest import Env
from tests.integration.run_watch import awaiting_event, until

greet = workflow(name="greet")


@greet.v("1.0.0")
async def greet_v1(run: Any, input: Any) -> str:
    return f"hello {input}"


nap = workflow(name="nap")


@nap.v("1.0.0")
async def nap_v1(run: Any, input: Any) -> bool:
    return (await run.sleep("nap", {"minutes": 10})).cancelled


async def _pause(env: Env, handle: WorkflowRunHandle, status: RunStatus) -> None:
    paused = await handle.pause()
    assert paused.status is RunStatus.PAUSED
    assert paused.state.previous is not None and paused.state.previous.status is status
    assert await env.server.runtime.next_deadline() is None


async def _tick_later(env: Env, ms: int) -> int:
    assert env.clock is not None
    env.clock.advance(ms)
    return await env.server.runtime.tick()


async def test_a_paused_scheduled_run_does_not_start_when_due_and_starts_at_once_on_resume(
    fake_env: Env,
) -> None:
    await fake_env.start_worker(greet_v1)
    handle = await greet_v1.with_().opt("trigger", {"delay": {"minutes": 1}}).start(fake_env.client, "ana")
    await _pause(fake_env, handle, RunStatus.SCHEDULED)

    assert await _tick_later(fake_env, 120_000) == 0
    assert (await handle.refresh()).status is RunStatus.PAUSED

    resumed = await handle.resume()
    assert resumed.status is RunStatus.SCHEDULED
    assert await fake_env.server.runtime.tick() == 1
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.success


async def test_a_paused_scheduled_run_resumed_before_it_is_due_waits_for_its_time(fake_env: Env) -> None:
    handle = await greet_v1.with_().opt("trigger", {"delay": {"minutes": 10}}).start(fake_env.client, "ana")
    scheduled_at_ms = handle.run.state.scheduled_at_ms
    await _pause(fake_env, handle, RunStatus.SCHEDULED)

    resumed = await handle.resume()

    assert resumed.status is RunStatus.SCHEDULED
    assert resumed.state.scheduled_at_ms == scheduled_at_ms
    assert await fake_env.server.runtime.next_deadline() == scheduled_at_ms


async def test_a_paused_queued_run_is_not_claimed_until_it_is_resumed(fake_env: Env) -> None:
    handle = await greet_v1.start(fake_env.client, "paused")
    await _pause(fake_env, handle, RunStatus.QUEUED)
    await fake_env.start_worker(greet_v1, max_concurrent_workflow_runs=1)

    # A run queued after the paused one completes: the worker would have claimed the older one first.
    marker = await greet_v1.start(fake_env.client, "marker")
    assert (await marker.wait_for_status("completed", timeout={"seconds": 15})).success
    assert (await handle.refresh()).status is RunStatus.PAUSED

    resumed = await handle.resume()
    assert resumed.status is RunStatus.QUEUED
    assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).success


async def test_a_paused_sleeping_run_does_not_wake_and_wakes_at_once_on_resume_after_its_time(
    fake_env: Env,
) -> None:
    await fake_env.start_worker(nap_v1)
    handle = await nap_v1.start(fake_env.client)
    await until(handle, RunStatus.SLEEPING)
    await _pause(fake_env, handle, RunStatus.SLEEPING)

    assert await _tick_later(fake_env, 3_600_000) == 0
    assert (await handle.refresh()).status is RunStatus.PAUSED

    resumed = await handle.resume()
    assert resumed.status is RunStatus.SLEEPING
    assert resumed.state.reason == "resumption"
    assert await fake_env.server.runtime.tick() == 1
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output is False


async def test_a_sleeping_run_resumed_before_its_wake_time_sleeps_until_then(fake_env: Env) -> None:
    await fake_env.start_worker(nap_v1)
    handle = await nap_v1.start(fake_env.client)
    sleeping = await until(handle, RunStatus.SLEEPING)
    await _pause(fake_env, handle, RunStatus.SLEEPING)

    resumed = await handle.resume()

    assert resumed.status is RunStatus.SLEEPING
    assert resumed.state.wake_at_ms == sleeping.state.wake_at_ms
    assert await _tick_later(fake_env, 600_000 - 1) == 0
    assert await _tick_later(fake_env, 1) == 1


async def test_a_paused_sleeping_run_cannot_be_awoken(fake_env: Env) -> None:
    await fake_env.start_worker(nap_v1)
    handle = await nap_v1.start(fake_env.client)
    await until(handle, RunStatus.SLEEPING)
    await _pause(fake_env, handle, RunStatus.SLEEPING)

    with pytest.raises(InvalidTransitionError, match="Only a sleeping run can be awoken"):
        await handle.awake()


inbox = workflow(name="inbox")


@inbox.v("1.0.0", events={"letter": event()})
async def inbox_v1(run: Any, input: Any) -> Any:
    received = await run.events.letter.wait(timeout={"minutes": 5})
    return "timeout" if received.timeout else received.data


async def test_a_paused_run_awaiting_an_event_is_not_woken_by_it_and_receives_it_on_resume(
    fake_env: Env,
) -> None:
    await fake_env.start_worker(inbox_v1)
    handle = await inbox_v1.start(fake_env.client)
    await until(handle, awaiting_event("letter"))
    await _pause(fake_env, handle, RunStatus.AWAITING_EVENT)

    assert await handle.events.letter.send("dear run") is True
    assert (await handle.refresh()).status is RunStatus.PAUSED

    resumed = await handle.resume()
    assert resumed.status is RunStatus.QUEUED
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == "dear run"


async def test_a_paused_run_does_not_time_out_and_times_out_at_once_on_resume_after_its_timeout(
    fake_env: Env,
) -> None:
    await fake_env.start_worker(inbox_v1)
    handle = await inbox_v1.start(fake_env.client)
    await until(handle, awaiting_event("letter"))
    await _pause(fake_env, handle, RunStatus.AWAITING_EVENT)

    assert await _tick_later(fake_env, 600_000) == 0
    history = await fake_env.client.transport.get_history(handle.id)
    assert history.events == []

    resumed = await handle.resume()
    assert resumed.status is RunStatus.AWAITING_EVENT
    assert await fake_env.server.runtime.tick() == 1
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == "timeout"


flaky = workflow(name="flaky")
flaky_attempts: list[int] = []


@flaky.v("1.0.0", opts={"retry": {"type": "fixed", "max_attempts": 2, "delay_ms": 60_000}})
async def flaky_v1(run: Any, input: Any) -> int:
    flaky_attempts.append(run.attempts)
    if run.attempts == 1:
        raise ConnectionError("first attempt fails")
    return run.attempts


async def test_a_paused_run_awaiting_a_retry_is_not_retried_and_is_retried_at_once_on_resume(
    fake_env: Env,
) -> None:
    flaky_attempts.clear()
    await fake_env.start_worker(flaky_v1)
    handle = await flaky_v1.start(fake_env.client)
    await until(handle, RunStatus.AWAITING_RETRY)
    await _pause(fake_env, handle, RunStatus.AWAITING_RETRY)

    assert await _tick_later(fake_env, 120_000) == 0
    assert flaky_attempts == [1]

    resumed = await handle.resume()
    assert resumed.status is RunStatus.AWAITING_RETRY
    assert await fake_env.server.runtime.tick() == 1
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == 2
    assert flaky_attempts == [1, 2]


kid = workflow(name="kid")


@kid.v("1.0.0", events={"go": event()})
async def kid_v1(run: Any, input: Any) -> str:
    await run.events.go.wait()
    return "kid done"


guardian = workflow(name="guardian")


@guardian.v("1.0.0")
async def guardian_v1(run: Any, input: Any) -> Any:
    child = await kid_v1.start_as_child(run)
    waited = await child.wait_for_status("completed", timeout={"minutes": 30})
    return {"timeout": waited.timeout, "output": waited.state.output if waited.state else None}


async def _kid_of(env: Env, parent_id: str) -> WorkflowRunHandle:
    history = await env.client.transport.get_history(parent_id)
    return await kid_v1.get_handle(env.client, history.children[0].child_run_id)


async def test_a_paused_parent_is_not_woken_by_its_child_and_continues_on_resume(fake_env: Env) -> None:
    await fake_env.start_worker(guardian_v1, kid_v1)
    handle = await guardian_v1.start(fake_env.client)
    await until(handle, RunStatus.AWAITING_CHILD_WORKFLOW)
    child = await _kid_of(fake_env, handle.id)
    await until(child, awaiting_event("go"))
    await _pause(fake_env, handle, RunStatus.AWAITING_CHILD_WORKFLOW)

    await child.events.go.send()
    await until(child, RunStatus.COMPLETED)
    assert (await handle.refresh()).status is RunStatus.PAUSED

    resumed = await handle.resume()
    assert resumed.status is RunStatus.QUEUED
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == {"timeout": False, "output": "kid done"}


async def test_a_paused_parent_does_not_time_out_its_child_wait_until_resumed(fake_env: Env) -> None:
    await fake_env.start_worker(guardian_v1, kid_v1)
    handle = await guardian_v1.start(fake_env.client)
    await until(handle, RunStatus.AWAITING_CHILD_WORKFLOW)
    await until(await _kid_of(fake_env, handle.id), awaiting_event("go"))
    await _pause(fake_env, handle, RunStatus.AWAITING_CHILD_WORKFLOW)

    assert await _tick_later(fake_env, 3_600_000) == 0

    resumed = await handle.resume()
    assert resumed.status is RunStatus.AWAITING_CHILD_WORKFLOW
    assert await fake_env.server.runtime.tick() == 1
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == {"timeout": True, "output": None}


gate: dict[str, Any] = {}
steps_taken: list[str] = []


@task(name="slow-step")
async def slow_step() -> str:
    steps_taken.append("slow-step")
    gate["entered"].set()
    await gate["release"].wait()
    return "slow done"


@task(name="next-step")
async def next_step() -> str:
    steps_taken.append("next-step")
    return "next done"


two_steps = workflow(name="two-steps")


@two_steps.v("1.0.0")
async def two_steps_v1(run: Any, input: Any) -> list[str]:
    return [await slow_step.start(run), await next_step.start(run)]


async def test_a_run_paused_while_a_task_runs_records_that_task_and_starts_nothing_new_until_resumed(
    fake_env: Env,
) -> None:
    steps_taken.clear()
    gate.update(entered=asyncio.Event(), release=asyncio.Event())
    worker = await fake_env.start_worker(two_steps_v1)
    handle = await two_steps_v1.start(fake_env.client)
    await asyncio.wait_for(gate["entered"].wait(), 15)
    await _pause(fake_env, handle, RunStatus.RUNNING)

    gate["release"].set()
    await asyncio.wait_for(_until_idle(worker), 15)

    history = await fake_env.client.transport.get_history(handle.id)
    assert [(entry.name, entry.status) for entry in history.tasks] == [("slow-step", "completed")]
    assert steps_taken == ["slow-step"]
    assert (await handle.refresh()).status is RunStatus.PAUSED

    resumed = await handle.resume()
    assert resumed.status is RunStatus.QUEUED
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == ["slow done", "next done"]
    assert steps_taken == ["slow-step", "next-step"]


async def _until_idle(worker: Any) -> None:
    """Wait until the worker executes nothing (its execution of the paused run has stopped)."""
    while worker.active_run_ids:  # noqa: ASYNC110 -- a worker signals nothing when it falls idle
        await asyncio.sleep(0.01)


async def test_resuming_a_run_that_is_not_paused_is_an_invalid_transition(fake_env: Env) -> None:
    handle = await greet_v1.start(fake_env.client, "ana")

    with pytest.raises(InvalidTransitionError, match="Only a paused run can be resumed"):
        await handle.resume()


async def test_pausing_a_finished_run_is_an_invalid_transition(fake_env: Env) -> None:
    handle = await greet_v1.start(fake_env.client, "ana")
    await handle.cancel()

    with pytest.raises(InvalidTransitionError, match="cannot go from 'cancelled' to 'paused'"):
        await handle.pause()


async def test_a_paused_run_can_be_cancelled(fake_env: Env) -> None:
    await fake_env.start_worker(nap_v1)
    handle = await nap_v1.start(fake_env.client)
    await until(handle, RunStatus.SLEEPING)
    await _pause(fake_env, handle, RunStatus.SLEEPING)

    cancelled = await handle.cancel()

    assert cancelled.status is RunStatus.CANCELLED
    history = await fake_env.client.transport.get_history(handle.id)
    assert [sleep.status for sleep in history.sleeps] == ["cancelled"]


async def test_a_paused_sleeping_run_resumed_on_the_real_clock_wakes_by_itself(env: Env) -> None:
    short_nap = workflow(name="short-nap")

    @short_nap.v("1.0.0")
    async def short_nap_v1(run: Any, input: Any) -> str:
        await run.sleep("nap", 100)
        return "rested"

    await env.start_worker(short_nap_v1)
    handle = await short_nap_v1.start(env.client)
    await until(handle, RunStatus.SLEEPING)
    await handle.pause()

    await handle.resume()

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == "rested"
