"""``asyncio.gather`` of tasks inside one handler: it runs, it replays, and a branch that suspends lets its
siblings record the tasks they have in flight, while no new task starts after the suspension."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiki import RunStatus, WorkflowVersion, task, workflow
from tests.conftest import Env
from tests.integration.run_watch import until

Counted = tuple[WorkflowVersion[Any, list[Any]], Counter[str]]
"""A fresh workflow version, and how often each task body ran in it."""


def _fan_out() -> Counted:
    executions: Counter[str] = Counter()

    @task(name="square")
    async def square(number: int) -> int:
        executions[f"square {number}"] += 1
        await asyncio.sleep(0)
        return number * number

    @task(name="cube")
    def cube(number: int) -> int:
        executions[f"cube {number}"] += 1
        return number**3

    @workflow(name="fan-out").v("1.0.0")
    async def fan_out_v1(run: Any, input: Any) -> list[Any]:
        first = await asyncio.gather(square.start(run, 2), cube.start(run, 2), square.start(run, 3))
        await run.sleep("pause", 1_000)
        second = await asyncio.gather(square.start(run, 2), cube.start(run, 3))
        return [*first, *second]

    return fan_out_v1, executions


async def test_gathered_tasks_run_concurrently_and_replay_after_a_sleep(fake_env: Env) -> None:
    assert fake_env.clock is not None
    fan_out_v1, executions = _fan_out()
    await fake_env.start_worker(fan_out_v1)
    handle = await fan_out_v1.start(fake_env.client, None)
    await until(handle, RunStatus.SLEEPING)
    fake_env.clock.advance(1_000)
    await fake_env.server.runtime.tick()

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.output == [4, 8, 9, 4, 27]
    # square(2) runs twice: once per gather (the same address, two occurrences); nothing re-ran on replay.
    assert executions == Counter({"square 2": 2, "cube 2": 1, "square 3": 1, "cube 3": 1})
    history = await fake_env.client.get_history(handle.id)
    assert sorted((entry.name, entry.occurrence) for entry in history.tasks) == [
        ("cube", 0),
        ("cube", 0),
        ("square", 0),
        ("square", 0),
        ("square", 1),
    ]


# --- one branch suspends while a sibling has a task in flight --------------------------------------------


def _racing() -> Counted:
    """Two gathered branches: one sleeps the moment the other's ``slow`` task is finishing."""
    executions: Counter[str] = Counter()
    in_flight_started = asyncio.Event()
    release_in_flight = asyncio.Event()

    @task(name="slow")
    async def slow(input: Any) -> str:
        executions["slow"] += 1
        in_flight_started.set()
        await release_in_flight.wait()
        return "slow done"

    @task(name="after-slow")
    async def after_slow(input: Any) -> str:
        executions["after-slow"] += 1
        return "after done"

    @workflow(name="racing").v("1.0.0")
    async def racing_v1(run: Any, input: Any) -> list[Any]:
        async def sleeper() -> bool:
            if not in_flight_started.is_set():
                await in_flight_started.wait()
                # Let the in-flight task finish in the very step that suspends this branch.
                release_in_flight.set()
            return bool((await run.sleep("nap", 1_000)).cancelled)

        async def worker_branch() -> list[str]:
            return [await slow.start(run, None), await after_slow.start(run, None)]

        return list(await asyncio.gather(sleeper(), worker_branch()))

    return racing_v1, executions


async def test_a_sibling_task_in_flight_is_recorded_before_the_run_suspends(fake_env: Env) -> None:
    racing_v1, _executions = _racing()
    await fake_env.start_worker(racing_v1)
    handle = await racing_v1.start(fake_env.client, None)

    await until(handle, RunStatus.SLEEPING)

    history = await fake_env.client.get_history(handle.id)
    assert [(entry.name, entry.status) for entry in history.tasks][:1] == [("slow", "completed")]


async def test_no_new_task_starts_after_a_sibling_branch_suspended(fake_env: Env) -> None:
    racing_v1, executions = _racing()
    await fake_env.start_worker(racing_v1)
    handle = await racing_v1.start(fake_env.client, None)

    await until(handle, RunStatus.SLEEPING)

    history = await fake_env.client.get_history(handle.id)
    assert [entry.name for entry in history.tasks] == ["slow"]
    assert executions == Counter({"slow": 1})


async def test_the_suspended_gather_replays_and_runs_the_remaining_task_once(fake_env: Env) -> None:
    assert fake_env.clock is not None
    racing_v1, executions = _racing()
    await fake_env.start_worker(racing_v1)
    handle = await racing_v1.start(fake_env.client, None)
    await until(handle, RunStatus.SLEEPING)

    fake_env.clock.advance(1_000)
    await fake_env.server.runtime.tick()
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.output == [False, ["slow done", "after done"]]
    assert executions == Counter({"slow": 1, "after-slow": 1})


# --- a sibling branch that is merely ready to run when another suspends ---------------------------------


def _eager() -> Counted:
    executions: Counter[str] = Counter()

    @task(name="after-slow")
    async def after_slow(input: Any) -> str:
        executions["after-slow"] += 1
        return "after done"

    @workflow(name="eager").v("1.0.0")
    async def eager_v1(run: Any, input: Any) -> list[Any]:
        async def sleeper() -> bool:
            return bool((await run.sleep("nap", 1_000)).cancelled)

        async def late_starter() -> str:
            # Ready again one loop step after the sleeper suspended the run: too late to start anything.
            await asyncio.sleep(0)
            return str(await after_slow.start(run, None))

        return list(await asyncio.gather(sleeper(), late_starter()))

    return eager_v1, executions


async def test_a_branch_that_reaches_a_task_after_the_run_suspended_does_not_start_it(fake_env: Env) -> None:
    assert fake_env.clock is not None
    eager_v1, executions = _eager()
    await fake_env.start_worker(eager_v1)
    handle = await eager_v1.start(fake_env.client, None)

    await until(handle, RunStatus.SLEEPING)
    assert executions == Counter()
    assert (await fake_env.client.get_history(handle.id)).tasks == []

    fake_env.clock.advance(1_000)
    await fake_env.server.runtime.tick()
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.output == [False, "after done"]
    assert executions == Counter({"after-slow": 1})
