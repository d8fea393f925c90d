"""How fast an operator finds runs in a large database: the list, a deep page, a filtered page and a count.

    python benchmarks/listing.py --backend postgres --runs 1000000
    python benchmarks/listing.py --backend sqlite --runs 200000

The database is prefilled with ``--runs`` finished runs (``prefill.py``: 20 workflows x 2 versions, 90%
completed, 7% failed, 3% cancelled, over 30 days), unless it already holds that many (``--reuse``). Then an
embedded client (the same code the HTTP routes run) measures, ``--repeat`` times each:

- the first page of the newest runs (``list_runs(limit=50)``, what the dashboard opens on);
- page 10,000 of that list (``limit=50``), reached by its cursor (a cursor costs the same at any depth:
  there is no offset);
- a filtered page: one workflow, two statuses (failed and cancelled), ``limit=50``;
- a count: one workflow's failed runs (``count_runs``), and the per-version counts (``workflow_stats``).

It prints the median and the 95th percentile of each, and writes the plan of every statement to
``--plans`` (PostgreSQL ``EXPLAIN (ANALYZE, BUFFERS)``, SQLite ``EXPLAIN QUERY PLAN``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg

import aiki
from aiki.contract.listing import Cursor
from aiki.store.queries.base import QueryBase

sys.path.insert(0, str(Path(__file__).parent))
from prefill import create_schema, prefill

PAGE = 50
DEEP_PAGE = 10_000
WORKFLOW = "orders-03"


class StatementLog:
    """The SQL the store sends while ``recording``, to explain it afterwards."""

    def __init__(self) -> None:
        self.recording = False
        self.statements: list[tuple[str, str, list[Any]]] = []
        self.label = ""


def _subclasses(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _subclasses(sub)
    return found


def _wrap(original: Callable[..., Awaitable[Any]], log: StatementLog) -> Callable[..., Awaitable[Any]]:
    async def wrapper(self: Any, sql: str, params: Sequence[Any] = (), *args: Any, **kwargs: Any) -> Any:
        if log.recording:
            log.statements.append((log.label, sql, list(params)))
        return await original(self, sql, params, *args, **kwargs)

    return wrapper


async def measure(
    label: str, repeat: int, call: Callable[[], Awaitable[Any]], log: StatementLog
) -> dict[str, Any]:
    log.label, log.recording = label, True
    await call()  # once for the plans (and to warm the caches)
    log.recording = False
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    figure = {
        "label": label,
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 2),
    }
    print(
        f"  {label:<52} median {figure['median_ms']:>8.2f} ms   p95 {figure['p95_ms']:>8.2f} ms", flush=True
    )
    return figure


def deep_cursor(backend: str, url: str, path: str, page: int) -> str:
    """The cursor that page ``page`` of the newest-first list starts after (found once, not measured)."""
    sql = (
        "SELECT created_at_ms, id FROM runs ORDER BY created_at_ms DESC, id DESC "
        f"LIMIT 1 OFFSET {(page - 1) * PAGE - 1}"
    )
    if backend == "sqlite":
        with sqlite3.connect(path) as connection:
            created, run_id = connection.execute(sql).fetchone()
    else:
        with psycopg.connect(url) as connection:
            created, run_id = connection.execute(sql).fetchone()  # type: ignore[misc]
    return Cursor("newest", int(created), str(run_id)).encode()


def count_runs(backend: str, url: str, path: str) -> int:
    if backend == "sqlite":
        if not Path(path).exists():
            return -1
        with sqlite3.connect(path) as connection:
            try:
                return int(connection.execute("SELECT count(*) FROM runs").fetchone()[0])
            except sqlite3.OperationalError:
                return -1
    try:
        with psycopg.connect(url) as connection:
            return int(connection.execute("SELECT count(*) FROM runs").fetchone()[0])  # type: ignore[index]
    except psycopg.errors.UndefinedTable:
        return -1


def reset_postgres(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def explain(backend: str, url: str, path: str, statements: list[tuple[str, str, list[Any]]]) -> str:
    out: list[str] = []
    seen: set[str] = set()
    for label, sql, params in statements:
        if sql in seen:  # a statement of several measured calls is explained once
            continue
        seen.add(sql)
        out.append(f"== {label}\n{sql}\n-- params: {params}\n")
        if backend == "sqlite":
            with sqlite3.connect(path) as connection:
                rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
            out += [f"  {row[3]}" for row in rows]
        else:
            from aiki.store.postgres.connection import to_psycopg

            with psycopg.connect(url) as connection:
                connection.execute("SET enable_seqscan = off")
                connection.execute("SET jit = off")
                rows = connection.execute(
                    to_psycopg(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"),
                    tuple(params),  # type: ignore[arg-type]
                ).fetchall()
            out += [f"  {row[0]}" for row in rows]
        out.append("")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--runs", type=int, default=200_000)
    parser.add_argument("--path", default="/tmp/aiki-listing-bench.db", help="SQLite file")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test", help="admin URL")
    parser.add_argument("--database", default="aiki_listing_bench", help="PostgreSQL database to (re)create")
    parser.add_argument("--reuse", action="store_true", help="keep a database that already holds --runs runs")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--plans", default=None, help="file for the plans (default benchmarks/results/...)")
    parser.add_argument("--out", default=None, help="JSON file for the figures")
    args = parser.parse_args()

    path = args.path
    base = args.postgres.rsplit("/", 1)[0]
    url = f"sqlite:///{path}" if args.backend == "sqlite" else f"{base}/{args.database}"
    if not (args.reuse and count_runs(args.backend, url, path) == args.runs):
        if args.backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)
        else:
            url = reset_postgres(args.postgres, args.database)
        asyncio.run(create_schema(aiki, url))
        started = time.perf_counter()
        prefill(args.backend, url, args.runs)
        print(f"prefilled {args.runs:,} runs in {time.perf_counter() - started:.1f} s", flush=True)

    log = StatementLog()
    for cls in _subclasses(QueryBase):
        for name in ("_fetch_all", "_fetch_one"):
            if name in cls.__dict__ and cls is not QueryBase:
                setattr(cls, name, _wrap(cls.__dict__[name], log))
    deep_page = min(DEEP_PAGE, args.runs // PAGE - 1)
    cursor = deep_cursor(args.backend, url, path, deep_page)
    print(f"{args.backend}, {args.runs:,} runs:", flush=True)
    figures = asyncio.run(measure_all(url, cursor, deep_page, args.repeat, log))

    plans_path = Path(args.plans or Path(__file__).parent / "results" / f"listing-plans-{args.backend}.txt")
    plans_path.parent.mkdir(parents=True, exist_ok=True)
    plans_path.write_text(
        f"# plans of the listing benchmark, {args.backend}, {args.runs:,} runs\n\n"
        + explain(args.backend, url, path, log.statements)
    )
    print(f"plans written to {plans_path}")
    if args.out:
        Path(args.out).write_text(
            json.dumps({"backend": args.backend, "runs": args.runs, "figures": figures})
        )


async def measure_all(
    url: str, cursor: str, deep_page: int, repeat: int, log: StatementLog
) -> list[dict[str, Any]]:
    figures: list[dict[str, Any]] = []
    srv = await aiki.server(db=aiki.database(url)).open()
    try:
        c = aiki.client(server=srv)
        figures.append(await measure("first page (limit 50)", repeat, lambda: c.list_runs(limit=PAGE), log))
        figures.append(
            await measure(
                f"page {deep_page:,} by cursor (limit 50)",
                repeat,
                lambda: c.list_runs(limit=PAGE, cursor=cursor),
                log,
            )
        )
        figures.append(
            await measure(
                "filtered page: one workflow, failed + cancelled",
                repeat,
                lambda: c.list_runs(limit=PAGE, workflow=WORKFLOW, status=["failed", "cancelled"]),
                log,
            )
        )
        figures.append(
            await measure(
                "count: one workflow's failed runs",
                repeat,
                lambda: c.count_runs(workflow=WORKFLOW, status="failed"),
                log,
            )
        )
        figures.append(await measure("workflow_stats (every version)", repeat, c.workflow_stats, log))
        found = await c.count_runs(workflow=WORKFLOW, status="failed")
        print(f"  ({WORKFLOW} has {found:,} failed runs)")
    finally:
        await srv.close()
    return figures


if __name__ == "__main__":
    main()
