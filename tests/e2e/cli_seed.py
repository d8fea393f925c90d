"""A database with runs in many statuses and a schedule, for tests of the ``aiki`` command and the dashboard.

``await seed(db_url)`` runs an embedded server and worker on ``db_url`` until every run has reached the
status it is meant to stay in, then stops them; it returns the run ids by name. Run it as
``python -m tests.e2e.cli_seed sqlite:////abs/path.db`` to get a database to look at.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from aiki import Client, RunStatus, client, database, event, schedule, server, task, worker, workflow
from aiki.types import TERMINAL_STATUSES

PATIENCE_S = 20
PATIENCE = {"seconds": PATIENCE_S}


@task(name="greet")
async def greet(name: str) -> str:
    return f"hello {name}"


@task(name="charge")
async def charge(amount: int) -> None:
    raise ValueError(f"card declined for {amount}")


greeting = workflow(name="greeting")


@greeting.v("1.0.0")
async def greeting_v1(run: Any, input: dict[str, Any]) -> str:
    """Completes with ``hello <name>``."""
    result: str = await greet.start(run, input["name"])
    return result


billing = workflow(name="billing")


@billing.v("1.0.0")
async def billing_v1(run: Any, input: dict[str, Any]) -> None:
    """Fails: its task raises."""
    await charge.start(run, input["amount"])


approval = workflow(name="approval")


@approval.v("1.0.0", events={"approved": event()})
async def approval_v1(run: Any, input: dict[str, Any]) -> Any:
    """Waits for the ``approved`` event."""
    return (await run.events.approved.wait()).data


reminder = workflow(name="reminder")


@reminder.v("1.0.0")
async def reminder_v1(run: Any, input: dict[str, Any]) -> str:
    """Sleeps an hour, then greets."""
    await run.sleep("wait", {"hours": 1})
    result: str = await greet.start(run, input["name"])
    return result


#: a workflow no worker in these tests registers: its runs stay queued
backlog = workflow(name="backlog")


@backlog.v("1.0.0")
async def backlog_v1(run: Any, input: dict[str, Any]) -> None:
    """Never run here."""


async def reach(c: Client, run_id: str, status: RunStatus) -> None:
    """Return once run ``run_id`` is in ``status`` (woken by each change of the run; at most 20 s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE_S
    run = await c.transport.get_run(run_id)
    while run.status is not status:
        if run.status in TERMINAL_STATUSES or loop.time() > deadline:
            raise AssertionError(
                f"run {run_id} is {run.status.value}, not {status.value}, after {PATIENCE_S}s"
            )
        run = await c.transport.wait_for_change(run_id, run.revision, 1_000)


async def seed(db_url: str) -> dict[str, str]:
    """Runs named by what they show: completed, failed, awaiting_event, sleeping (x2), queued (x3), paused,
    cancelled; and one hourly schedule (its id under ``schedule``)."""
    srv = server(db=database(db_url), opts={"poll_interval_ms": 100})
    runtime = await srv.runtime.start()
    c = client(server=srv)
    running = await worker(
        workflows=[greeting_v1, billing_v1, approval_v1, reminder_v1], opts={"poll_interval_ms": 100}
    ).start(c)
    try:
        completed = await greeting_v1.start(c, {"name": "Ada"})
        failed = await billing_v1.start(c, {"amount": 42})
        waiting = await approval_v1.start(c, {"request": "r-1"})
        sleeping = [await reminder_v1.start(c, {"name": name}) for name in ("Grace", "Linus")]
        await completed.wait_for_status("completed", timeout=PATIENCE)
        await failed.wait_for_status("failed", timeout=PATIENCE)
        await reach(c, waiting.id, RunStatus.AWAITING_EVENT)
        for handle in sleeping:
            await reach(c, handle.id, RunStatus.SLEEPING)
        queued = [await backlog_v1.start(c, {"item": item}) for item in range(3)]
        paused = await backlog_v1.start(c, {"item": "paused"})
        await paused.pause()
        cancelled = await backlog_v1.start(c, {"item": "cancelled"})
        await cancelled.cancel("no longer needed")
        hourly = await schedule(type="interval", every={"hours": 1}).activate(
            c, greeting_v1, {"name": "cron"}
        )
    finally:
        await running.stop()
        await runtime.stop()
        await srv.close()
    return {
        "completed": completed.id,
        "failed": failed.id,
        "awaiting_event": waiting.id,
        "sleeping": sleeping[0].id,
        "sleeping_2": sleeping[1].id,
        "queued": queued[0].id,
        "queued_2": queued[1].id,
        "queued_3": queued[2].id,
        "paused": paused.id,
        "cancelled": cancelled.id,
        "schedule": hourly.id,
    }


if __name__ == "__main__":
    for name, value in asyncio.run(seed(sys.argv[1])).items():
        print(name, value)
