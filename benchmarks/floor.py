"""The floor: what one durable write costs on this database, with no engine around it.

One transaction = one single-row INSERT + COMMIT, issued from Python with the plain driver
(``sqlite3``; ``psycopg``). SQLite runs in WAL mode with ``synchronous=FULL`` (every commit is fsynced);
PostgreSQL keeps its server defaults (``synchronous_commit=on``, ``fsync=on``). W2 divides by this.

    python benchmarks/floor.py --workload floor --backend sqlite --url sqlite:////tmp/f.db --out f.json
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from common import add_metrics, new_result, parse_workload_args, sizes_for, sqlite_path, write_result

PAYLOAD = '{"run":"0190d7a2-6c55-7e1a-9c1b-3f0e4d2a1b00","task":"t1","output":{"x":1}}'


def time_commits(commit_once: Callable[[int], None], count: int) -> float:
    """Microseconds per call of ``commit_once`` over ``count`` calls."""
    started = time.perf_counter()
    for index in range(count):
        commit_once(index)
    return (time.perf_counter() - started) / count * 1e6


def measure_sqlite(url: str, count: int, reps: int, result: dict[str, Any]) -> list[dict[str, float]]:
    connection = sqlite3.connect(sqlite_path(url), isolation_level=None)
    journal_mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    connection.execute("PRAGMA synchronous=FULL")
    synchronous = connection.execute("PRAGMA synchronous").fetchone()[0]
    connection.execute("CREATE TABLE IF NOT EXISTS floor (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    result["config"].append(
        f"sqlite3 {sqlite3.sqlite_version}, journal_mode={journal_mode}, synchronous={synchronous} (2=FULL)"
    )

    def commit_once(index: int) -> None:
        connection.execute("BEGIN")
        connection.execute("INSERT INTO floor (payload) VALUES (?)", (PAYLOAD,))
        connection.execute("COMMIT")

    time_commits(commit_once, 50)  # warm-up
    per_rep = [{"us_per_commit": time_commits(commit_once, count)} for _ in range(reps)]
    connection.close()
    return per_rep


def measure_postgres(url: str, count: int, reps: int, result: dict[str, Any]) -> list[dict[str, float]]:
    import psycopg

    connection = psycopg.connect(url)
    with connection.cursor() as cursor:
        settings = {}
        for name in ("synchronous_commit", "fsync", "wal_sync_method", "server_version"):
            cursor.execute(f"SHOW {name}")
            settings[name] = cursor.fetchone()[0]  # type: ignore[index]
        cursor.execute("CREATE TABLE IF NOT EXISTS floor (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)")
    connection.commit()
    result["config"].append(
        f"psycopg {psycopg.__version__}, server defaults: "
        + ", ".join(f"{key}={value}" for key, value in settings.items())
    )

    def commit_once(index: int) -> None:
        # psycopg opens the transaction (BEGIN) implicitly before the INSERT.
        connection.execute("INSERT INTO floor (payload) VALUES (%s)", (PAYLOAD,))
        connection.commit()

    def autocommit_once(index: int) -> None:
        connection.execute("INSERT INTO floor (payload) VALUES (%s)", (PAYLOAD,))

    time_commits(commit_once, 50)  # warm-up
    per_rep = [{"us_per_commit": time_commits(commit_once, count)} for _ in range(reps)]
    connection.autocommit = True
    result["extra"]["autocommit_insert_us"] = time_commits(autocommit_once, count)
    connection.close()
    return per_rep


def main() -> None:
    args = parse_workload_args(__doc__ or "")
    result = new_result("floor", args)
    count = sizes_for(args.quick).floor_commits
    measure = measure_sqlite if args.backend == "sqlite" else measure_postgres
    add_metrics(result, measure(args.url, count, args.reps, result))
    write_result(args.out, result)


if __name__ == "__main__":
    main()
