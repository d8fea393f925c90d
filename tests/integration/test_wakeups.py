"""A change committed while a waiter is looking is not missed: the waiter wakes at once instead of after a
poll interval. On PostgreSQL another connection can commit between a waiter's read and the moment it starts
waiting; each test forces that interleaving by committing a write right after the read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aiki import RunStatus, client, database, server, worker, workflow
from aiki.contract import ClaimRequest
from tests.conftest import Env

#: So long that only a wake-up, never polling, can explain a prompt answer.
NEVER_POLL_MS = 600_000

greet = workflow(name="greet")


@greet.v("1.0.0")
async def greet_v1(run: Any, input: Any) -> str:
    return f"hello {input}"


@pytest.fixture
async def patient_env(db_url: str) -> AsyncIterator[Env]:
    """A server that polls for other processes' writes only every ten minutes."""
    srv = server(db=database(db_url), opts={"poll_interval_ms": NEVER_POLL_MS})
    environment = Env(srv, client(server=srv), None)
    yield environment
    await environment.close()


async def test_a_run_queued_while_a_claim_looks_is_claimed_without_waiting_for_the_next_poll(
    patient_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = patient_env.server.workers
    claim_once = commands._claim_once
    started: list[str] = []

    async def claim_then_race(*arguments: Any) -> Any:
        claimed = await claim_once(*arguments)
        if not started:
            started.append((await greet_v1.start(patient_env.client, "racer")).id)
        return claimed

    monkeypatch.setattr(commands, "_claim_once", claim_then_race)
    request = ClaimRequest(
        worker_id="w", workflows=[("greet", "1.0.0")], shards=None, limit=1, wait_ms=30_000
    )

    # Without the wake-up the claim looks again only when its 30 s wait is over.
    claimed = await asyncio.wait_for(patient_env.client.transport.claim(request), 5)

    assert [item.run.id for item in claimed] == started


async def test_a_change_committed_while_wait_for_change_reads_the_run_wakes_it_at_once(
    patient_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = await greet_v1.start(patient_env.client, "ana")
    commands = patient_env.server.runs
    get = commands.get
    raced: list[bool] = []

    async def read_then_race(namespace: str, run_id: str) -> Any:
        run = await get(namespace, run_id)
        if not raced:
            raced.append(True)
            await commands.cancel(namespace, run_id, "raced")
        return run

    monkeypatch.setattr(commands, "get", read_then_race)

    # Without the wake-up this returns only when the 60 s timeout is over.
    changed = await asyncio.wait_for(
        patient_env.client.transport.wait_for_change(handle.id, handle.run.revision, 60_000), 5
    )

    assert changed.status is RunStatus.CANCELLED


async def test_waiting_for_the_end_of_a_run_this_process_changed_reads_nothing(
    patient_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server remembers the runs it changed last: a waiter for a run's end starts from that record,
    and the change that ends the run is handed over in process, so the database is never read."""
    commands = patient_env.server.runs
    get = commands.get
    reads: list[str] = []

    async def counted_get(namespace: str, run_id: str) -> Any:
        reads.append(run_id)
        return await get(namespace, run_id)

    monkeypatch.setattr(commands, "get", counted_get)
    await patient_env.start_worker(greet_v1)
    handle = await greet_v1.start(patient_env.client, "eve")

    outcome = await asyncio.wait_for(handle.wait_for_status("completed"), 5)

    assert outcome.success and outcome.state.output == "hello eve"
    assert reads == []


async def test_a_run_another_process_finishes_is_seen_though_this_process_remembers_it_queued(
    env: Env, db_url: str
) -> None:
    """Another server on the same database (as another process would) runs what this one started: the waiter
    here, which remembers the run as queued, still learns its end (PostgreSQL announces it at once; SQLite
    announces nothing across processes, and the waiter finds it at its next poll)."""
    handle = await greet_v1.start(env.client, "olga")
    other = server(db=database(db_url))
    runtime = await other.runtime.start()
    working = await worker(workflows=[greet_v1], opts={"poll_interval_ms": 50}).start(client(server=other))
    try:
        outcome = await asyncio.wait_for(handle.wait_for_status("completed"), 10)
    finally:
        await working.stop()
        await runtime.stop()
        await other.close()

    assert outcome.success and outcome.state.output == "hello olga"
