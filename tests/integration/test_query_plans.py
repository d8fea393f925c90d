"""Every statement the engine runs keeps an index plan on a large database.

Tables are filled with 60,000 runs (and their tasks, transitions, events, sleeps and child rows) and
``ANALYZE``d; then workflows that use every kind of step run on top, and each statement the store sends is
``EXPLAIN``ed with its real parameters just before it runs. No plan may scan ``runs``, ``tasks``, ``events``,
``sleeps``, ``transitions``, ``child_runs`` or ``child_waits``, nor sort more rows than a LIMITed statement
returns. A new store method on the hot path is checked here by itself as soon as the scenario reaches it;
``HOT_METHODS`` makes sure the scenario keeps reaching the ones that matter.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from aiki import (
    FakeClock,
    client,
    database,
    server,
    worker,
)
from aiki.server.server import Server
from aiki.store.postgres.connection import PostgresConnection, to_psycopg
from aiki.store.sqlite.connection import SqliteConnection
from aiki.store.sqlite.database import SqliteDatabase
from tests.integration.plan_scenario import HOUR_MS, plan_child_v1, plan_parent_v1, run_hot_path
from tests.scale_support import (
    Plans,
    fill_postgres,
    fill_sqlite,
    postgres_plan_problems,
    sqlite_plan_problems,
)

FILL_RUNS = 60_000

#: the store methods of the hot path: start, claim, checkpoint, event, finish, refresh, deadlines, history,
#: reads, waits, cancel cascades, retention and the purge command
HOT_METHODS = {
    "insert_run",
    "get_run",
    "get_run_by_reference",
    "get_claimed_run",
    "child_at",
    "link_child",
    "claim_queued",
    "load_history",
    "load_histories",
    "record_task",
    "update_run_state",
    "update_run_states",
    "finish_unlinked_run",
    "end_active_sleep",
    "end_active_sleeps",
    "get_sleep",
    "start_sleep",
    "insert_event",
    "count_events",
    "count_child_waits",
    "parents_waiting_on",
    "unfinished_children",
    "insert_child_wait",
    "refresh_claim",
    "claim_held",
    "due_runs",
    "next_run_deadline",
    "expired_runs",
    "next_expiry",
    "due_schedules",
    "next_schedule_deadline",
    "run_trees",
    "existing_runs",
    "delete_runs",
    "finished_runs_created_before",
    "list_transitions",
    "list_runs",
    "count_runs",
}

#: statements that read a whole index on purpose, and why
WHOLE_INDEX_READS = {
    "run_counts": "the statistics of every workflow version count every run (index-only, never the table)",
    "run_gauges": "the metrics count every queued and stalled run, reading the partial indexes that hold only "
    "those runs (test_metrics checks that plan)",
}


def _store_method() -> str:
    """The store method the server called to send the statement (the outermost frame in ``aiki/store``)."""
    method = "?"
    for frame in inspect.stack()[2:]:
        path = Path(frame.filename)
        if "store" in path.parts and path.name not in ("connection.py", "shared_file.py", "database.py"):
            method = frame.function
    return method


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> Plans:
    """Every statement the store runs during the test, with the problems of its plan."""
    collected = Plans()

    def explain_sqlite(connection: SqliteConnection, sql: str, params: Sequence[Any]) -> None:
        rows = connection._raw.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        collected.add(_store_method(), sql, sqlite_plan_problems(sql, rows))

    for name in ("_execute", "_fetch_one", "_fetch_all", "_cursor"):
        original = getattr(SqliteConnection, name)

        def explaining(
            self: SqliteConnection, sql: str, params: Sequence[Any] = (), _run: Any = original, **options: Any
        ) -> Any:
            explain_sqlite(self, sql, params)
            return _run(self, sql, params, **options)

        monkeypatch.setattr(SqliteConnection, name, explaining)

    original_run = PostgresConnection._run

    async def explaining_run(
        self: PostgresConnection, sql: str, params: Sequence[Any], plan_each_time: bool = False
    ) -> Any:
        method = _store_method()
        cursor = await self._raw.execute("EXPLAIN (FORMAT JSON) " + to_psycopg(sql), tuple(params))
        row = await cursor.fetchone()
        assert row is not None
        collected.add(method, sql, postgres_plan_problems(sql, row["QUERY PLAN"][0]))
        return await original_run(self, sql, params, plan_each_time)

    monkeypatch.setattr(PostgresConnection, "_run", explaining_run)
    return collected


@pytest.fixture
async def filled_server(db_url: str) -> AsyncIterator[Server]:
    """A server on a fake clock over a database holding 60,000 runs, its statistics fresh."""
    srv = server(db=database(db_url), clock=FakeClock(), opts={"poll_interval_ms": 50, "retention": HOUR_MS})
    await srv.open()
    if db_url.startswith("sqlite"):
        await asyncio.to_thread(fill_sqlite, db_url.split("///", 1)[1], FILL_RUNS)
    else:
        await asyncio.to_thread(fill_postgres, db_url, FILL_RUNS)
    yield srv
    await srv.close()


async def test_every_statement_of_the_hot_path_keeps_an_index_plan(
    filled_server: Server, plans: Plans
) -> None:
    c = client(server=filled_server)
    running = await worker(workflows=[plan_parent_v1, plan_child_v1], opts={"poll_interval_ms": 50}).start(c)
    try:
        await run_hot_path(filled_server, c, 1, purge=True)
        assert await c.count_runs(workflow="fill-3", status="failed") > 0
    finally:
        await running.stop()

    for method in WHOLE_INDEX_READS:
        plans.by_method.pop(method, None)
    problems = list(plans.problems())
    assert problems == [], "\n".join(problems)
    missing = HOT_METHODS - set(plans.by_method)
    assert missing == set(), f"the scenario no longer reaches {sorted(missing)}"
    if not isinstance(filled_server.db, SqliteDatabase):
        # Several runs woken in one batch are moved by one statement (PostgreSQL): its plan was checked too.
        batch_moves = [sql for sql, _ in plans.by_method["update_run_states"] if "unnest" in sql]
        assert batch_moves, "the scenario no longer wakes several runs in one batch"
