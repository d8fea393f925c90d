"""Faults under load, with real processes: ``aiki server`` (API keys, PostgreSQL) and two ``aiki worker``
processes run a few hundred workflow runs while PostgreSQL is stopped and restarted, the server is killed
and restarted, a worker is killed, or a worker is frozen past its claim. After each fault: no run is lost,
every output is right, no task is recorded twice, and the time to recover is printed.

The database is a private cluster (``initdb`` into a temporary folder), so stopping it disturbs no other test.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from aiki import Client, client
from tests.e2e.fault_workflows import arithmetic_v1, expected_output
from tests.e2e.private_postgres import PrivateCluster, private_cluster
from tests.e2e.processes import AikiProcess, free_port, start_aiki, wait_until_serving

#: runs started before each fault
RUNS = 240
#: a run's claim is taken back this long after its worker went silent
CLAIM_TIMEOUT_MS = 3_000
#: how long the whole load may take to complete, the fault included
PATIENCE_S = 90.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    made = private_cluster()
    yield made
    made.destroy()


@dataclass
class Deployment:
    """A server and workers on one database of the private cluster, and the client the test drives."""

    db_url: str
    folder: Path
    port: int = field(default_factory=free_port)
    secret: str = ""
    server: AikiProcess | None = None
    workers: list[AikiProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def create_key(self) -> None:
        keys = start_aiki(
            ["keys", "create", "--db", self.db_url, "--namespace", "faults", "--name", "faults"],
            self.folder / "keys.log",
        )
        assert keys.process.wait(timeout=60) == 0, keys.output()
        self.secret = keys.output().split()[-1]

    def start_server(self) -> None:
        arguments = ["server", "--db", self.db_url, "--port", str(self.port), "--auth", "keys"]
        arguments += ["--claim-timeout-ms", str(CLAIM_TIMEOUT_MS), "--max-connections", "8"]
        log = self.folder / f"server-{time.monotonic_ns()}.log"
        self.server = start_aiki(arguments, log)
        wait_until_serving(self.server, self.url)

    def start_worker(self) -> AikiProcess:
        arguments = ["worker", "tests.e2e.fault_workflows:arithmetic_v1", "--url", self.url]
        arguments += ["--api-key", self.secret, "--concurrency", "20", "--claim-refresh-interval-ms", "500"]
        process = start_aiki(arguments, self.folder / f"worker-{len(self.workers)}.log")
        self.workers.append(process)
        return process

    def stop(self) -> None:
        for process in [*self.workers, *([self.server] if self.server else [])]:
            process.stop()


@pytest.fixture
def deployment(
    cluster: PrivateCluster, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Deployment]:
    name = "faults_" + hashlib.sha256(request.node.name.encode()).hexdigest()[:16]
    made = Deployment(cluster.create_database(name), tmp_path)
    made.create_key()
    made.start_server()
    made.start_worker()
    made.start_worker()
    yield made
    made.stop()


async def ignoring_outages(call: Callable[[], Awaitable[Any]]) -> Any:
    """``call()``, or ``None`` while the server or its database is down (the fault under test)."""
    try:
        return await call()
    except (httpx.TransportError, Exception) as error:
        if isinstance(error, AssertionError):
            raise
        return None


async def count_completed(c: Client) -> int:
    counted = await ignoring_outages(lambda: c.count_runs(status="completed"))
    return int(counted or 0)


async def until_completed(c: Client, at_least: int, timeout_s: float = PATIENCE_S) -> float:
    """Wait until ``at_least`` runs completed (another process does the work: look every 100 ms); the time
    it took."""
    started = time.monotonic()
    while await count_completed(c) < at_least:
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"fewer than {at_least} runs completed within {timeout_s}s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


@dataclass(frozen=True)
class Outcome:
    fault_s: float
    recovered_s: float


async def under_load(deployment: Deployment, fault: Callable[[], Awaitable[None]]) -> Outcome:
    """Start RUNS runs, let a tenth complete, inject ``fault`` (which returns once the system is whole
    again), then wait for every run and check all of them."""
    c = client(url=deployment.url, api_key=deployment.secret)
    try:
        inputs = list(range(RUNS))
        for start in range(0, RUNS, 40):
            await asyncio.gather(*(arithmetic_v1.start(c, n) for n in inputs[start : start + 40]))
        await until_completed(c, RUNS // 10)
        began = time.monotonic()
        await fault()
        fault_s = time.monotonic() - began
        recovered_s = await until_completed(c, RUNS)
        await check_every_run(c, deployment.db_url)
    finally:
        await c.close()
    return Outcome(fault_s, recovered_s)


async def check_every_run(c: Client, db_url: str) -> None:
    """Every run completed with the output of its input; each has its two tasks, each recorded once."""
    runs = [run async for run in c.iter_runs(include_values=True)]
    assert len(runs) == RUNS
    wrong = [
        (run.id, run.status, run.input, run.state.output)
        for run in runs
        if run.state.output != expected_output(run.input)
    ]
    assert wrong == []
    with psycopg.connect(db_url) as connection:
        entries = connection.execute(
            "SELECT run_id, name, count(*) AS recorded FROM tasks WHERE status <> 'discarded' "
            "GROUP BY run_id, name"
        ).fetchall()
    assert len(entries) == 2 * RUNS
    assert [entry for entry in entries if entry[2] != 1] == []


def report(capsys: pytest.CaptureFixture[str], fault: str, outcome: Outcome) -> None:
    with capsys.disabled():
        print(
            f"\n[fault] {fault}: fault lasted {outcome.fault_s:.1f}s; every run completed "
            f"{outcome.recovered_s:.1f}s after it ({RUNS} runs, 0 lost, 0 wrong, no task twice)"
        )


@pytest.mark.timeout(180)
async def test_postgresql_stopped_and_restarted_under_load_loses_nothing(
    deployment: Deployment, cluster: PrivateCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    async def restart_postgres() -> None:
        await asyncio.to_thread(cluster.stop, "fast")
        await asyncio.sleep(3)
        await asyncio.to_thread(cluster.start)

    report(capsys, "PostgreSQL stopped for 3 s", await under_load(deployment, restart_postgres))


@pytest.mark.timeout(180)
async def test_the_server_killed_and_restarted_under_load_loses_nothing(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    async def kill_and_restart_server() -> None:
        assert deployment.server is not None
        os.kill(deployment.server.pid, signal.SIGKILL)
        deployment.server.process.wait(timeout=10)
        await asyncio.to_thread(deployment.start_server)

    report(capsys, "server SIGKILLed and restarted", await under_load(deployment, kill_and_restart_server))


@pytest.mark.timeout(180)
async def test_a_worker_killed_under_load_loses_nothing(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    async def kill_a_worker() -> None:
        doomed = deployment.workers[0]
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.process.wait(timeout=10)

    report(capsys, "worker SIGKILLed (claims expire after 3 s)", await under_load(deployment, kill_a_worker))


@pytest.mark.timeout(180)
async def test_a_worker_frozen_past_its_claims_loses_nothing_and_its_late_writes_are_refused(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    async def freeze_a_worker() -> None:
        frozen = deployment.workers[0]
        os.kill(frozen.pid, signal.SIGSTOP)
        await asyncio.sleep(CLAIM_TIMEOUT_MS / 1000 + 2)
        os.kill(frozen.pid, signal.SIGCONT)

    report(
        capsys, "worker SIGSTOPped for 5 s (past its claims)", await under_load(deployment, freeze_a_worker)
    )
