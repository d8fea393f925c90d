"""Scheduled report: a workflow that a schedule runs every few hundred milliseconds, for real.

Run it with ``python examples/scheduled_report.py [--db sqlite:///path.db] [--runs 3] [--every-ms 300]``.
It starts a server, its timer runtime and a worker in this process, activates an interval schedule for a
report workflow, waits until the schedule has started and finished a few runs, prints them, and deactivates
the schedule. Activating the same definition again (as a second start of this script on the same database
would) returns the same schedule instead of creating another.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from aiki import (
    ScheduleHandle,
    WorkflowRunContext,
    client,
    database,
    schedule,
    server,
    task,
    worker,
    workflow,
)


@task(name="count-sales")
async def count_sales(input: dict[str, str]) -> dict[str, str | int]:
    # A real report would query a database; the example counts what it was asked to.
    return {"region": input["region"], "orders": len(input["region"]) * 7}


report = workflow(name="sales-report")


@report.v("1.0.0")
async def report_v1(run: WorkflowRunContext, input: dict[str, str]) -> dict[str, str | int]:
    totals = await count_sales.start(run, input)
    run.logger.info("report for %s: %s orders", totals["region"], totals["orders"])
    return totals


async def wait_for_completed_runs(handle: ScheduleHandle, count: int, every_ms: int) -> list[str]:
    """The ids of the schedule's first ``count`` runs, once each has completed."""
    completed: list[str] = []
    while len(completed) < count:
        runs = sorted(await handle.runs(), key=lambda run: run.created_at_ms)
        pending = [run for run in runs if run.id not in completed]
        if not pending:
            # The next occurrence has not come yet.
            await asyncio.sleep(every_ms / 2000)
            continue
        run = pending[0]
        result = await (await report_v1.get_handle(handle.client, run.id)).wait_for_status(
            "completed", timeout={"seconds": 30}
        )
        if not result.success or result.state is None:
            raise SystemExit(f"run {run.id} did not complete: {result}")
        print(f"  run {run.id} ({run.reference_id}): {result.state.output}")
        completed.append(run.id)
    return completed[:count]


async def main(db_url: str, runs: int = 3, every_ms: int = 300) -> list[str]:
    """Run the schedule until ``runs`` reports have completed; returns their run ids."""
    srv = server(db=database(db_url))
    runtime = await srv.runtime.start()
    c = client(server=srv)
    running = await worker(workflows=[report_v1], opts={"poll_interval_ms": 200}).start(c)
    try:
        every = schedule(type="interval", every={"milliseconds": every_ms}, overlap_policy="skip")
        handle = await every.activate(c, report_v1, {"region": "emea"})
        print(f"schedule {handle.id}: {handle.info.timing}, overlap {handle.info.overlap_policy}")
        again = await every.activate(c, report_v1, {"region": "emea"})
        print(f"activated again: the same schedule? {again.id == handle.id}")
        completed = await wait_for_completed_runs(handle, runs, every_ms)
        info = await handle.deactivate()
        print(f"schedule {info.id} is now {info.status.value}")
        return completed
    finally:
        await running.stop()
        await runtime.stop()
        await srv.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a new SQLite file in a temporary folder)")
    parser.add_argument("--runs", type=int, default=3, help="how many reports to wait for")
    parser.add_argument("--every-ms", type=int, default=300, help="the schedule's interval in milliseconds")
    arguments = parser.parse_args()
    url = arguments.db or f"sqlite:///{Path(tempfile.mkdtemp(prefix='aiki-schedule-')) / 'aiki.db'}"
    asyncio.run(main(url, arguments.runs, arguments.every_ms))
