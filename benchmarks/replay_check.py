"""How fast the replay check goes: runs in flight of a 10-task workflow, replayed per second.

    python benchmarks/replay_check.py                       # 10,000 runs, SQLite and PostgreSQL
    python benchmarks/replay_check.py --runs 1000 --backend sqlite

For each backend, one template run is made through the engine (an ``aiki.testing`` environment): its ten
tasks complete, then it waits for an event, so every task is in its recorded history. The template is then
copied ``--runs - 1`` times with ``INSERT ... SELECT`` over a generated series (its ``runs`` row with a new id
and creation time, its ``tasks`` and ``transitions`` rows), which takes seconds where the engine would take
minutes. The check then opens the database read-only (as ``aiki replay-check --db`` does) and replays every
run: a page of ids, each run's history read in one query, the handler replayed through its ten recorded
tasks to the event wait. Printed: the build time, and the check's runs per second at each concurrency.

PostgreSQL: a database ``aiki_bench_replay`` (plus ``--db-suffix``) is created on the server of
``--postgres`` and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

SOURCE = Path(__file__).resolve().parent.parent / "src"
if (SOURCE / "aiki").is_dir():
    sys.path.insert(0, str(SOURCE))  # measure the code of this tree

from aiki import client, database, event, server, task, workflow  # noqa: E402
from aiki.testing import check_replay, environment  # noqa: E402

TASKS_PER_RUN = 10
CONCURRENCIES = (1, 8)


@task(name="bench-step")
async def step(number: int) -> dict[str, int]:
    return {"step": number, "square": number * number}


@workflow(name="bench-replay").v("1.0.0", events={"go": event()})
async def bench_v1(run: Any, order: dict[str, Any]) -> int:
    total = 0
    for number in range(TASKS_PER_RUN):
        total += (await step.start(run, number))["square"]
    await run.events.go.wait()
    return total


async def make_template(url: str) -> str:
    """One run through the engine, its ten tasks recorded, waiting for ``go``; its id."""
    async with environment(workflows=[bench_v1], db=url, time_skipping=False) as env:
        handle = await bench_v1.start(env.client, {"order_id": "template"})
        await env.run_until_idle()
        run = await handle.refresh()
        if run.status.value != "awaiting_event":
            raise SystemExit(f"the template run is {run.status.value}, not awaiting_event: {run.state}")
        return handle.id


class Copier:
    """``INSERT ... SELECT`` copies of the template run, as SQL of one dialect."""

    def __init__(
        self, dialect: str, execute: Callable[[str], None], columns: Callable[[str], list[str]]
    ) -> None:
        self.dialect = dialect
        self.execute = execute
        self.columns = columns

    def series(self, first: int, last: int) -> tuple[str, str]:
        """(WITH clause, FROM item) of the numbers ``first`` .. ``last - 1`` as ``s(g)``."""
        if self.dialect == "postgres":
            return "", f"generate_series({first}, {last - 1}) AS s(g)"
        return (
            f"WITH RECURSIVE s(g) AS (SELECT {first} UNION ALL SELECT g + 1 FROM s WHERE g < {last - 1}) ",
            "s",
        )

    def run_id(self, created: str) -> str:
        """The id the engine would give a run created at ``created`` as the ``g``-th of its millisecond."""
        if self.dialect == "postgres":
            return f"(lpad(to_hex({created}), 12, '0') || lpad(to_hex(g), 14, '0'))"
        return f"printf('%012x%014x', {created}, g)"

    def copy(self, template: str, first: int, last: int) -> None:
        """Copies ``first`` .. ``last - 1`` of run ``template``: created ``g`` ms after it."""
        with_clause, series = self.series(first, last)
        created = "(t.created_at_ms + g)"
        new_id = self.run_id(created)
        replaced = {"id": new_id, "created_at_ms": created}
        run_columns = self.columns("runs")
        self.execute(
            f"INSERT INTO runs ({', '.join(run_columns)}) {with_clause}"
            f"SELECT {', '.join(replaced.get(column, f't.{column}') for column in run_columns)} "
            f"FROM runs t, {series} WHERE t.id = '{template}'"
        )
        for table in ("tasks", "transitions"):
            columns = [column for column in self.columns(table) if column != "id"]
            values = [new_id if column == "run_id" else f"c.{column}" for column in columns]
            self.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) {with_clause}"
                f"SELECT {', '.join(values)} FROM {table} c JOIN runs t ON t.id = c.run_id, {series} "
                f"WHERE c.run_id = '{template}'"
            )


@contextmanager
def sqlite_copier(path: str) -> Iterator[Copier]:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")

        def columns(table: str) -> list[str]:
            return [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]

        yield Copier("sqlite", connection.execute, columns)
        connection.execute("COMMIT")
    finally:
        connection.close()


@contextmanager
def postgres_copier(url: str) -> Iterator[Copier]:
    with psycopg.connect(url) as connection:

        def columns(table: str) -> list[str]:
            cursor = connection.execute(f"SELECT * FROM {table} LIMIT 0")
            return [column.name for column in cursor.description or []]

        yield Copier("postgres", lambda sql: connection.execute(sql), columns)
        connection.execute("ANALYZE")


def build(url: str, runs: int) -> float:
    """Fill ``url`` with ``runs`` runs in flight; the seconds it took."""
    started = time.perf_counter()
    template = asyncio.run(make_template(url))
    copier = (
        sqlite_copier(url.removeprefix("sqlite:///")) if url.startswith("sqlite") else postgres_copier(url)
    )
    with copier as copy:
        for first in range(1, runs, 50_000):
            copy.copy(template, first, min(first + 50_000, runs))
    return time.perf_counter() - started


async def measure(url: str, runs: int, concurrency: int) -> float:
    """Runs replayed per second by ``check_replay`` on ``url`` opened read-only."""
    srv = server(db=database(url, read_only=True, max_connections=max(concurrency, 2)))
    reader = client(server=srv)
    try:
        await srv.open()
        started = time.perf_counter()
        report = await check_replay(reader, bench_v1, concurrency=concurrency)
        elapsed = time.perf_counter() - started
    finally:
        await srv.close()
    if len(report.results) != runs or not report.ok:
        raise SystemExit(f"expected {runs} passing runs, got {report.summary()}")
    if {result.stopped_at for result in report.results} != {"wait for event 'go'"}:
        raise SystemExit("every run should replay its ten tasks and stop at the event wait")
    return runs / elapsed


@contextmanager
def backend_url(backend: str, postgres: str, suffix: str) -> Iterator[str]:
    """A new, empty database of ``backend``: a SQLite file in a temporary folder, or a PostgreSQL database."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="aiki-bench-replay-") as folder:
            yield f"sqlite:///{folder}/aiki.db"
        return
    name = f"aiki_bench_replay{suffix}"
    admin = postgres.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs in flight (default 10,000)")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/test", help="server to use"
    )
    parser.add_argument("--db-suffix", default="", help="appended to the PostgreSQL database name")
    arguments = parser.parse_args()
    if arguments.runs < 1:
        parser.error("--runs must be at least 1")
    backends = ("sqlite", "postgres") if arguments.backend == "both" else (arguments.backend,)
    print(f"replay check: {arguments.runs:,} runs in flight of a {TASKS_PER_RUN}-task workflow")
    print(f"{'backend':<10} {'build s':>8} " + " ".join(f"{f'runs/s c={c}':>12}" for c in CONCURRENCIES))
    for backend in backends:
        with backend_url(backend, arguments.postgres, arguments.db_suffix) as url:
            built_s = build(url, arguments.runs)
            rates = [asyncio.run(measure(url, arguments.runs, concurrency)) for concurrency in CONCURRENCIES]
        print(f"{backend:<10} {built_s:>8.1f} " + " ".join(f"{rate:>12,.0f}" for rate in rates))


if __name__ == "__main__":
    main()
