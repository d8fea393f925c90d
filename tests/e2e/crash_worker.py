"""A worker process for the crash test: the ``pipeline`` workflow, and a ``main`` that embeds a server on a
SQLite file with a short claim timeout and runs one worker until it is killed.

Every task appends a line to ``$AIKI_CRASH_MARKERS/<task>.log`` when it starts, so the test can count how
often each one ran in any process. The task named by ``$AIKI_CRASH_HANG_IN`` never finishes in this
process: that is where the test kills it.

Run as ``python -m tests.e2e.crash_worker sqlite:////abs/path.db``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from aiki import client, database, server, task, worker, workflow

CLAIM_TIMEOUT_MS = 1_500
CLAIM_REFRESH_INTERVAL_MS = 300
POLL_INTERVAL_MS = 100


def marker_file(name: str) -> Path:
    return Path(os.environ["AIKI_CRASH_MARKERS"]) / f"{name}.log"


def executions_of(name: str) -> int:
    """How many times task ``name`` started, in every process."""
    path = marker_file(name)
    return len(path.read_text().splitlines()) if path.exists() else 0


async def _step(name: str, input: dict[str, Any]) -> str:
    with marker_file(name).open("a") as markers:
        markers.write(f"{os.getpid()}\n")
    if os.environ.get("AIKI_CRASH_HANG_IN") == name:
        await asyncio.Event().wait()  # killed here
    return f"{input['order']}:{name}"


@task(name="step-1")
async def step_1(input: dict[str, Any]) -> str:
    return await _step("step-1", input)


@task(name="step-2")
async def step_2(input: dict[str, Any]) -> str:
    return await _step("step-2", input)


@task(name="step-3")
async def step_3(input: dict[str, Any]) -> str:
    return await _step("step-3", input)


pipeline = workflow(name="pipeline")


@pipeline.v("1.0.0")
async def pipeline_v1(run: Any, input: dict[str, Any]) -> list[str]:
    return [await step_1.start(run, input), await step_2.start(run, input), await step_3.start(run, input)]


SERVER_OPTIONS = {"claim_timeout_ms": CLAIM_TIMEOUT_MS, "poll_interval_ms": POLL_INTERVAL_MS}
WORKER_OPTIONS = {
    "claim_refresh_interval_ms": CLAIM_REFRESH_INTERVAL_MS,
    "poll_interval_ms": POLL_INTERVAL_MS,
}


async def main(db_url: str) -> None:
    srv = server(db=database(db_url), opts=SERVER_OPTIONS)
    await srv.runtime.start()
    await worker(workflows=[pipeline_v1], opts=WORKER_OPTIONS).start(client(server=srv))
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
