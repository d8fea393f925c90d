"""Workflows and a seed for the dashboard's browser tests: runs in every status a user meets.

``await seed(db_url)`` runs an embedded server and worker on ``db_url`` until each run has reached the
status it is meant to stay in, then stops them, and returns the run ids by name. ``SERVED`` are the versions
the tests' ``aiki worker`` process registers (``backlog`` and ``orphan`` are served by nobody). Run it as
``python -m tests.e2e.dashboard_workflows sqlite:////abs/path.db`` to get a database to look at.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from aiki import (
    Client,
    RunStatus,
    WorkflowVersion,
    client,
    database,
    event,
    schedule,
    server,
    task,
    worker,
    workflow,
)
from tests.e2e.cli_seed import reach

PATIENCE = {"seconds": 20}
#: runs of the never-served ``backlog`` workflow, so that the list has several pages (of 50)
BACKLOG_RUNS = 170
_flaky_calls: dict[str, int] = {}


@task(name="greet")
async def greet(name: str) -> str:
    return f"hello {name}"


@task(name="charge")
async def charge(amount: int) -> None:
    raise ValueError(f"card declined for {amount}")


@task(name="fetch_rate", retry={"type": "fixed", "max_attempts": 3, "delay_ms": 20})
async def fetch_rate(key: str) -> float:
    """Fails its first two attempts (per key, in this process), then answers."""
    _flaky_calls[key] = _flaky_calls.get(key, 0) + 1
    if _flaky_calls[key] < 3:
        raise ConnectionError(f"rate service unreachable (attempt {_flaky_calls[key]})")
    return 1.25


greeting = workflow(name="greeting")


@greeting.v("1.0.0")
async def greeting_v1(run: Any, input: dict[str, Any]) -> str:
    """Completes with ``hello <name>``."""
    result: str = await greet.start(run, input["name"])
    return result


billing = workflow(name="billing")


@billing.v("1.0.0")
async def billing_v1(run: Any, input: dict[str, Any]) -> None:
    """Fails: its task raises (with a traceback)."""
    await charge.start(run, input["amount"])


approval = workflow(name="approval")


@approval.v("1.0.0", events={"approved": event(), "rejected": event()})
async def approval_v1(run: Any, input: dict[str, Any]) -> Any:
    """Waits for the ``approved`` event and returns its data."""
    return (await run.events.approved.wait()).data


reminder = workflow(name="reminder")


@reminder.v("1.0.0")
async def reminder_v1(run: Any, input: dict[str, Any]) -> str:
    """Sleeps an hour, then greets."""
    await run.sleep("wait", {"hours": 1})
    result: str = await greet.start(run, input["name"])
    return result


exchange = workflow(name="exchange")


@exchange.v("1.0.0")
async def exchange_v1(run: Any, input: dict[str, Any]) -> float:
    """Retries its task twice, sleeps briefly, then completes: a waterfall with several bars."""
    rate: float = await fetch_rate.start(run, input["key"])
    await run.sleep("settle", {"milliseconds": 50})
    greeting_text: str = await greet.start(run, input["key"])
    return rate if greeting_text else 0.0


branch = workflow(name="branch")


@branch.v("1.0.0")
async def branch_v1(run: Any, input: dict[str, Any]) -> str:
    """Starts one greeting child and waits for it."""
    leaf = await greeting_v1.start_as_child(run, {"name": input["name"]})
    await leaf.wait_for_status("completed", timeout={"minutes": 1})
    return "branch done"


family = workflow(name="family")


@family.v("1.0.0")
async def family_v1(run: Any, input: dict[str, Any]) -> str:
    """Starts two branch children (each with a greeting child): a tree of three levels."""
    children = [await branch_v1.start_as_child(run, {"name": name}) for name in ("left", "right")]
    for child in children:
        await child.wait_for_status("completed", timeout={"minutes": 1})
    return "family done"


#: a workflow no worker registers: its runs stay queued
backlog = workflow(name="backlog")


@backlog.v("1.0.0")
async def backlog_v1(run: Any, input: dict[str, Any]) -> None:
    """Never run here."""


#: a workflow no worker registers, whose runs the seed lets stall
orphan = workflow(name="orphan")


@orphan.v("1.0.0")
async def orphan_v1(run: Any, input: dict[str, Any]) -> None:
    """Never run here."""


#: the versions the tests' worker process serves
SERVED: list[WorkflowVersion[Any, Any]] = [
    greeting_v1,
    billing_v1,
    approval_v1,
    reminder_v1,
    exchange_v1,
    branch_v1,
    family_v1,
]


async def _stalled(db_url: str) -> list[str]:
    srv = server(db=database(db_url), opts={"poll_interval_ms": 50, "stall_after_ms": 200})
    runtime = await srv.runtime.start()
    c = client(server=srv)
    try:
        stalled = [await orphan_v1.start(c, {"item": item}) for item in range(2)]
        for handle in stalled:
            await reach(c, handle.id, RunStatus.STALLED)
    finally:
        await runtime.stop()
        await srv.close()
    return [handle.id for handle in stalled]


async def _settle(c: Client) -> dict[str, str]:
    completed = await greeting_v1.start(c, {"name": "Ada"})
    failed = await billing_v1.start(c, {"amount": 42})
    waiting = await approval_v1.start(c, {"request": "r-1"})
    waiting_2 = await approval_v1.with_().opt("reference.id", "order-7").start(c, {"request": "r-2"})
    sleeping = [await reminder_v1.start(c, {"name": name}) for name in ("Grace", "Linus")]
    retried = await exchange_v1.start(c, {"key": "EURUSD"})
    parent = await family_v1.start(c, {})
    await completed.wait_for_status("completed", timeout=PATIENCE)
    await failed.wait_for_status("failed", timeout=PATIENCE)
    await retried.wait_for_status("completed", timeout=PATIENCE)
    await parent.wait_for_status("completed", timeout=PATIENCE)
    await reach(c, waiting.id, RunStatus.AWAITING_EVENT)
    await reach(c, waiting_2.id, RunStatus.AWAITING_EVENT)
    for handle in sleeping:
        await reach(c, handle.id, RunStatus.SLEEPING)
    return {
        "completed": completed.id,
        "failed": failed.id,
        "awaiting_event": waiting.id,
        "awaiting_event_2": waiting_2.id,
        "sleeping": sleeping[0].id,
        "sleeping_2": sleeping[1].id,
        "retried": retried.id,
        "parent": parent.id,
    }


async def seed(db_url: str) -> dict[str, str]:
    """About 190 runs: completed, failed, awaiting_event (x2, one with a reference id), sleeping (x2), a task
    retried twice, a parent with children and grandchildren, stalled (x2), paused, cancelled and queued
    ``backlog`` runs (:data:`BACKLOG_RUNS`); and one hourly schedule (its id under ``schedule``)."""
    stalled = await _stalled(db_url)
    srv = server(db=database(db_url), opts={"poll_interval_ms": 50})
    runtime = await srv.runtime.start()
    c = client(server=srv)
    running = await worker(workflows=SERVED, opts={"poll_interval_ms": 50}).start(c)
    try:
        ids = await _settle(c)
        await running.stop()
        paused = await backlog_v1.start(c, {"item": "paused"})
        await paused.pause()
        cancelled = await backlog_v1.start(c, {"item": "cancelled"})
        await cancelled.cancel("no longer needed")
        for item in range(BACKLOG_RUNS):
            await backlog_v1.start(c, {"item": item})
        queued = await backlog_v1.with_().opt("reference.id", "invoice-2026-001").start(c, {"item": "last"})
        hourly = await schedule(type="interval", every={"hours": 1}).activate(
            c, greeting_v1, {"name": "cron"}
        )
    finally:
        await running.stop()
        await runtime.stop()
        await srv.close()
    return {
        **ids,
        "stalled": stalled[0],
        "stalled_2": stalled[1],
        "paused": paused.id,
        "cancelled": cancelled.id,
        "queued": queued.id,
        "schedule": hourly.id,
    }


if __name__ == "__main__":
    for name, value in asyncio.run(seed(sys.argv[1])).items():
        print(name, value)
