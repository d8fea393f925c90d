"""Task retries: never / fixed / exponential / jittered; short delays waited in the worker, long ones
recorded (the run is ``awaiting_retry`` and holds no worker); exhaustion fails the task with its error."""

from __future__ import annotations

from typing import Any

import pytest

from aiki import RunStatus, Task, TaskFailedError, WorkflowVersion, task, workflow
from tests.conftest import Env
from tests.integration.run_watch import until


def _flaky(name: str, failures: int, retry: dict[str, Any] | None) -> tuple[Task[Any, int], list[int]]:
    """A task that raises ``failures`` times, then returns how many attempts it took; and its attempts
    (one entry per execution of its body)."""
    attempts: list[int] = []

    async def handler(input: Any) -> int:
        attempts.append(len(attempts) + 1)
        if len(attempts) <= failures:
            raise ConnectionError(f"{name} attempt {len(attempts)} failed")
        return len(attempts)

    return task(name=name, handler=handler, retry=retry), attempts


def _workflow_of(charge: Task[Any, int], *, catch: bool = False) -> WorkflowVersion:
    async def handler(run: Any, input: Any) -> Any:
        if not catch:
            return await charge.start(run, input)
        try:
            return await charge.start(run, input)
        except TaskFailedError as error:
            return {"caught": error.task_name, "attempts": error.attempts, "error": error.error["message"]}

    version: WorkflowVersion = workflow(name=f"uses-{charge.name}").v("1.0.0", handler=handler)
    return version


async def _statuses(env: Env, run_id: str) -> list[str]:
    return [step.to_status for step in await env.client.get_timeline(run_id)]


async def test_a_task_without_retry_runs_once_and_fails_the_run(env: Env) -> None:
    charge, attempts = _flaky("charge-never", failures=1, retry=None)
    version = _workflow_of(charge)
    await env.start_worker(version)
    handle = await version.start(env.client, {"amount": 1})

    result = await handle.wait_for_status("failed", timeout={"seconds": 15})

    assert result.success
    assert len(attempts) == 1


@pytest.mark.parametrize(
    "retry",
    [
        {"type": "fixed", "max_attempts": 3, "delay_ms": 5},
        {"type": "exponential", "max_attempts": 3, "base_delay_ms": 2},
        {"type": "jittered", "max_attempts": 3, "base_delay_ms": 4},
    ],
    ids=lambda retry: retry["type"],
)
async def test_short_retry_delays_are_waited_in_the_worker_without_leaving_running(
    env: Env, retry: dict[str, Any]
) -> None:
    charge, _attempts = _flaky(f"charge-{retry['type']}", failures=2, retry=retry)
    version = _workflow_of(charge)
    await env.start_worker(version)
    handle = await version.start(env.client, None)

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.state is not None and result.state.output == 3
    assert await _statuses(env, handle.id) == ["queued", "running", "completed"]
    history = await env.client.get_history(handle.id)
    assert [(entry.status, entry.attempts) for entry in history.tasks] == [("completed", 3)]


async def test_a_long_retry_delay_is_recorded_and_frees_the_worker(fake_env: Env) -> None:
    assert fake_env.clock is not None
    charge, _attempts = _flaky(
        "charge-later", failures=1, retry={"type": "fixed", "max_attempts": 2, "delay_ms": 5_000}
    )
    version = _workflow_of(charge)
    worker_handle = await fake_env.start_worker(version)
    handle = await version.start(fake_env.client, None)

    parked = await until(handle, RunStatus.AWAITING_RETRY)

    assert parked.state.retry_kind == "task"
    assert parked.state.next_attempt_at_ms == fake_env.clock.now_ms() + 5_000
    assert parked.state.error is not None and parked.state.error["message"] == "charge-later attempt 1 failed"
    history = await fake_env.client.get_history(handle.id)
    assert [(entry.status, entry.attempts) for entry in history.tasks] == [("awaiting_retry", 1)]
    assert worker_handle.active_run_ids == []

    fake_env.clock.advance(4_999)
    assert await fake_env.server.runtime.tick() == 0
    fake_env.clock.advance(1)
    assert await fake_env.server.runtime.tick() == 1

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == 2
    history = await fake_env.client.get_history(handle.id)
    assert [(entry.status, entry.attempts) for entry in history.tasks] == [("completed", 2)]
    assert handle.run.attempts == 1  # a task retry is not a workflow attempt


async def test_exponential_task_retries_wait_longer_each_time(fake_env: Env) -> None:
    assert fake_env.clock is not None
    charge, attempts = _flaky(
        "charge-backoff", failures=2, retry={"type": "exponential", "max_attempts": 3, "base_delay_ms": 2_000}
    )
    version = _workflow_of(charge)
    await fake_env.start_worker(version)
    handle = await version.start(fake_env.client, None)

    for made, delay_ms in ((1, 2_000), (2, 4_000)):
        parked = await until(
            handle,
            lambda run, n=made: run.status is RunStatus.AWAITING_RETRY and len(attempts) == n,
        )
        assert parked.state.next_attempt_at_ms == fake_env.clock.now_ms() + delay_ms
        fake_env.clock.advance(delay_ms)
        assert await fake_env.server.runtime.tick() == 1

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == 3


async def test_exhausted_retries_fail_the_run_with_the_task_error_recorded(env: Env) -> None:
    charge, attempts = _flaky(
        "charge-broken", failures=99, retry={"type": "fixed", "max_attempts": 2, "delay_ms": 1}
    )
    version = _workflow_of(charge)
    await env.start_worker(version)
    handle = await version.start(env.client, None)

    result = await handle.wait_for_status("failed", timeout={"seconds": 15})

    assert result.state is not None and result.state.error is not None
    error = result.state.error
    assert error["type"] == "ConnectionError"
    assert error["message"] == "charge-broken attempt 2 failed"
    assert error["task"] == "charge-broken"
    assert "ConnectionError: charge-broken attempt 2 failed" in error["traceback"]
    assert "in handler" in error["traceback"]  # the task's own frame, not only aiki's
    assert len(attempts) == 2
    history = await env.client.get_history(handle.id)
    assert [(entry.status, entry.attempts) for entry in history.tasks] == [("failed", 2)]
    assert history.tasks[0].error is not None and history.tasks[0].error["type"] == "ConnectionError"


async def test_a_task_failure_can_be_caught_in_the_handler_and_the_run_continues(env: Env) -> None:
    charge, _attempts = _flaky("charge-caught", failures=99, retry=None)
    version = _workflow_of(charge, catch=True)
    await env.start_worker(version)
    handle = await version.start(env.client, None)

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.state is not None
    assert result.state.output == {
        "caught": "charge-caught",
        "attempts": 1,
        "error": "charge-caught attempt 1 failed",
    }


async def test_a_failed_task_replays_its_failure_without_running_again(fake_env: Env) -> None:
    assert fake_env.clock is not None
    charge, attempts = _flaky("charge-once", failures=99, retry=None)

    async def handler(run: Any, input: Any) -> str:
        try:
            await charge.start(run, None)
        except TaskFailedError as error:
            message = str(error)
        await run.sleep("after", 1_000)
        return message

    version = workflow(name="replays-failure").v("1.0.0", handler=handler)
    await fake_env.start_worker(version)
    handle = await version.start(fake_env.client, None)
    await until(handle, RunStatus.SLEEPING)
    fake_env.clock.advance(1_000)
    await fake_env.server.runtime.tick()

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.state is not None
    assert "'charge-once'" in result.state.output and "ConnectionError" in result.state.output
    assert len(attempts) == 1


async def test_a_task_failure_uncaught_is_retried_by_the_workflow_policy(fake_env: Env) -> None:
    assert fake_env.clock is not None
    charge, _attempts = _flaky("charge-wf-retry", failures=1, retry=None)
    version = _workflow_of(charge)
    await fake_env.start_worker(version)
    handle = (
        await version.with_()
        .opt("retry", {"type": "fixed", "max_attempts": 2, "delay_ms": 3_000})
        .start(fake_env.client, None)
    )

    parked = await until(handle, RunStatus.AWAITING_RETRY)
    assert parked.state.retry_kind == "workflow"
    assert parked.state.error is not None and parked.state.error["task"] == "charge-wf-retry"
    fake_env.clock.advance(3_000)
    await fake_env.server.runtime.tick()

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == 2
    assert handle.run.attempts == 2
    # The failed task of attempt 1 was discarded; attempt 2 ran it afresh.
    history = await fake_env.client.get_history(handle.id)
    assert [(entry.status, entry.attempts, entry.occurrence) for entry in history.tasks] == [
        ("completed", 1, 0)
    ]


async def test_a_recorded_retry_that_fails_again_on_its_last_attempt_fails_the_run(fake_env: Env) -> None:
    assert fake_env.clock is not None
    charge, attempts = _flaky(
        "charge-twice", failures=99, retry={"type": "fixed", "max_attempts": 2, "delay_ms": 5_000}
    )
    version = _workflow_of(charge)
    await fake_env.start_worker(version)
    handle = await version.start(fake_env.client, None)
    await until(handle, RunStatus.AWAITING_RETRY)

    fake_env.clock.advance(5_000)
    await fake_env.server.runtime.tick()
    result = await handle.wait_for_status("failed", timeout={"seconds": 15})

    assert result.success and result.state is not None and result.state.error is not None
    assert result.state.error["message"] == "charge-twice attempt 2 failed"
    history = await fake_env.client.get_history(handle.id)
    assert [(entry.status, entry.attempts) for entry in history.tasks] == [("failed", 2)]
    assert len(attempts) == 2


def _same_twice() -> tuple[WorkflowVersion[Any, list[int]], list[int]]:
    """A fresh ``same-twice@1.0.0`` that calls one task twice with the same input (the task's second
    execution fails once), and the inputs of the task's executions."""
    calls: list[int] = []

    @task(name="same-address")
    async def same_address(input: int) -> int:
        calls.append(input)
        if len(calls) == 2:
            raise ValueError("the second call fails once")
        return len(calls)

    @workflow(name="same-twice").v(
        "1.0.0", opts={"retry": {"type": "fixed", "max_attempts": 2, "delay_ms": 2_000}}
    )
    async def same_twice_v1(run: Any, input: Any) -> list[int]:
        return [await same_address.start(run, 7), await same_address.start(run, 7)]

    return same_twice_v1, calls


async def test_a_workflow_retry_reruns_a_discarded_entry_under_its_old_occurrence_number(
    fake_env: Env,
) -> None:
    assert fake_env.clock is not None
    same_twice_v1, calls = _same_twice()
    await fake_env.start_worker(same_twice_v1)
    handle = await same_twice_v1.start(fake_env.client, None)
    await until(handle, RunStatus.AWAITING_RETRY)

    fake_env.clock.advance(2_000)
    await fake_env.server.runtime.tick()
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    # Call 1 replays from attempt 1; call 2 (failed, then discarded) runs again as the third execution.
    assert result.state is not None and result.state.output == [1, 3]
    assert calls == [7, 7, 7]
    history = await fake_env.client.get_history(handle.id)
    assert [(entry.occurrence, entry.status) for entry in history.tasks] == [
        (0, "completed"),
        (1, "completed"),
    ]


async def test_a_long_jittered_delay_is_recorded_as_whole_milliseconds_within_its_range(
    fake_env: Env,
) -> None:
    assert fake_env.clock is not None
    retry = {"type": "jittered", "max_attempts": 2, "base_delay_ms": 5_001, "jitter_factor": 0.5}
    charge, _attempts = _flaky("charge-jitter", failures=1, retry=retry)
    version = _workflow_of(charge)
    await fake_env.start_worker(version)
    handle = await version.start(fake_env.client, None)

    parked = await until(handle, RunStatus.AWAITING_RETRY)

    assert parked.state.next_attempt_at_ms is not None
    delay_ms = parked.state.next_attempt_at_ms - fake_env.clock.now_ms()
    assert isinstance(delay_ms, int) and 2_500 <= delay_ms <= 5_001
    fake_env.clock.advance(delay_ms)
    assert await fake_env.server.runtime.tick() == 1
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == 2
