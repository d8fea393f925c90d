"""The store contract: what every backend guarantees the server, tested on each selected backend alike.

Where a guarantee is about several servers on one database (claims, timers, reference ids), PostgreSQL gets
several server objects with their own pools; SQLite, whose write transactions are exclusive, gets several
concurrent callers of one server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aiki import (
    AikiError,
    FakeClock,
    NotFoundError,
    RevisionConflictError,
    RunStatus,
    Server,
    client,
    database,
    server,
    task,
    worker,
    workflow,
)
from aiki.contract import ClaimedRun, ClaimRequest, ParentLink, RunOutcome, StartRequest, TaskWrite
from aiki.errors import InvalidRequestError
from aiki.store.connection import Connection
from aiki.store.database import Database
from aiki.store.migrations import Dialect, migrate, migration_files
from tests.conftest import BACKENDS, Env
from tests.integration.run_watch import PATIENCE_S

NAMESPACE = "default"
WORKFLOW = ("contract", "1.0.0")

#: every table and index the first migration creates (later migrations may add more)
CORE_TABLES = {
    "aiki_migrations",
    "runs",
    "tasks",
    "child_runs",
    "child_waits",
    "sleeps",
    "events",
    "transitions",
    "api_keys",
}
CORE_INDEXES = {
    "runs_by_reference",
    "runs_by_due_time",
    "runs_queued",
    "runs_by_waiting_on",
    "runs_by_status",
    "runs_by_workflow",
    "runs_by_parent",
    "runs_by_schedule",
    "tasks_by_address",
    "tasks_by_run",
    "child_runs_by_address",
    "child_runs_by_child",
    "child_waits_by_parent",
    "sleeps_by_name",
    "events_by_reference",
    "events_by_run",
    "transitions_by_run",
}


def start_request(reference_id: str | None = None, delay_ms: int | None = None) -> StartRequest:
    name, version = WORKFLOW
    return StartRequest(
        name=name,
        version_id=version,
        input={"n": 1},
        input_hash="input-hash",
        options={},
        reference_id=reference_id,
        delay_ms=delay_ms,
    )


def claim_request(limit: int, worker_id: str = "worker") -> ClaimRequest:
    return ClaimRequest(worker_id=worker_id, workflows=[WORKFLOW], shards=None, limit=limit)


def open_servers(db_url: str, count: int, clock: FakeClock | None = None, **opts: Any) -> list[Server]:
    """``count`` servers of one database: separate objects on PostgreSQL, one shared object on SQLite."""
    if db_url.startswith("sqlite"):
        shared = server(db=database(db_url), clock=clock, opts=opts)
        return [shared] * count
    return [server(db=database(db_url), clock=clock, opts=opts) for _ in range(count)]


@pytest.fixture
async def servers(db_url: str) -> AsyncIterator[list[Server]]:
    """Two servers on this test's database (the first one migrates it)."""
    opened = open_servers(db_url, 2)
    await opened[0].open()
    yield opened
    for srv in set(opened):
        await srv.close()


@pytest.fixture
async def fake_servers(db_url: str) -> AsyncIterator[tuple[FakeClock, list[Server]]]:
    """Two servers on this test's database sharing one fake clock; their runtimes are not started."""
    clock = FakeClock()
    opened = open_servers(db_url, 2, clock, claim_timeout_ms=10_000, timer_batch_size=4)
    await opened[0].open()
    yield clock, opened
    for srv in set(opened):
        await srv.close()


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema at all."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/empty.db"
    from tests.postgres_support import fresh_postgres_url

    return fresh_postgres_url(request, migrated=False)


Schema = dict[str, Any]


def dialect_of(db: Database) -> Dialect:
    return "sqlite" if db.url.startswith("sqlite") else "postgres"


async def schema_of(db: Database) -> Schema:
    """Tables with their column names, and indexes with their table and uniqueness."""
    async with db.read() as connection:
        if dialect_of(db) == "sqlite":
            return await _sqlite_schema(connection)
        return await _postgres_schema(connection)


async def _sqlite_schema(connection: Connection) -> Schema:
    tables = await connection._fetch_all(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    columns = {}
    for row in tables:
        info = await connection._fetch_all(f"SELECT name FROM pragma_table_info('{row['name']}')")
        columns[row["name"]] = sorted(column["name"] for column in info)
    indexes = await connection._fetch_all(
        "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    )
    return {
        "tables": columns,
        "indexes": {
            row["name"]: (row["tbl_name"], row["sql"].upper().startswith("CREATE UNIQUE")) for row in indexes
        },
    }


async def _postgres_schema(connection: Connection) -> Schema:
    rows = await connection._fetch_all(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
    )
    columns: dict[str, list[str]] = {}
    for row in rows:
        columns.setdefault(row["table_name"], []).append(row["column_name"])
    indexes = await connection._fetch_all(
        "SELECT i.relname AS name, t.relname AS tbl_name, x.indisunique AS is_unique, x.indisprimary AS pk "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public'"
    )
    return {
        "tables": {name: sorted(names) for name, names in columns.items()},
        # Primary keys and UNIQUE columns are implicit indexes in SQLite: they are not compared.
        "indexes": {
            row["name"]: (row["tbl_name"], row["is_unique"])
            for row in indexes
            if not row["pk"] and not row["name"].endswith("_key")
        },
    }


async def test_migrations_create_every_table_and_index_and_record_each_migration(empty_db_url: str) -> None:
    db = database(empty_db_url)
    await db.open(migrate=True)
    try:
        schema = await schema_of(db)
        async with db.read() as connection:
            recorded = await connection._fetch_all("SELECT number, name FROM aiki_migrations ORDER BY number")
    finally:
        await db.close()

    assert set(schema["tables"]) >= CORE_TABLES
    assert set(schema["indexes"]) >= CORE_INDEXES
    assert schema["indexes"]["tasks_by_address"] == ("tasks", True)
    assert [(row["number"], row["name"]) for row in recorded] == [
        (number, name) for number, name, _sql in migration_files(dialect_of(db))
    ]


async def test_applying_the_migrations_again_changes_nothing(empty_db_url: str) -> None:
    db = database(empty_db_url)
    await db.open(migrate=True)
    try:
        before = await schema_of(db)
        async with db.transaction() as connection:
            applied = await migrate(connection, dialect_of(db), 0)
        await db.close()
        await db.open(migrate=True)
        after = await schema_of(db)
    finally:
        await db.close()

    assert applied == []
    assert after == before


async def test_servers_opening_an_empty_database_at_once_migrate_it_exactly_once(empty_db_url: str) -> None:
    databases = [database(empty_db_url) for _ in range(1 if empty_db_url.startswith("sqlite") else 4)]
    try:
        await asyncio.gather(*(db.open(migrate=True) for db in databases))
        async with databases[0].read() as connection:
            recorded = await connection._fetch_all("SELECT number FROM aiki_migrations")
    finally:
        for db in databases:
            await db.close()

    assert sorted(row["number"] for row in recorded) == [
        n for n, _name, _sql in migration_files(dialect_of(db))
    ]


if "postgres" in BACKENDS and "sqlite" in BACKENDS:

    async def test_both_backends_have_the_same_tables_columns_and_indexes(
        request: pytest.FixtureRequest, tmp_path: Path
    ) -> None:
        from tests.postgres_support import fresh_postgres_url

        schemas = []
        for url in (f"sqlite:///{tmp_path}/parity.db", fresh_postgres_url(request, migrated=False)):
            db = database(url)
            await db.open(migrate=True)
            try:
                schemas.append(await schema_of(db))
            finally:
                await db.close()

        sqlite_schema, postgres_schema = schemas
        assert postgres_schema["tables"] == sqlite_schema["tables"]
        assert postgres_schema["indexes"] == sqlite_schema["indexes"]


async def test_an_id_with_a_nul_character_is_a_clear_error_rather_than_a_driver_error(
    servers: list[Server],
) -> None:
    with pytest.raises(AikiError) as raised:
        await servers[0].runs.get(NAMESPACE, "run\x00id")

    assert isinstance(raised.value, NotFoundError | InvalidRequestError)


async def claim_everything(srv: Server, worker_id: str) -> list[str]:
    """Claim runs a few at a time until none is left; returns the ids claimed."""
    claimed: list[str] = []
    while True:
        batch = await srv.workers.claim(NAMESPACE, claim_request(3, worker_id))
        if not batch:
            return claimed
        claimed += [item.run.id for item in batch]


async def test_concurrent_claimers_never_get_the_same_run(servers: list[Server]) -> None:
    started = [await servers[0].runs.start(NAMESPACE, start_request()) for _ in range(60)]

    claimers = [(srv, f"worker-{index}-{number}") for index in range(3) for number, srv in enumerate(servers)]
    results = await asyncio.gather(*(claim_everything(srv, worker_id) for srv, worker_id in claimers))

    claimed = [run_id for result in results for run_id in result]
    assert sorted(claimed) == sorted(run.id for run in started)
    assert len(set(claimed)) == len(claimed)


async def claim_one(srv: Server, shard: str | None = None) -> ClaimedRun:
    request = claim_request(1)
    if shard is not None:
        request = replace(request, shards=[shard])
    [claimed] = await srv.workers.claim(NAMESPACE, request)
    return claimed


async def reclaim_after_recovery(clock: FakeClock, srv: Server) -> tuple[ClaimedRun, ClaimedRun]:
    """Claim a run, let its claim expire and be recovered, and claim it again: (stale, fresh)."""
    await srv.runs.start(NAMESPACE, start_request())
    stale = await claim_one(srv)
    clock.advance(10_001)
    assert await srv.runtime.tick() == 1
    fresh = await claim_one(srv)
    assert fresh.run.id == stale.run.id and fresh.claim_token != stale.claim_token
    return stale, fresh


def task_write(claimed: ClaimedRun, address: str = "step#0") -> TaskWrite:
    return TaskWrite(
        run_id=claimed.run.id,
        claim_token=claimed.claim_token,
        name="step",
        address=address,
        occurrence=0,
        status="completed",
        attempts=1,
        input=None,
        output={"ok": True},
    )


async def test_a_task_recorded_under_a_stale_claim_is_rejected(
    fake_servers: tuple[FakeClock, list[Server]],
) -> None:
    clock, (srv, _other) = fake_servers
    stale, fresh = await reclaim_after_recovery(clock, srv)

    with pytest.raises(RevisionConflictError):
        await srv.workers.record_task(NAMESPACE, task_write(stale))

    assert (await srv.runs.history(NAMESPACE, fresh.run.id)).tasks == []


async def test_finishing_under_a_stale_claim_is_rejected(
    fake_servers: tuple[FakeClock, list[Server]],
) -> None:
    clock, (srv, _other) = fake_servers
    stale, fresh = await reclaim_after_recovery(clock, srv)
    outcome = RunOutcome(
        run_id=stale.run.id,
        claim_token=stale.claim_token,
        expected_revision=stale.run.revision,
        kind="complete",
        output="late",
    )

    with pytest.raises(RevisionConflictError):
        await srv.workers.finish(NAMESPACE, outcome)

    assert (await srv.runs.get(NAMESPACE, fresh.run.id)).status is RunStatus.RUNNING


async def test_one_task_occurrence_is_recorded_once_even_by_concurrent_writers(servers: list[Server]) -> None:
    await servers[0].runs.start(NAMESPACE, start_request())
    claimed = await claim_one(servers[0])

    # Each writer sends another result (the very same result sent again would be the first one's success).
    outcomes = await asyncio.gather(
        *(
            srv.workers.record_task(NAMESPACE, replace(task_write(claimed), output=index))
            for index, srv in enumerate(servers * 3)
        ),
        return_exceptions=True,
    )

    assert sum(1 for outcome in outcomes if outcome == "running") == 1
    assert all(isinstance(outcome, RevisionConflictError) for outcome in outcomes if outcome != "running")
    assert len((await servers[0].runs.history(NAMESPACE, claimed.run.id)).tasks) == 1


async def test_concurrent_starts_with_one_reference_id_create_one_run(servers: list[Server]) -> None:
    runs = await asyncio.gather(
        *(srv.runs.start(NAMESPACE, start_request(reference_id="only-one")) for srv in servers * 5)
    )

    assert len({run.id for run in runs}) == 1
    assert len(await servers[0].runs.list(NAMESPACE)) == 1


async def test_two_servers_fire_each_due_timer_exactly_once(
    fake_servers: tuple[FakeClock, list[Server]],
) -> None:
    clock, servers_ = fake_servers
    started = [await servers_[0].runs.start(NAMESPACE, start_request(delay_ms=1_000)) for _ in range(30)]
    clock.advance(1_000)

    fired = await asyncio.gather(*(srv.runtime.tick() for srv in servers_ * 2))

    assert sum(fired) == 30
    for run in started:
        timeline = await servers_[0].runs.timeline(NAMESPACE, run.id)
        assert [step.reason for step in timeline] == ["new", "due"]


async def test_a_parent_parking_on_a_child_that_completes_at_the_same_moment_is_woken(
    servers: list[Server],
) -> None:
    parents = []
    for round_number in range(20):
        # A shard per round: the parents woken in earlier rounds (queued) are not claimed again.
        shard = f"round-{round_number}"
        await servers[0].runs.start(NAMESPACE, replace(start_request(), shard=shard))
        parent = await claim_one(servers[0], shard)
        link = ParentLink(parent.run.id, parent.claim_token, "child#0", 0)
        await servers[0].runs.start(NAMESPACE, replace(start_request(), parent=link, shard=shard))
        child = await claim_one(servers[0], shard)
        assert child.run.parent_run_id == parent.run.id
        park = RunOutcome(
            run_id=parent.run.id,
            claim_token=parent.claim_token,
            expected_revision=parent.run.revision,
            kind="child_wait",
            child_run_id=child.run.id,
            child_status="completed",
            index=0,
        )
        done = RunOutcome(
            run_id=child.run.id,
            claim_token=child.claim_token,
            expected_revision=child.run.revision,
            kind="complete",
            output="ok",
        )
        # Each side may commit before or after the other: either way the parent must not stay parked.
        await asyncio.gather(
            servers[0].workers.finish(NAMESPACE, park), servers[1].workers.finish(NAMESPACE, done)
        )
        parents.append(parent.run.id)

    statuses = [(await servers[0].runs.get(NAMESPACE, run_id)).status for run_id in parents]
    assert statuses == [RunStatus.QUEUED] * len(parents)


async def wait_until(condition: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    """Poll ``condition`` on the event loop until it holds; fail after the test's patience."""
    deadline = time.monotonic() + PATIENCE_S
    while True:
        result = condition()
        if result if isinstance(result, bool) else await result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {PATIENCE_S}s")
        await asyncio.sleep(0.005)


if "postgres" in BACKENDS:

    @pytest.fixture
    async def two_postgres_servers(request: pytest.FixtureRequest) -> AsyncIterator[list[Server]]:
        """Two servers on one PostgreSQL database whose polling is far too slow to matter."""
        from tests.postgres_support import fresh_postgres_url

        url = fresh_postgres_url(request)
        opened = [server(db=database(url), opts={"poll_interval_ms": 30_000}) for _ in range(2)]
        for srv in opened:
            await srv.open()
        yield opened
        for srv in opened:
            await srv.close()

    async def claim_after_a_start_elsewhere(
        waiter: Server, starter: Server
    ) -> tuple[list[ClaimedRun], float]:
        """A waiting claim on ``waiter``, then a start on ``starter``: (what was claimed, seconds taken)."""
        request = ClaimRequest(
            worker_id="waiting", workflows=[WORKFLOW], shards=None, limit=1, wait_ms=30_000
        )
        claim = asyncio.create_task(waiter.workers.claim(NAMESPACE, request))
        await wait_until(lambda: bool(waiter.core.notifier._work_waiters), "the claim to wait for work")
        began = time.perf_counter()
        await starter.runs.start(NAMESPACE, start_request())
        claimed = await asyncio.wait_for(claim, PATIENCE_S)
        return claimed, time.perf_counter() - began

    async def test_a_run_started_on_one_server_wakes_a_claim_waiting_on_another_at_once(
        two_postgres_servers: list[Server],
    ) -> None:
        waiter, starter = two_postgres_servers

        claimed, took_s = await claim_after_a_start_elsewhere(waiter, starter)

        assert len(claimed) == 1
        # The poll interval is 30 s: only the notification explains a claim within half a second.
        assert took_s < 0.5

    async def test_the_notification_listener_reconnects_after_its_connection_is_killed(
        two_postgres_servers: list[Server],
    ) -> None:
        waiter, starter = two_postgres_servers
        terminate = (
            "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
        )
        listening = (
            "SELECT COUNT(*) AS listeners FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
        async with starter.db.transaction() as connection:
            killed = await connection._fetch_all(terminate)
        assert len(killed) == 2

        async def both_listen_again() -> bool:
            async with starter.db.read() as connection:
                row = await connection._fetch_one(listening)
            return row is not None and row["listeners"] == 2

        await wait_until(both_listen_again, "the listeners to reconnect")
        claimed, took_s = await claim_after_a_start_elsewhere(waiter, starter)

        assert len(claimed) == 1
        assert took_s < 0.5


double = workflow(name="double")


@task(name="multiply")
async def multiply(value: int) -> int:
    return value * 2


@double.v("1.0.0")
async def double_v1(run: Any, value: int) -> int:
    return await multiply.start(run, value)


async def test_a_started_run_is_executed_by_a_worker_and_completes(env: Env) -> None:
    await env.start_worker(double_v1)

    handle = await double_v1.start(env.client, 21)
    result = await handle.wait_for_status("completed", timeout={"seconds": PATIENCE_S})

    assert result.success and result.state is not None
    assert result.state.output == 42
    assert [entry.output for entry in (await env.client.transport.get_history(handle.id)).tasks] == [42]


async def test_runs_started_through_one_server_are_completed_by_workers_of_another(db_url: str) -> None:
    starter, executor = open_servers(db_url, 2, poll_interval_ms=200)
    await starter.open()
    try:
        await executor.runtime.start()
        running = await worker(workflows=[double_v1], opts={"poll_interval_ms": 200}).start(
            client(server=executor)
        )
        try:
            handles = [await double_v1.start(client(server=starter), n) for n in range(10)]
            results = [await h.wait_for_status("completed", timeout={"seconds": PATIENCE_S}) for h in handles]
        finally:
            await running.stop()
    finally:
        for srv in {starter, executor}:
            await srv.close()

    assert [result.state.output for result in results if result.state is not None] == [
        2 * n for n in range(10)
    ]
