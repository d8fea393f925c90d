"""A workflow scenario that sends every statement of the hot path once or more: starts (plain, by reference,
delayed), claims, checkpoints, a sleep, an event, a child and its wait, pause and resume, a cancel, reads,
lists, counts, a metrics scrape, a multi-queue claim, a refresh, retention and a purge. The plan tests run it on large
tables."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from aiki import Client, FakeClock, RunStatus, WorkflowRunHandle, event, task, workflow
from aiki.contract import ClaimRequest
from aiki.server.server import Server

HOUR_MS = 3_600_000


@task(name="plan-step")
async def step(value: int) -> int:
    return value


@workflow(name="plan-child").v("1")
async def plan_child_v1(run: Any, value: int) -> int:
    await run.sleep("child-nap", {"seconds": 30})
    return await step.start(run, value)


@workflow(name="plan-parent").v("1", events={"go": event()})
async def plan_parent_v1(run: Any, value: int) -> int:
    await step.start(run, value)
    await run.sleep("nap", {"seconds": 1})
    await run.events.go.wait(timeout={"hours": 1})
    child = await plan_child_v1.start_as_child(run, value)
    await child.wait_for_status("completed")
    return await step.start(run, value + 1)


async def until(handle: WorkflowRunHandle[Any], status: RunStatus) -> None:
    for _ in range(1_000):
        if (await handle.refresh()).status is status:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"run {handle.id} never reached {status.value}; it is {handle.status.value}")


async def run_hot_path(srv: Server, c: Client, key: int, *, purge: bool = False) -> None:
    """Drive the scenario once (a worker of both versions must be running); ``key`` makes its inputs and
    reference ids its own. Needs a server on a ``FakeClock`` whose runtime is not started. ``purge``: also
    purge the filled tables' first ~220 cancelled runs, more than one page of the command (the purge reads
    whole pages of 200 roots' trees: a test that limits the buffers a statement touches leaves it out)."""
    clock = srv.clock
    assert isinstance(clock, FakeClock)
    parent = await plan_parent_v1.start(c, key)
    named = await plan_parent_v1.with_().opt("reference.id", f"order-{key}").start(c, key + 1)
    assert (await plan_parent_v1.with_().opt("reference.id", f"order-{key}").start(c, key + 1)).id == named.id
    later = await plan_parent_v1.with_().opt("trigger", {"delay": {"hours": 2}}).start(c, key + 2)

    await until(parent, RunStatus.SLEEPING)
    await until(named, RunStatus.SLEEPING)
    await named.pause()
    await named.resume()
    clock.advance(1_000)
    await srv.runtime.tick()
    await until(parent, RunStatus.AWAITING_EVENT)
    await parent.events.go.send({"ok": True})
    await until(parent, RunStatus.AWAITING_CHILD_WORKFLOW)
    child_id = parent.run.state.child_run_id
    assert child_id is not None
    await until(await plan_child_v1.get_handle(c, child_id), RunStatus.SLEEPING)
    clock.advance(30_000)
    await srv.runtime.tick()
    done = await parent.wait_for_status("completed", timeout={"seconds": 20})
    assert done.success, done

    # The named run waits for its event; cancelling it ends its wait.
    await until(named, RunStatus.AWAITING_EVENT)
    await named.cancel("plan test")
    await c.transport.get_history(parent.id)
    await c.transport.get_timeline(parent.id)
    page = await c.list_runs(limit=20)
    await c.list_runs(limit=20, cursor=page.next_cursor)
    await c.list_runs(status=["failed", "cancelled"], workflow="fill-3", limit=20)
    await c.list_runs(status="completed", order="oldest", limit=20, created_after=1_600_000_500_000)
    await c.list_runs(workflow="fill-4", version="v0", limit=20)
    await c.list_runs(parent_run_id="f0000000000000000000000100", limit=20)
    await c.list_runs(reference_id="ref-70", limit=20)
    await c.list_runs(schedule_id="sched-1", limit=20)
    await c.count_runs(workflow="fill-3", status="failed")
    await c.count_runs(status=["queued", "running"])
    await c.workflow_stats()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(srv.app), base_url="http://aiki.test") as http:
        assert (await http.get("/metrics")).status_code == 200

    # A claim over several versions and shards, and a refresh of a claim this worker does not hold.
    await srv.workers.claim(
        "default",
        ClaimRequest(
            worker_id="w", workflows=[("fill-1", "v1"), ("fill-3", "v1")], shards=["east", "west"], limit=5
        ),
    )
    assert await srv.workers.refresh_claims("default", [(parent.id, "not-the-token")]) == [parent.id]
    await srv.runtime.next_deadline()

    if purge:
        # Filled runs are created a second apart, one in twenty cancelled: ~220 in the first 4,400 s.
        await c.purge_runs(before=1_600_004_400_000, status="cancelled")

    # Retention (the server keeps runs an hour): past it, the finished trees go; the later run started.
    clock.advance(3 * HOUR_MS)
    await srv.runtime.tick()
    assert (await later.refresh()).status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SLEEPING)
