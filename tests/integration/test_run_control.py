"""Pause and cancel while a task is in flight: the running task finishes, and nothing new starts."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from aiki import RunStatus, task, workflow
from tests.conftest import Env
from tests.integration.eventually import eventually

executions: Counter[str] = Counter()
gate: asyncio.Event | None = None


@pytest.fixture(autouse=True)
def _fresh_state() -> None:
    global gate
    executions.clear()
    gate = asyncio.Event()


@task(name="first-step")
async def first_step(input: Any) -> str:
    executions["first-step"] += 1
    if executions["first-step"] == 1 and gate is not None:
        await gate.wait()
    return "first"


@task(name="second-step")
async def second_step(input: Any) -> str:
    executions["second-step"] += 1
    return "second"


steps = workflow(name="steps")


@steps.v("1.0.0")
async def steps_v1(run: Any, input: Any) -> list[str]:
    return [await first_step.start(run, None), await second_step.start(run, None)]


async def test_a_task_in_flight_when_the_run_is_paused_is_recorded_and_nothing_new_starts(env: Env) -> None:
    assert gate is not None
    worker_handle = await env.start_worker(steps_v1)
    handle = await steps_v1.start(env.client, None)
    await eventually(lambda: executions["first-step"] == 1, "first-step started")

    assert (await handle.pause()).status is RunStatus.PAUSED
    gate.set()
    await eventually(lambda: not worker_handle.active_run_ids, "the execution stopped")

    history = await env.client.transport.get_history(handle.id)
    assert [(entry.name, entry.status) for entry in history.tasks] == [("first-step", "completed")]
    assert executions == Counter({"first-step": 1})
    assert (await handle.refresh()).status is RunStatus.PAUSED


async def test_a_run_paused_during_a_task_resumes_after_it_without_running_it_again(env: Env) -> None:
    assert gate is not None
    worker_handle = await env.start_worker(steps_v1)
    handle = await steps_v1.start(env.client, None)
    await eventually(lambda: executions["first-step"] == 1, "first-step started")
    await handle.pause()
    gate.set()
    await eventually(lambda: not worker_handle.active_run_ids, "the execution stopped")

    assert (await handle.resume()).status is RunStatus.QUEUED
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.state is not None and result.state.output == ["first", "second"]
    assert executions == Counter({"first-step": 1, "second-step": 1})


async def test_a_task_in_flight_when_the_run_is_cancelled_is_not_recorded_and_nothing_new_starts(
    env: Env,
) -> None:
    assert gate is not None
    worker_handle = await env.start_worker(steps_v1)
    handle = await steps_v1.start(env.client, None)
    await eventually(lambda: executions["first-step"] == 1, "first-step started")

    await handle.cancel("changed my mind")
    gate.set()
    await eventually(lambda: not worker_handle.active_run_ids, "the execution stopped")

    run = await handle.refresh()
    assert (run.status, run.state.reason) == (RunStatus.CANCELLED, "changed my mind")
    assert (await env.client.transport.get_history(handle.id)).tasks == []
    assert executions == Counter({"first-step": 1})
