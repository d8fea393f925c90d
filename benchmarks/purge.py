"""Deleting finished runs: how fast retention and ``aiki runs purge`` delete, and what W1 loses meanwhile.

    python benchmarks/purge.py                                   # both backends, 200,000 runs (~3 minutes)
    python benchmarks/purge.py --backend sqlite --runs 1000000

Per backend, three fresh databases, each prefilled with ``--runs`` finished runs (``prefill.py``: three
tasks, five transitions, a sleep per 10 runs and an event per 20 runs each), and an engine in this process
(embedded server, timer loop and a worker of 200 concurrent runs, as ``run.py`` measures W1):

- ``baseline``: the runs' retention has not passed; nothing is deleted. W1 as usual.
- ``retention``: every run is past its retention (the server's retention is one hour, the runs finished
  over the last 30 days) when the engine starts: the deadline loop deletes them, in its batches, while the
  worker serves. For ``--alone-s`` seconds nothing else runs, then W1 runs while the deletion goes on.
- ``command``: the runs' retention has not passed, and ``client.purge_runs(before=now)`` (``aiki runs
  purge``) deletes them all, 200 runs per transaction; W1 runs after ``--alone-s`` seconds as above.

Figures: runs deleted per second with nothing else running and while W1 runs (from the count of runs,
sampled twice a second with the plain driver), the whole deletion's duration, and W1 runs/s (``--w1-runs``
runs of three tasks started together, ``--reps`` times, median) against the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "src"))

from common import fresh_database, machine_info, sqlite_path, write_result  # noqa: E402
from prefill import create_schema, now_ms, prefill  # noqa: E402

import aiki  # noqa: E402

DATABASE = "aiki_purge"
WORKER_CONCURRENCY = 200
RETENTION_MS = 3600 * 1000  # the retention case's server option: every prefilled run is past it
SAMPLE_S = 0.5
DRAIN_TIMEOUT_S = 1800.0


@aiki.task(name="purge-t1")
async def t1(value: int) -> int:
    return value


@aiki.task(name="purge-t2")
async def t2(value: int) -> int:
    return value


@aiki.task(name="purge-t3")
async def t3(value: int) -> int:
    return value


@aiki.workflow(name="purge-w1").v("1")
async def w1(run: Any, input: dict[str, int]) -> int:
    await t1.start(run, input["i"])
    await t2.start(run, input["i"])
    await t3.start(run, input["i"])
    return input["i"]


#: the prefilled runs still there (W1's own runs left out)
COUNT_PREFILLED = "SELECT count(*) FROM runs WHERE workflow_name <> 'purge-w1'"


class RunCounter:
    """Counts of runs with the plain driver, in a thread."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend, self.url = backend, url

    def _count(self, sql: str) -> int:
        if self.backend == "sqlite":
            connection = sqlite3.connect(sqlite_path(self.url))
            try:
                return int(connection.execute(sql).fetchone()[0])
            finally:
                connection.close()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            row = connection.execute(sql).fetchone()  # type: ignore[arg-type]
            assert row is not None
            return int(row[0])

    async def count(self, sql: str = COUNT_PREFILLED) -> int:
        return await asyncio.to_thread(self._count, sql)


async def run_w1(client: Any, runs: int, first: int) -> float:
    started = time.perf_counter()
    handles = await asyncio.gather(*(w1.start(client, {"i": first + index}) for index in range(runs)))
    outcomes = await asyncio.gather(*(handle.wait_for_status("completed") for handle in handles))
    elapsed = time.perf_counter() - started
    if not all(outcome.success for outcome in outcomes):
        raise AssertionError("a W1 run did not complete")
    return runs / elapsed


class Deletion:
    """Follows the deletion of the prefilled runs by their count, until ``target`` of them are gone."""

    def __init__(self, counter: RunCounter, prefilled: int, target: int) -> None:
        self.counter = counter
        self.prefilled = prefilled
        self.target = target
        self.samples: list[tuple[float, int]] = []  # (monotonic s, runs deleted so far)
        self.finished_at: float | None = None

    async def follow(self, started_at: float) -> None:
        while True:
            deleted = self.prefilled - await self.counter.count()
            now = time.monotonic()
            self.samples.append((now, deleted))
            if deleted >= self.target:
                self.finished_at = now
                return
            if now - started_at > DRAIN_TIMEOUT_S:
                raise AssertionError(
                    f"only {deleted:,} of {self.prefilled:,} runs deleted in {DRAIN_TIMEOUT_S} s"
                )
            await asyncio.sleep(SAMPLE_S)

    def rate(self, start: float, end: float) -> float | None:
        """Runs deleted per second between the samples nearest ``start`` and ``end`` (None: too few)."""
        window = [sample for sample in self.samples if start <= sample[0] <= end]
        if len(window) < 2 or window[-1][0] - window[0][0] < 1.0:
            return None
        return (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])


async def measure(
    args: argparse.Namespace,
    backend: str,
    url: str,
    case: str,
    start_deletion: Callable[[Any], Awaitable[Any]] | None,
) -> dict[str, Any]:
    opts = {"retention": RETENTION_MS} if case == "retention" else None
    counter = RunCounter(backend, url)
    # Retention: the runs that finished in the last hour are kept (they are not past it yet).
    kept = await counter.count(f"SELECT count(*) FROM runs WHERE updated_at_ms > {now_ms() - RETENTION_MS}")
    target = args.runs - (kept if case == "retention" else 0)
    srv = aiki.server(db=aiki.database(url), opts=opts)
    runtime = await srv.runtime.start()
    client = aiki.client(server=srv)
    worker = await aiki.worker(
        workflows=[w1], opts={"max_concurrent_workflow_runs": WORKER_CONCURRENCY}
    ).start(client)
    result: dict[str, Any] = {"backend": backend, "case": case, "runs": args.runs}
    try:
        deletion = Deletion(counter, args.runs, target)
        started = time.monotonic()
        following = asyncio.create_task(deletion.follow(started)) if case != "baseline" else None
        command = asyncio.create_task(start_deletion(client)) if start_deletion is not None else None
        if following is not None:
            await asyncio.sleep(args.alone_s)
        w1_started_at = time.monotonic()
        rates = []
        for rep in range(args.reps + 1):  # the first repetition warms up
            rate = await run_w1(client, args.w1_runs, rep * args.w1_runs)
            if rep:
                rates.append(rate)
        w1_ended_at = time.monotonic()
        result["w1_runs_per_s"] = statistics.median(rates)
        result["w1_reps"] = [round(rate, 1) for rate in rates]
        if following is not None:
            result["deleting_during_all_of_w1"] = deletion.finished_at is None
            await following
            if command is not None:
                result["command_returned"] = await command
            assert deletion.finished_at is not None
            result["alone_runs_per_s"] = deletion.rate(started, w1_started_at)
            result["during_w1_runs_per_s"] = deletion.rate(w1_started_at, w1_ended_at)
            result["after_w1_runs_per_s"] = deletion.rate(w1_ended_at, deletion.finished_at)
            result["deletion_s"] = round(deletion.finished_at - started, 2)
            result["deleted"] = target
            result["overall_runs_per_s"] = target / (deletion.finished_at - started)
    finally:
        await worker.stop()
        await runtime.stop()
        await srv.close()
    return result


async def purge_all(client: Any) -> int:
    deleted: int = await client.purge_runs(before=now_ms())
    return deleted


async def run_backend(args: argparse.Namespace, backend: str, directory: Path) -> list[dict[str, Any]]:
    results = []
    for case in ("baseline", "retention", "command"):
        if backend == "sqlite":
            url = f"sqlite:///{directory / f'{case}.db'}"
        else:
            url = fresh_database(args.postgres, DATABASE)
        await create_schema(aiki, url)
        report = await asyncio.to_thread(prefill, backend, url, args.runs, case == "retention")
        result = await measure(args, backend, url, case, purge_all if case == "command" else None)
        result["prefill_s"] = report.total_s
        print(json.dumps(result), file=sys.stderr, flush=True)
        results.append(result)
    return results


def figure(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_table(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\nDeleting {args.runs:,} finished runs; W1: {args.w1_runs:,} runs x {args.reps} (median)\n")
    print(
        "| backend | case | deleted/s alone | deleted/s during W1 | whole deletion s | W1 runs/s | W1 vs baseline |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    baselines = {r["backend"]: r["w1_runs_per_s"] for r in results if r["case"] == "baseline"}
    for r in results:
        ratio = r["w1_runs_per_s"] / baselines[r["backend"]]
        print(
            f"| {r['backend']} | {r['case']} | {figure(r.get('alone_runs_per_s'))} "
            f"| {figure(r.get('during_w1_runs_per_s'))} | {figure(r.get('deletion_s'), 1)} "
            f"| {figure(r['w1_runs_per_s'])} | {ratio:.2f}x |"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--backend", default="sqlite,postgres", help="sqlite, postgres or both (comma-separated)"
    )
    parser.add_argument("--runs", type=int, default=200_000, help="finished runs prefilled (and deleted)")
    parser.add_argument("--w1-runs", type=int, default=1000, help="W1 runs per repetition")
    parser.add_argument("--reps", type=int, default=3, help="W1 repetitions (after one warm-up)")
    parser.add_argument("--alone-s", type=float, default=10.0, help="seconds of deletion alone before W1")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--out", help="results JSON")
    args = parser.parse_args()
    args.backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgres"}
    if unknown or not args.backends:
        parser.error(f"--backend takes sqlite, postgres or both, got {args.backend!r}")
    if args.runs < 1000 or args.w1_runs < 1 or args.reps < 1 or args.alone_s < 0:
        parser.error("--runs must be at least 1,000; --w1-runs and --reps positive; --alone-s not negative")
    return args


async def drive(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="aiki-purge-") as directory:
        for backend in args.backends:
            results += await run_backend(args, backend, Path(directory))
    return results


def main() -> None:
    args = parse_args()
    results = asyncio.run(drive(args))
    print_table(results, args)
    if args.out:
        write_result(args.out, {"machine": machine_info(), "results": results})


if __name__ == "__main__":
    main()
