"""Shared fixtures: a real database per test (SQLite file; PostgreSQL when that backend is selected),
a server with its runtime, an embedded client, and a helper to start workers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from aiki import Client, FakeClock, RunStatus, Server, WorkflowVersion, client, database, server, worker
from aiki.execution.worker import WorkerHandle
from aiki.server.engine.state_machine import is_allowed

#: ``pytester`` runs pytest on files a test writes (the tests of aiki's own pytest plugin).
pytest_plugins = ["pytester"]

#: Which backends the integration tests run on. CI runs all of them; a missing server fails, never skips.
BACKENDS = [name for name in os.environ.get("AIKI_TEST_BACKENDS", "sqlite").split(",") if name]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database for this test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/aiki.db"
    if request.param == "postgres":
        from tests.postgres_support import fresh_postgres_url

        return fresh_postgres_url(request)
    raise ValueError(f"unknown backend {request.param!r}")


YEAR_MS = 365 * 24 * 3600 * 1000


class Env:
    """A server, its runtime, a client and the workers a test started; all stopped at teardown."""

    def __init__(self, srv: Server, c: Client, clock: FakeClock | None) -> None:
        self.server = srv
        self.client = c
        self.clock = clock
        self.workers: list[WorkerHandle] = []

    async def start_worker(self, *versions: WorkflowVersion, **opts: Any) -> WorkerHandle:
        opts.setdefault("poll_interval_ms", 200)
        handle = await worker(workflows=list(versions), opts=opts).start(self.client)
        self.workers.append(handle)
        return handle

    async def close(self) -> None:
        for handle in self.workers:
            await handle.stop()
        await self.close_client()
        await self.server.close()
        await assert_every_transition_allowed(self.server.db.url)

    async def close_client(self) -> None:
        """The embedded client holds nothing of its own."""


async def assert_every_transition_allowed(url: str) -> None:
    """Every status change the test caused, on any path (fast one-statement paths included), is an edge of
    the state machine with an allowed reason; a run begins queued or scheduled, for reason ``new``."""
    db = database(url)
    await db.open()  # a test whose server never opened its database leaves an empty one: nothing to audit
    try:
        async with db.read() as connection:
            rows = await connection._fetch_all(
                "SELECT DISTINCT from_status, to_status, reason FROM transitions"
            )
    finally:
        await db.close()
    wrong = []
    for row in rows:
        source, target, reason = row["from_status"], RunStatus(row["to_status"]), row["reason"]
        if source is None:
            allowed = target in (RunStatus.QUEUED, RunStatus.SCHEDULED) and reason == "new"
        else:
            allowed = is_allowed(RunStatus(source), target, reason)
        if not allowed:
            wrong.append((source, target.value, reason))
    assert wrong == [], f"transitions the state machine does not allow: {wrong}"


@pytest.fixture
async def env(db_url: str) -> AsyncIterator[Env]:
    """A server on the real system clock, its runtime started."""
    srv = server(db=database(db_url), opts={"poll_interval_ms": 200})
    await srv.runtime.start()
    environment = Env(srv, client(server=srv), None)
    yield environment
    await environment.close()


@pytest.fixture
async def fake_env(db_url: str) -> AsyncIterator[Env]:
    """A server on a fake clock, runtime NOT started: drive timers with ``env.clock.advance`` + ``tick()``."""
    clock = FakeClock()
    # These tests jump the clock by days; a queued run of theirs is not meant to stall meanwhile (the tests
    # of stalled runs make their own server).
    srv = server(
        db=database(db_url), clock=clock, opts={"poll_interval_ms": 200, "stall_after_ms": 10 * YEAR_MS}
    )
    srv.runtime.served_elsewhere()  # the tests fire the timers with tick()
    environment = Env(srv, client(server=srv), clock)
    yield environment
    await environment.close()


WaitPredicate = Callable[[], Any]
