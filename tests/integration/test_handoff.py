"""A run started while a worker waits for work is created claimed for it, runs a timer queues are claimed for
it in the timer's transaction, and everything else holds."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from aiki import RunStatus, WorkflowVersion, task, workflow
from aiki.contract import ClaimRequest
from aiki.server.commands import runs as runs_commands
from tests.conftest import Env
from tests.integration.run_watch import until


@task(name="handoff-echo")
async def echo(value: Any) -> Any:
    return value


@workflow(name="handoff").v("1.0.0")
async def handoff_v1(run: Any, input: Any) -> Any:
    return await echo.start(run, input)


async def _worker_waits(env: Env) -> None:
    async with asyncio.timeout(15):
        while not env.server.core.handoff.waiting:  # noqa: ASYNC110 -- the claim signals nothing to await
            await asyncio.sleep(0.005)


async def test_a_run_started_while_a_worker_waits_is_created_claimed_for_it(env: Env) -> None:
    await env.start_worker(handoff_v1, poll_interval_ms=60_000)
    await _worker_waits(env)
    handoff = env.server.core.handoff
    taken = []
    take = handoff.take
    handoff.take = lambda *args: taken.append(take(*args)) or taken[-1]  # type: ignore[method-assign]

    handle = await handoff_v1.start(env.client, "straight in")

    assert len(taken) == 1 and taken[0] is not None and taken[0].request.worker_id == env.workers[0].id

    assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).output == "straight in"
    timeline = await env.client.get_timeline(handle.id)
    assert [(t.revision, t.from_status, t.to_status, t.reason) for t in timeline[:2]] == [
        (0, None, "queued", "new"),
        (1, "queued", "running", "claimed"),
    ]
    assert [t.revision for t in timeline] == list(range(len(timeline)))


async def test_in_a_burst_of_starts_only_a_lone_start_looks_for_a_waiting_claim(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    await env.start_worker(handoff_v1, poll_interval_ms=60_000)
    await _worker_waits(env)
    handoff = env.server.core.handoff
    looked = []
    take = handoff.take
    handoff.take = lambda *args: looked.append(args) or take(*args)  # type: ignore[method-assign]
    create_run = runs_commands.create_run

    async def slow_first(*args: Any) -> Any:
        if len(looked) == 1 and not others_started.is_set():
            others_started.set()
            await asyncio.sleep(0.2)  # the first start is still under way while the others come
        return await create_run(*args)

    others_started = asyncio.Event()
    monkeypatch.setattr(runs_commands, "create_run", slow_first)

    handles = await asyncio.gather(*(handoff_v1.start(env.client, index) for index in range(5)))

    # The first start was alone when it looked; the others came while it was under way: the waiting claim
    # takes them by the batch.
    assert len(looked) == 1
    for index, handle in enumerate(handles):
        assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).output == index


async def test_a_run_handed_to_a_claim_that_stops_goes_back_to_the_queue(env: Env) -> None:
    commands = env.server.commands.workers
    claim = asyncio.create_task(
        commands.claim(
            "default",
            ClaimRequest(
                worker_id="leaving", workflows=[("handoff", "1.0.0")], shards=None, limit=1, wait_ms=30_000
            ),
        )
    )
    await _worker_waits(env)
    # The claim stops the moment a start takes it, before the start's statement commits.
    taken = env.server.core.handoff.take
    env.server.core.handoff.take = lambda *args: (claim.cancel(), taken(*args))[1]  # type: ignore[method-assign]

    handle = await handoff_v1.start(env.client, "given back")
    env.server.core.handoff.take = taken  # type: ignore[method-assign]
    with contextlib.suppress(asyncio.CancelledError):
        await claim

    queued = await until(handle, RunStatus.QUEUED)
    assert queued.state.reason == "released"
    await env.start_worker(handoff_v1)
    assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).output == "given back"


def _napper() -> tuple[WorkflowVersion[Any, Any], list[Any]]:
    """A fresh ``napper@1.0.0``: a task, a one-second sleep, a task; and the first task's executions."""
    before_done: list[Any] = []

    @task(name="napper-before")
    async def before(value: Any) -> Any:
        before_done.append(value)
        return value

    @workflow(name="napper").v("1.0.0")
    async def napper_v1(run: Any, input: Any) -> Any:
        first = await before.start(run, input)
        await run.sleep("nap", 1_000)
        return [first, await echo.start(run, input)]

    return napper_v1, before_done


async def test_runs_a_timer_wakes_together_go_straight_to_the_waiting_worker_with_their_history(
    fake_env: Env,
) -> None:
    assert fake_env.clock is not None
    napper_v1, before_done = _napper()
    await fake_env.start_worker(napper_v1, poll_interval_ms=60_000)
    handles = [await napper_v1.start(fake_env.client, index) for index in range(3)]
    for handle in handles:
        await until(handle, RunStatus.SLEEPING)
    await _worker_waits(fake_env)
    handoff = fake_env.server.core.handoff
    taken = []
    take = handoff.take
    handoff.take = lambda *args: taken.append(take(*args)) or taken[-1]  # type: ignore[method-assign]

    fake_env.clock.advance(1_000)
    assert await fake_env.server.runtime.tick() == 3

    # One waiting claim took all three, in the timer's own transaction.
    assert len(taken) == 1 and taken[0] is not None
    for index, handle in enumerate(handles):
        assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).output == [index, index]
        timeline = await fake_env.client.get_timeline(handle.id)
        woken = next(at for at, t in enumerate(timeline) if t.reason == "wakeup")
        assert [(t.from_status, t.to_status, t.reason) for t in timeline[woken : woken + 2]] == [
            ("sleeping", "queued", "wakeup"),
            ("queued", "running", "claimed"),
        ]
        assert [t.revision for t in timeline] == list(range(len(timeline)))
    assert sorted(before_done) == [0, 1, 2]  # replayed from the history handed with the run, not run again


async def test_runs_handed_by_a_timer_transaction_that_fails_are_not_lost(
    fake_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fake_env.clock is not None
    napper_v1, _ = _napper()
    await fake_env.start_worker(napper_v1, poll_interval_ms=60_000)
    handle = await napper_v1.start(fake_env.client, "again")
    await until(handle, RunStatus.SLEEPING)
    await _worker_waits(fake_env)
    timers = fake_env.server.runtime.sources[0]
    hand_on = timers._hand_on  # type: ignore[attr-defined]

    async def failing(*args: Any) -> None:
        await hand_on(*args)
        raise ConnectionError("the database went away")

    monkeypatch.setattr(timers, "_hand_on", failing)
    fake_env.clock.advance(1_000)
    with pytest.raises(ConnectionError):
        await fake_env.server.runtime.tick()

    # Rolled back: still asleep, and the claim that was to take it got nothing and waits again.
    assert (await handle.refresh()).status is RunStatus.SLEEPING
    await _worker_waits(fake_env)
    monkeypatch.undo()
    assert await fake_env.server.runtime.tick() == 1
    assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).output == ["again", "again"]
