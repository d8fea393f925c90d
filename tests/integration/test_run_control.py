"""Steering a run from outside: pause and resume in every status a run can be in (a paused run does not
wake, fire or time out, and ``resume`` puts it back where it was, a deadline that passed meanwhile firing at
once), and pause or cancel while a task is in flight (the task finishes, and nothing new starts)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from aiki import InvalidTransitionError, RunStatus, WorkflowRunHandle, WorkflowVersion, event, task, workflow
from tests.conftest import Env
from tests.integration.eventually import eventually
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
    # A paused run has no deadline (no other run of these tests has one either).
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
    history = await fake_env.client.get_history(handle.id)
    assert history.events == []

    resumed = await handle.resume()
    assert resumed.status is RunStatus.AWAITING_EVENT
    assert await fake_env.server.runtime.tick() == 1
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == "timeout"


def _flaky() -> tuple[WorkflowVersion[Any, int], list[int]]:
    """A fresh ``flaky@1.0.0`` whose first attempt fails (retried a minute later), and its attempts."""
    attempts: list[int] = []

    @workflow(name="flaky").v(
        "1.0.0", opts={"retry": {"type": "fixed", "max_attempts": 2, "delay_ms": 60_000}}
    )
    async def flaky_v1(run: Any, input: Any) -> int:
        attempts.append(run.attempts)
        if run.attempts == 1:
            raise ConnectionError("first attempt fails")
        return int(run.attempts)

    return flaky_v1, attempts


async def test_a_paused_run_awaiting_a_retry_is_not_retried_and_is_retried_at_once_on_resume(
    fake_env: Env,
) -> None:
    flaky_v1, attempts = _flaky()
    await fake_env.start_worker(flaky_v1)
    handle = await flaky_v1.start(fake_env.client)
    await until(handle, RunStatus.AWAITING_RETRY)
    await _pause(fake_env, handle, RunStatus.AWAITING_RETRY)

    assert await _tick_later(fake_env, 120_000) == 0
    assert attempts == [1]

    resumed = await handle.resume()
    assert resumed.status is RunStatus.AWAITING_RETRY
    assert await fake_env.server.runtime.tick() == 1
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.output == 2
    assert attempts == [1, 2]


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
    history = await env.client.get_history(parent_id)
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


@dataclass(frozen=True, slots=True)
class Steps:
    """A fresh ``steps@1.0.0`` that runs ``first-step`` then ``second-step``; the first execution of
    ``first-step`` waits for ``release``, so a test can steer the run while that task is in flight."""

    version: WorkflowVersion[Any, list[str]]
    executions: Counter[str]
    release: asyncio.Event


def _steps() -> Steps:
    executions: Counter[str] = Counter()
    release = asyncio.Event()

    @task(name="first-step")
    async def first_step() -> str:
        executions["first-step"] += 1
        if executions["first-step"] == 1:
            await release.wait()
        return "first"

    @task(name="second-step")
    async def second_step() -> str:
        executions["second-step"] += 1
        return "second"

    @workflow(name="steps").v("1.0.0")
    async def steps_v1(run: Any) -> list[str]:
        return [await first_step.start(run), await second_step.start(run)]

    return Steps(steps_v1, executions, release)


async def _first_step_in_flight(env: Env, steps: Steps) -> tuple[WorkflowRunHandle[list[str]], Any]:
    worker = await env.start_worker(steps.version)
    handle = await steps.version.start(env.client)
    await eventually(lambda: steps.executions["first-step"] == 1, "first-step started")
    return handle, worker


async def test_a_task_in_flight_when_the_run_is_paused_is_recorded_and_nothing_new_starts(env: Env) -> None:
    steps = _steps()
    handle, worker = await _first_step_in_flight(env, steps)

    await _pause(env, handle, RunStatus.RUNNING)
    steps.release.set()
    await eventually(lambda: not worker.active_run_ids, "the execution stopped")

    history = await env.client.get_history(handle.id)
    assert [(entry.name, entry.status) for entry in history.tasks] == [("first-step", "completed")]
    assert steps.executions == Counter({"first-step": 1})
    assert (await handle.refresh()).status is RunStatus.PAUSED


async def test_a_run_paused_during_a_task_resumes_after_it_without_running_it_again(env: Env) -> None:
    steps = _steps()
    handle, worker = await _first_step_in_flight(env, steps)
    await handle.pause()
    steps.release.set()
    await eventually(lambda: not worker.active_run_ids, "the execution stopped")

    assert (await handle.resume()).status is RunStatus.QUEUED
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.output == ["first", "second"]
    assert steps.executions == Counter({"first-step": 1, "second-step": 1})


async def test_a_task_in_flight_when_the_run_is_cancelled_is_not_recorded_and_nothing_new_starts(
    env: Env,
) -> None:
    steps = _steps()
    handle, worker = await _first_step_in_flight(env, steps)

    await handle.cancel("changed my mind")
    steps.release.set()
    await eventually(lambda: not worker.active_run_ids, "the execution stopped")

    run = await handle.refresh()
    assert (run.status, run.state.reason) == (RunStatus.CANCELLED, "changed my mind")
    assert (await env.client.get_history(handle.id)).tasks == []
    assert steps.executions == Counter({"first-step": 1})


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
    history = await fake_env.client.get_history(handle.id)
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
