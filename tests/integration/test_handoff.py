"""A run started while a worker waits for work is created claimed for it, and everything else holds."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiki import RunStatus, task, workflow
from aiki.contract import ClaimRequest
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
