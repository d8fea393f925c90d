"""PostgreSQL: a server that starts on an empty database keeps index plans as its tables grow.

psycopg prepares a statement after a few executions, and PostgreSQL may then keep a *generic* plan for it,
built with whatever statistics the tables had. This test lives the life that exposed the problem, in one
process: it runs the hot path on an empty database (every statement gets prepared, many switch to generic
plans), grows the tables past 60,000 runs without ``ANALYZE``, and runs the hot path again while
``auto_explain`` hands every executed plan back to the test (as notices of the same connections). No plan may
scan a core table, and no statement may touch more than a few hundred buffers in every one of its executions
(a cached plan is used every time; one execution may meet a page of dead rows): a plan that uses a
namespace-led index to find one run by id reads every run of the namespace, thousands of buffers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from aiki import FakeClock, client, database, server, worker
from aiki.server.server import Server
from aiki.store.postgres.connection import PostgresConnection
from tests.conftest import BACKENDS
from tests.integration.plan_scenario import HOUR_MS, plan_child_v1, plan_parent_v1, run_hot_path
from tests.scale_support import CORE_TABLES, fill_postgres

pytestmark = pytest.mark.skipif(
    "postgres" not in BACKENDS, reason="PostgreSQL is not among the test backends"
)

GROWN_RUNS = 60_000
#: the most buffers (8 kB pages) one statement of the hot path may touch on the grown tables
MAX_BUFFERS = 300
AUTO_EXPLAIN = (
    "-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 "
    "-c auto_explain.log_analyze=on -c auto_explain.log_buffers=on -c auto_explain.log_timing=off "
    "-c auto_explain.log_format=json -c auto_explain.log_level=notice"
)


@pytest.fixture
async def empty_server(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Server, str]]:
    from tests.postgres_support import fresh_postgres_url

    url = fresh_postgres_url(request, migrated=False)
    srv = server(
        db=database(f"{url}?options={quote(AUTO_EXPLAIN)}"),
        clock=FakeClock(),
        opts={"poll_interval_ms": 50, "retention": HOUR_MS},
    )
    await srv.open()
    yield srv, url
    await srv.close()


class ExecutedPlans:
    """Plans auto_explain reports on the server's connections, while ``recording`` is on."""

    def __init__(self) -> None:
        self.recording = False
        self.plans: list[dict[str, Any]] = []
        self._watched: set[int] = set()

    def watch(self, raw: psycopg.AsyncConnection[Any]) -> None:
        if id(raw) not in self._watched:
            self._watched.add(id(raw))
            raw.add_notice_handler(self._notice)

    def _notice(self, diagnostic: psycopg.errors.Diagnostic) -> None:
        text = diagnostic.message_primary or ""
        if self.recording and text.startswith("duration:"):
            self.plans.append(json.loads(text.split("plan:", 1)[1]))


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> ExecutedPlans:
    recorder = ExecutedPlans()
    original = PostgresConnection._run

    async def watched_run(
        self: PostgresConnection, sql: str, params: Sequence[Any], plan_each_time: bool = False
    ) -> Any:
        recorder.watch(self._raw)
        return await original(self, sql, params, plan_each_time)

    monkeypatch.setattr(PostgresConnection, "_run", watched_run)
    return recorder


#: counts read every run that matches, by design (index-only, or the heap while the visibility map is not
#: set yet): only their scans are checked
COUNTS = ("SELECT COUNT(*)", "COUNT(*) AS runs")


def _buffers(plan: dict[str, Any]) -> int:
    top = plan["Plan"]
    return int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0))


def _scans(plan: dict[str, Any]) -> list[str]:
    problems = []
    top = plan["Plan"]

    def walk(node: dict[str, Any]) -> None:
        if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") in CORE_TABLES:
            problems.append(f"Seq Scan on {node['Relation Name']}")
        for child in node.get("Plans", []):
            walk(child)

    walk(top)
    return problems


async def test_hot_statements_keep_index_plans_after_the_tables_grow_in_one_process(
    empty_server: tuple[Server, str], executed: ExecutedPlans
) -> None:
    srv, url = empty_server
    c = client(server=srv)
    running = await worker(workflows=[plan_parent_v1, plan_child_v1], opts={"poll_interval_ms": 50}).start(c)
    try:
        # On the empty database, run the hot path until every statement is prepared and planned many times.
        for key in range(0, 120, 10):
            await run_hot_path(srv, c, key)
        await asyncio.to_thread(fill_postgres, url, GROWN_RUNS, analyze=False)
        executed.recording = True
        await run_hot_path(srv, c, 1_000)
        executed.recording = False
        async with srv.db.read() as connection:
            prepared = await connection._fetch_all(
                "SELECT statement, generic_plans FROM pg_prepared_statements WHERE generic_plans > 0"
            )
    finally:
        await running.stop()

    # The test only proves something if cached generic plans were in play.
    assert prepared, "no prepared statement used a generic plan: the test no longer exercises plan caching"
    assert len(executed.plans) > 50, "auto_explain reported too few plans"
    fewest_buffers: dict[str, int] = {}
    failures = []
    for plan in executed.plans:
        text = plan.get("Query Text", "")
        if "FROM pg_" in text:
            continue
        failures += [f"{problem}:\n    {text[:300]}" for problem in _scans(plan)]
        if not any(count in text for count in COUNTS):
            fewest_buffers[text] = min(fewest_buffers.get(text, _buffers(plan)), _buffers(plan))
    failures += [
        f"touched {buffers} buffers or more each time:\n    {text[:300]}"
        for text, buffers in fewest_buffers.items()
        if buffers > MAX_BUFFERS
    ]
    assert failures == [], "\n".join(failures)
