"""``aiki.testing.environment`` as a whole: mocks restored after their block, the same timeline every time,
nothing left behind after the block, and clear errors for wrong use."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from aiki import ConfigurationError, InvalidOptionError, RunStatus, event, task, workflow
from aiki.testing import FakeClock, environment
from aiki.testing.environment import WORKER_ID

PATIENCE = {"seconds": 30}
sent: list[str] = []


@task(name="life-send-email")
async def send_email(address: str) -> dict[str, str]:
    sent.append(address)
    return {"sent_to": address}


signup = workflow(name="life-signup")


@signup.v("1.0.0")
async def signup_v1(run: Any, address: str) -> dict[str, str]:
    return await send_email.start(run, address)


async def test_a_mocked_task_runs_the_mock_inside_the_block_and_its_own_handler_after_it() -> None:
    sent.clear()
    async with environment(workflows=[signup_v1]) as env:
        with env.mock_task(send_email, lambda address: {"sent_to": "the mock"}):
            mocked = await signup_v1.start(env.client, "a@b.c")
            inside = await mocked.wait_for_status("completed", timeout=PATIENCE)
        real = await signup_v1.start(env.client, "d@e.f")
        after = await real.wait_for_status("completed", timeout=PATIENCE)

    assert inside.output == {"sent_to": "the mock"}
    assert after.output == {"sent_to": "d@e.f"}
    assert sent == ["d@e.f"]


async def test_a_mock_is_restored_when_its_block_raises() -> None:
    original = send_email.handler
    async with environment(workflows=[signup_v1]) as env:
        with pytest.raises(RuntimeError, match="the test failed"), env.mock_task(send_email, lambda: {}):
            assert send_email.handler is not original
            raise RuntimeError("the test failed")

    assert send_email.handler is original
    assert send_email.parameter_count == 1


def mixed_workflows() -> list[Any]:
    """Fresh versions that sleep, retry after an hour, time out waiting for an event and wait on a child."""
    failures = {"left": 1}

    @task(name="life-flaky", retry={"type": "fixed", "max_attempts": 2, "delay_ms": 3_600_000})
    async def flaky(number: int) -> int:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("once")
        return number

    child = workflow(name="life-child")

    @child.v("1.0.0")
    async def child_v1(run: Any, hours: int) -> int:
        await run.sleep("nap", {"hours": hours})
        return await flaky.start(run, hours)

    parent = workflow(name="life-parent")

    @parent.v("1.0.0", events={"go": event()})
    async def parent_v1(run: Any, hours: int) -> str:
        handle = await child_v1.start_as_child(run, hours)
        await run.events.go.wait(timeout={"hours": 1})
        waited = await handle.wait_for_status("completed")
        return f"child returned {waited.output}"

    return [parent_v1, child_v1]


async def timelines_of_a_mixed_scenario() -> list[list[tuple[str, str | None, str, str | None, int]]]:
    """The timeline of every run of one scenario, in creation order, with times relative to the start."""
    parent_v1, child_v1 = mixed_workflows()
    async with environment(workflows=[parent_v1, child_v1]) as env:
        start_ms = env.clock.now_ms()
        handles = [await parent_v1.start(env.client, hours) for hours in (5, 2, 9)]
        for handle in handles:
            assert (await handle.wait_for_status("completed", timeout=PATIENCE)).success
        runs = (await env.client.list_runs(order="oldest", limit=100)).runs
        return [
            [
                (run.name, step.from_status, step.to_status, step.reason, step.created_at_ms - start_ms)
                for step in await env.client.get_timeline(run.id)
            ]
            for run in runs
        ]


async def test_the_same_test_gives_the_same_timeline_every_time() -> None:
    first = await timelines_of_a_mixed_scenario()
    second = await timelines_of_a_mixed_scenario()

    assert len(first) == 6
    assert first == second


def open_paths() -> set[str]:
    """What the descriptors of this process point at."""
    paths = set()
    for descriptor in os.listdir("/proc/self/fd"):
        try:
            paths.add(os.readlink(f"/proc/self/fd/{descriptor}"))
        except OSError:
            continue  # closed while listing
    return paths


async def test_nothing_is_left_running_or_open_after_the_environment_ends() -> None:
    parent_v1, child_v1 = mixed_workflows()
    tasks_before = asyncio.all_tasks()
    threads_before = set(threading.enumerate())

    async with environment(workflows=[parent_v1, child_v1]) as env:
        database_file = Path(env.server.db.url.removeprefix("sqlite:///"))
        handle = await parent_v1.start(env.client, 3)
        assert (await handle.wait_for_status("completed", timeout=PATIENCE)).success
        assert str(database_file) in open_paths()

    assert asyncio.all_tasks() == tasks_before
    assert set(threading.enumerate()) == threads_before
    assert not any(path.startswith(str(database_file)) for path in open_paths())
    assert not database_file.parent.exists()


async def test_the_worker_has_a_fixed_id_and_the_clock_can_be_given() -> None:
    clock = FakeClock(start_ms=1_800_000_000_000)
    async with environment(workflows=[signup_v1], clock=clock) as env:
        handle = await signup_v1.start(env.client, "a@b.c")
        await handle.wait_for_status("completed", timeout=PATIENCE)

        assert env.worker.id == WORKER_ID
        assert env.clock is clock
        assert handle.run.created_at_ms == 1_800_000_000_000


async def test_a_run_the_worker_cannot_take_does_not_hold_time_still_and_stalls_as_in_production() -> None:
    other = workflow(name="life-unserved")

    @other.v("1.0.0")
    async def unserved_v1(run: Any) -> None:
        return None

    napper = workflow(name="life-napper")

    @napper.v("1.0.0")
    async def napper_v1(run: Any) -> str:
        await run.sleep("nap", {"days": 2})
        return "rested"

    async with environment(workflows=[napper_v1]) as env:
        stuck = await unserved_v1.start(env.client)
        result = await (await napper_v1.start(env.client)).wait_for_status("completed", timeout=PATIENCE)

        assert result.output == "rested"
        # Nobody claimed it within the server's stall_after_ms (24 hours by default), skipped time included.
        assert (await stuck.refresh()).status is RunStatus.STALLED


async def test_wrong_use_is_refused_with_a_message_that_says_what_to_do() -> None:
    with pytest.raises(ConfigurationError, match=r"worker\(workflows=\[signup_v1\]\)"):
        environment(workflows=signup_v1)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="time_skipping"):
        environment(workflows=[signup_v1], time_skipping="no")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="FakeClock"):
        environment(workflows=[signup_v1], clock=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="Unknown worker option"):
        environment(workflows=[signup_v1], worker_options={"speed": 2})
    with pytest.raises(ConfigurationError, match="Unknown server option"):
        environment(workflows=[signup_v1], server_options={"speed": 2})
    with pytest.raises(ConfigurationError, match="database URL"):
        environment(workflows=[signup_v1], db=3)  # type: ignore[arg-type]
    unentered = environment(workflows=[signup_v1])
    with pytest.raises(ConfigurationError, match="async with environment"):
        _ = unentered.client

    async with environment(workflows=[signup_v1]) as env:
        with pytest.raises(InvalidOptionError, match="must not be negative"):
            await env.advance(-1)
        with pytest.raises(ConfigurationError, match="the task object"), env.mock_task("send-email", print):  # type: ignore[arg-type]
            pass
        with pytest.raises(ConfigurationError, match="lambda input: value"), env.mock_task(send_email, {}):  # type: ignore[arg-type]
            pass
        with pytest.raises(ConfigurationError, match="entered once"):
            await env.__aenter__()
