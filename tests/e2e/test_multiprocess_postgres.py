"""``aiki server`` on PostgreSQL with ``aiki worker`` processes over HTTP, as a deployment runs them.

The workflow (tests/e2e/workflows_e2e.py) records every task execution with its process id in a side table
of the same database, and each task returns that process id: the tests count executions per (run, task) and
tell whose result was recorded. One worker is killed with SIGKILL under load; another is frozen with
SIGSTOP past its claim timeout and woken up again.
"""

from __future__ import annotations

import asyncio
import collections
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from aiki import Client, WorkflowRun, client
from tests.conftest import BACKENDS
from tests.e2e.processes import AikiProcess, clean_environment, start_aiki, start_server
from tests.e2e.workflows_e2e import EXECUTIONS_TABLE, TASKS, pipeline_v1

if "postgres" not in BACKENDS:
    pytest.skip("PostgreSQL is not among AIKI_TEST_BACKENDS", allow_module_level=True)

CLAIM_TIMEOUT_MS = 2_000
WORKER_OPTIONS = ["--claim-refresh-interval-ms", "300", "--poll-interval-ms", "500"]
CONCURRENCY = 10
RUNS = 300
#: the load phase (starting the runs, the kill, the recovery) must be done well within this
LOAD_BUDGET_S = 45.0
PATIENCE_S = 30.0
TASK_REJECTED = re.compile(r'"POST /api/v1/worker/tasks HTTP/1\.1" 409')

#: (run id, task name) -> the pids of the processes that started it, in order
Executions = dict[tuple[str, str], list[int]]


@dataclass
class Cluster:
    """The database, the ``aiki server`` process on it, and its URL."""

    db_url: str
    url: str
    server: AikiProcess
    logs: Path


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A new, empty PostgreSQL database (dropped afterwards) and ``aiki server`` on it, which migrates it."""
    from tests.postgres_support import fresh_postgres_url

    db_url = fresh_postgres_url(request, migrated=False)
    with psycopg.connect(db_url, autocommit=True) as connection:
        connection.execute(EXECUTIONS_TABLE)
    logs = tmp_path_factory.mktemp("multiprocess")
    # --log-level info: uvicorn's access log shows the status of every worker write.
    server, url = start_server(
        db_url, logs / "server.log", "--claim-timeout-ms", str(CLAIM_TIMEOUT_MS), "--log-level", "info"
    )
    try:
        yield Cluster(db_url, url, server, logs)
    finally:
        server.stop()


@pytest.fixture
def spawn_worker(cluster: Cluster) -> Iterator[Callable[..., AikiProcess]]:
    """Start ``aiki worker`` processes over HTTP; every one is ended when the test ends."""
    started: list[AikiProcess] = []

    def spawn(name: str, *, concurrency: int = CONCURRENCY, hold: str = "") -> AikiProcess:
        environment = clean_environment(AIKI_E2E_EXECUTIONS_DB=cluster.db_url, AIKI_E2E_HOLD=hold)
        process = start_aiki(
            [
                "worker",
                "tests.e2e.workflows_e2e:pipeline_v1",
                "--url",
                cluster.url,
                "--concurrency",
                str(concurrency),
                *WORKER_OPTIONS,
            ],
            cluster.logs / f"{name}.log",
            environment,
        )
        started.append(process)
        return process

    try:
        yield spawn
    finally:
        for process in started:
            process.stop()


async def fetch(db_url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as connection:
        cursor = await connection.execute(query, params)
        return await cursor.fetchall()


async def executions(db_url: str, run_ids: set[str]) -> Executions:
    found: Executions = collections.defaultdict(list)
    for run_id, name, pid in await fetch(db_url, "SELECT run_id, task, pid FROM e2e_executions ORDER BY id"):
        if run_id in run_ids:
            found[(run_id, name)].append(pid)
    return found


async def until(condition: Callable[[], Any], what: str, timeout_s: float = PATIENCE_S) -> Any:
    """Poll the async ``condition`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout_s}s: {what}")
        # Other processes change the database; there is no notification to wait on here.
        await asyncio.sleep(0.1)


async def start_runs(c: Client, numbers: range) -> list[str]:
    handles = await asyncio.gather(*(pipeline_v1.start(c, {"n": n}) for n in numbers))
    return [handle.id for handle in handles]


async def finished_runs(c: Client, run_ids: list[str]) -> dict[str, WorkflowRun]:
    runs = await c.list_runs(workflow=pipeline_v1.name, limit=1000, include_values=True)
    return {run.id: run for run in runs if run.id in set(run_ids)}


def assert_outputs_name_the_last_execution(
    runs: dict[str, WorkflowRun], numbers: dict[str, int], found: Executions
) -> None:
    """Each run completed with its three results, each from the process whose execution was recorded."""
    for run_id, run in runs.items():
        assert run.status.value == "completed", run
        assert run.state.output == [
            {"task": name, "n": numbers[run_id], "pid": found[(run_id, name)][-1]} for name in TASKS
        ], run_id


async def test_300_runs_all_complete_when_a_worker_is_killed_mid_load_and_no_finished_task_runs_again(
    cluster: Cluster, spawn_worker: Callable[..., AikiProcess]
) -> None:
    begun = time.monotonic()
    # The victim spends a while inside 'second' of every run it holds, so the kill interrupts tasks.
    victim = spawn_worker("victim", hold="second:200")
    survivors = [spawn_worker("survivor-1"), spawn_worker("survivor-2")]
    c = client(url=cluster.url)
    try:
        run_ids = await start_runs(c, range(RUNS))
        numbers = {run_id: n for n, run_id in enumerate(run_ids)}

        async def finished_tasks_once_the_victim_is_busy_mid_load() -> set[tuple[str, str]]:
            # One statement: the tasks completed at the moment the condition held, the kill follows at once.
            rows = await fetch(
                cluster.db_url,
                "WITH progress AS (SELECT count(*) FILTER (WHERE status = 'completed') AS completed, "
                "count(*) FILTER (WHERE status = 'running' AND worker_id LIKE %s) AS held FROM runs) "
                "SELECT run_id, name FROM tasks, progress "
                "WHERE progress.completed >= %s AND progress.held >= 3 AND tasks.status = 'completed'",
                (f"%:{victim.pid}:%", RUNS // 5),
            )
            return {(run_id, name) for run_id, name in rows if run_id in numbers}

        finished_before_kill: set[tuple[str, str]] = await until(
            finished_tasks_once_the_victim_is_busy_mid_load,
            "a fifth of the runs done and the victim holding runs",
        )
        victim.process.send_signal(signal.SIGKILL)
        assert victim.process.wait(timeout=10) == -signal.SIGKILL

        async def all_completed() -> bool:
            [(completed,)] = await fetch(
                cluster.db_url,
                "SELECT count(*) FROM runs WHERE status = 'completed' AND id = ANY(%s)",
                (run_ids,),
            )
            return bool(completed == RUNS)

        await until(all_completed, f"all {RUNS} runs completed", timeout_s=LOAD_BUDGET_S)
        elapsed_s = time.monotonic() - begun
        runs = await finished_runs(c, run_ids)
    finally:
        await c.close()

    assert len(runs) == RUNS  # none lost
    found = await executions(cluster.db_url, set(run_ids))
    assert set(found) == {(run_id, name) for run_id in run_ids for name in TASKS}
    assert_outputs_name_the_last_execution(runs, numbers, found)
    # A task recorded as completed before the kill never ran again.
    assert all(len(found[key]) == 1 for key in finished_before_kill)
    # Only tasks the victim was running when it died ran again, once, elsewhere; at most one per run it held.
    again = {key: pids for key, pids in found.items() if len(pids) > 1}
    assert all(len(pids) == 2 and pids[0] == victim.pid != pids[1] for pids in again.values()), again
    assert len({run_id for run_id, _name in again}) <= CONCURRENCY
    recovered = await fetch(
        cluster.db_url,
        "SELECT DISTINCT run_id FROM transitions WHERE reason = 'recovery' AND run_id = ANY(%s)",
        (run_ids,),
    )
    assert 1 <= len(recovered) <= CONCURRENCY
    duplicates = await fetch(
        cluster.db_url,
        "SELECT run_id, address, occurrence FROM tasks WHERE status <> 'discarded' "
        "GROUP BY run_id, address, occurrence HAVING count(*) > 1",
    )
    assert duplicates == []
    assert all(survivor.process.poll() is None for survivor in survivors)
    assert elapsed_s < LOAD_BUDGET_S


async def test_a_worker_frozen_past_its_claim_timeout_has_its_late_writes_rejected_when_it_wakes_up(
    cluster: Cluster, spawn_worker: Callable[..., AikiProcess]
) -> None:
    held = 4
    # The frozen worker holds inside 'first' long enough to be stopped there, and takes no more runs.
    frozen = spawn_worker("frozen", concurrency=held, hold="first:3000")
    c = client(url=cluster.url)
    try:
        run_ids = await start_runs(c, range(1000, 1000 + held))
        numbers = {run_id: 1000 + n for n, run_id in enumerate(run_ids)}

        async def frozen_inside_first() -> bool:
            found = await executions(cluster.db_url, set(run_ids))
            return all(found.get((run_id, "first")) == [frozen.pid] for run_id in run_ids)

        await until(frozen_inside_first, "the frozen worker started 'first' of every run")
        frozen.process.send_signal(signal.SIGSTOP)
        try:
            rejected_before = len(TASK_REJECTED.findall(cluster.server.output()))
            rescuer = spawn_worker("rescuer")

            async def all_completed() -> bool:
                runs = await finished_runs(c, run_ids)
                return all(run.status.value == "completed" for run in runs.values())

            await until(all_completed, "the rescuer completed every run")
        finally:
            frozen.process.send_signal(signal.SIGCONT)

        async def late_writes_rejected() -> bool:
            return len(TASK_REJECTED.findall(cluster.server.output())) - rejected_before >= held

        await until(late_writes_rejected, "the woken worker's late task writes answered 409", timeout_s=15)
        runs = await finished_runs(c, run_ids)
    finally:
        await c.close()

    assert frozen.stop() == 0, frozen.output()  # it stopped those runs quietly and shut down cleanly
    assert "Traceback" not in frozen.output()
    found = await executions(cluster.db_url, set(run_ids))
    for run_id in run_ids:
        assert found[(run_id, "first")] == [frozen.pid, rescuer.pid]
        assert found[(run_id, "second")] == found[(run_id, "third")] == [rescuer.pid]
    assert_outputs_name_the_last_execution(runs, numbers, found)
    rows = await fetch(
        cluster.db_url, "SELECT run_id, address, status, output FROM tasks WHERE run_id = ANY(%s)", (run_ids,)
    )
    assert len(rows) == len({(run_id, address) for run_id, address, _status, _output in rows}) == held * 3
    assert all(status == "completed" and f'"pid":{rescuer.pid}' in output for *_key, status, output in rows)
