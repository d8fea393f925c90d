"""Workflows for the multi-process end-to-end tests, imported by ``aiki worker tests.e2e.workflows_e2e:...``.

``pipeline``: three tasks with a short durable sleep between the second and the third. Every task, as it
starts, appends ``(run_id, task, pid)`` to the ``e2e_executions`` table of the PostgreSQL database named by
``$AIKI_E2E_EXECUTIONS_DB``, so a test can count how often each task ran in any process; each task returns
the pid of the process that ran it, so a test can tell whose result was recorded.

``$AIKI_E2E_HOLD=task:ms`` makes that task hold for ``ms`` after recording its start, in this process only:
the window in which a test freezes or kills the worker.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import psycopg

from aiki import task, workflow

EXECUTIONS_TABLE = """
CREATE TABLE IF NOT EXISTS e2e_executions (
    id BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL,
    task TEXT NOT NULL,
    pid INTEGER NOT NULL
)
"""
TASKS = ("first", "second", "third")
SLEEP_MS = 200

_connection: psycopg.AsyncConnection[Any] | None = None
_connecting = asyncio.Lock()


async def _executions() -> psycopg.AsyncConnection[Any]:
    """This process's connection to the executions table (one, shared: each insert is one statement)."""
    global _connection
    async with _connecting:
        if _connection is None or _connection.closed:
            _connection = await psycopg.AsyncConnection.connect(
                os.environ["AIKI_E2E_EXECUTIONS_DB"], autocommit=True
            )
        return _connection


def _hold_ms(name: str) -> int:
    held, _, milliseconds = os.environ.get("AIKI_E2E_HOLD", "").partition(":")
    return int(milliseconds) if held == name else 0


async def _step(name: str, input: dict[str, Any]) -> dict[str, Any]:
    connection = await _executions()
    await connection.execute(
        "INSERT INTO e2e_executions (run_id, task, pid) VALUES (%s, %s, %s)",
        (input["run_id"], name, os.getpid()),
    )
    hold_ms = _hold_ms(name)
    if hold_ms:
        await asyncio.sleep(hold_ms / 1000)
    return {"task": name, "n": input["n"], "pid": os.getpid()}


@task(name="first")
async def first(input: dict[str, Any]) -> dict[str, Any]:
    return await _step("first", input)


@task(name="second")
async def second(input: dict[str, Any]) -> dict[str, Any]:
    return await _step("second", input)


@task(name="third")
async def third(input: dict[str, Any]) -> dict[str, Any]:
    return await _step("third", input)


pipeline = workflow(name="e2e-pipeline")


@pipeline.v("1.0.0")
async def pipeline_v1(run: Any, input: dict[str, Any]) -> list[dict[str, Any]]:
    """``[first, second, (sleep), third]`` results, each naming the process that ran it."""
    step_input = {"run_id": run.id, "n": input["n"]}
    results = [await first.start(run, step_input), await second.start(run, step_input)]
    await run.sleep("pause", {"milliseconds": SLEEP_MS})
    results.append(await third.start(run, step_input))
    return results
