"""The workloads on aiki, embedded: one server, client and worker in this process.

    python benchmarks/aiki_workloads.py --workload W1 --backend sqlite --url sqlite:////tmp/a.db --out r.json

``--mode`` takes comma-separated ``concurrency=N`` (the worker's ``max_concurrent_workflow_runs``,
default 200) and ``connections=N`` (``database(url, max_connections=N)``; aiki's default otherwise).
If ``aiki`` cannot be imported, or lacks a name used here, the result says "aiki not available" and the
process exits 0, so the rest of the benchmark still runs.

``--prefill N`` writes N finished runs with the plain driver first (``prefill.py``), then measures as usual.
``--prefill-mode grown --prefill N --workload W1,W2,W3`` starts the engine on the EMPTY database instead,
warms it up with W2-like work and measures there, then prefills from this same process (through a second,
plain connection) while the engine keeps running, and measures again: statements prepared and plans cached
while the tables were empty stay in use. It writes one result per workload, the grown figures as
``metrics`` and the empty-database ones as ``extra.empty``.

W5 (aiki only): ``--w5-runs`` runs of ``bench-w5`` (the W1 shape: three tiny tasks) are queued with the plain
driver, as the engine would queue them, before the worker starts; then the worker drains them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from common import (
    add_metrics,
    metric_summaries,
    new_result,
    parse_workload_args,
    sizes_for,
    sqlite_path,
    write_result,
)
from prefill import Backlog, backlog_outcomes, create_schema, dialect_for, now_ms, prefill, queue_backlog
from tracing_modes import apply_tracing_mode
from workloads import (
    BEFORE_AT,
    SLEEP_AT,
    WAKE_AT,
    Driver,
    backlog_figures,
    mark,
    run_w1,
    run_w2,
    run_workload,
)

DEFAULT_CONCURRENCY = 200
GROWN_WARMUP_TASKS = 200  # grown mode: sequential tasks run on the empty database before anything is timed
GROWN_WARMUP_RUNS = 400  # grown mode: then W1 runs started together, which open every pooled connection
W5_WORKFLOW = ("bench-w5", "1.0.0")
W5_DRAIN_TIMEOUT_S = 3600.0
W5_COMMIT_WAIT_S = 60.0  # after the last body returned, how long its completion may take to commit


class BacklogTracker:
    """Counts the W5 bodies that returned, so the end of a drain is noticed without polling the database."""

    def __init__(self) -> None:
        self.finished: set[int] = set()
        self.expected = 0
        self.done = asyncio.Event()

    def expect(self, total: int) -> None:
        """Wake ``done`` once ``total`` distinct runs (over all repetitions) have returned."""
        self.expected = total
        self.done = asyncio.Event()

    def note(self, index: int) -> None:
        self.finished.add(index)
        if len(self.finished) >= self.expected:
            self.done.set()


W5_TRACKER = BacklogTracker()


def build_workflows(aiki: Any) -> dict[str, Any]:
    """The workflow versions, keyed by kind (see ``workloads.py``; ``w5`` is ``w1`` that reports its end)."""
    task, workflow = aiki.task, aiki.workflow

    @task(name="t1")
    async def t1(value: Any) -> Any:
        return value

    @task(name="t2")
    async def t2(value: Any) -> Any:
        return value

    @task(name="t3")
    async def t3(value: Any) -> Any:
        return value

    @task(name="before-sleep")
    async def before_sleep(key: str) -> float:
        return mark(BEFORE_AT, key)

    @task(name="after-sleep")
    async def after_sleep(key: str) -> float:
        return mark(WAKE_AT, key)

    @workflow(name="bench-w1").v("1.0.0")
    async def w1_v1(run: Any, input: dict[str, Any]) -> Any:
        await t1.start(run, input["i"])
        await t2.start(run, input["i"])
        await t3.start(run, input["i"])
        return input["i"]

    @workflow(name="bench-w2").v("1.0.0")
    async def w2_v1(run: Any, input: dict[str, Any]) -> Any:
        for index in range(input["count"]):
            await t1.start(run, index)
        return input["count"]

    @workflow(name="bench-w3").v("1.0.0")
    async def w3_v1(run: Any, input: dict[str, Any]) -> Any:
        return await t1.start(run, input["i"])

    @workflow(name="bench-w4").v("1.0.0")
    async def w4_v1(run: Any, input: dict[str, Any]) -> Any:
        await before_sleep.start(run, input["key"])
        # Replay runs this line again after the wake-up; the first mark (the real entry) is kept.
        mark(SLEEP_AT, input["key"])
        await run.sleep("nap", {"milliseconds": round(input["seconds"] * 1000)})
        await after_sleep.start(run, input["key"])
        return input["key"]

    @workflow(name=W5_WORKFLOW[0]).v(W5_WORKFLOW[1])
    async def w5_v1(run: Any, input: dict[str, Any]) -> Any:
        await t1.start(run, input["i"])
        await t2.start(run, input["i"])
        await t3.start(run, input["i"])
        # The completion commits right after the body returns; the drain waits for the commits anyway.
        W5_TRACKER.note(input["i"])
        return input["i"]

    return {"w1": w1_v1, "w2": w2_v1, "w3": w3_v1, "w4": w4_v1, "w5": w5_v1}


class AikiDriver(Driver):
    def __init__(self, versions: dict[str, Any], client: Any) -> None:
        self.versions = versions
        self.client = client

    async def start(self, kind: str, input: dict[str, Any]) -> Any:
        return await self.versions[kind].start(self.client, input)

    async def result(self, handle: Any) -> Any:
        outcome = await handle.wait_for_status("completed")
        if not outcome.success:
            raise AssertionError(f"run {handle.run.id} ended {outcome.cause}: {handle.run.state}")
        return outcome.state.output


def mode_value(mode: set[str], name: str, default: int | None) -> int | None:
    for token in mode:
        if token.startswith(f"{name}="):
            return int(token.removeprefix(f"{name}="))
    return default


class Engine:
    """How this process runs aiki: the database, the worker's concurrency, the workflow versions."""

    def __init__(self, aiki: Any, args: Any, notes: list[str]) -> None:
        mode = set(filter(None, (args.mode or "").split(",")))
        self.aiki = aiki
        self.concurrency = mode_value(mode, "concurrency", DEFAULT_CONCURRENCY)
        self.connections = mode_value(mode, "connections", None)
        self.url = args.url
        self.versions = build_workflows(aiki)
        notes.append(
            f"aiki embedded ({Path(aiki.__file__).parent}), worker max_concurrent_workflow_runs={self.concurrency}"
        )
        database = self.database()
        if getattr(database, "synchronous", None):
            notes.append(f"SQLite synchronous={database.synchronous}")
        if self.connections is not None:
            notes.append(f"database max_connections={self.connections}")

    def database(self) -> Any:
        if self.connections is None:
            return self.aiki.database(self.url)
        return self.aiki.database(self.url, max_connections=self.connections)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[Any]:
        """The embedded server, running; yields a client of it."""
        srv = self.aiki.server(db=self.database())
        runtime = await srv.runtime.start()
        try:
            yield self.aiki.client(server=srv)
        finally:
            await runtime.stop()
            await srv.close()

    @asynccontextmanager
    async def working(self, client: Any) -> AsyncIterator[None]:
        """A worker of every benchmark workflow, claiming through ``client``."""
        worker = self.aiki.worker(
            workflows=list(self.versions.values()), opts={"max_concurrent_workflow_runs": self.concurrency}
        )
        handle = await worker.start(client)
        try:
            yield
        finally:
            await handle.stop()


async def prefill_now(args: Any, result: dict[str, Any]) -> None:
    """Prefill the database with the plain driver, off the event loop (grown mode: the engine keeps running)."""
    report = await asyncio.to_thread(prefill, args.backend, args.url, args.prefill)
    print(report.describe(), file=sys.stderr)
    result["extra"]["prefill"] = report.to_dict()


async def measure(aiki: Any, args: Any, result: dict[str, Any]) -> list[dict[str, float]]:
    """W1-W4, on a prefilled database if asked."""
    engine = Engine(aiki, args, result["config"])
    if args.prefill:
        await create_schema(aiki, args.url)
        await prefill_now(args, result)
    result["config"].append("warm-up before timing")
    async with engine.serving() as client, engine.working(client):
        return await run_workload(
            args.workload, AikiDriver(engine.versions, client), args.reps, args.quick, args.w4_rate
        )


async def measure_grown(
    aiki: Any, args: Any, result: dict[str, Any]
) -> tuple[dict[str, list[dict[str, float]]], dict[str, list[dict[str, float]]]]:
    """Grown mode: per workload, the figures on the empty database and after the prefill, one process."""
    engine = Engine(aiki, args, result["config"])
    result["config"].append(
        f"one process: warm-up ({GROWN_WARMUP_TASKS} sequential tasks, {GROWN_WARMUP_RUNS} W1 runs) and the "
        "measurement on the empty database, then the prefill with the engine running, then the measurement again"
    )
    async with engine.serving() as client, engine.working(client):
        driver = AikiDriver(engine.versions, client)
        # Statements get prepared (psycopg, after 5 uses) and plans cached while every table is empty. The
        # W1 burst opens the whole connection pool (each connection prepares its own statements), so that
        # the empty-database figures do not pay for connections the grown ones find ready.
        await run_w2(driver, GROWN_WARMUP_TASKS)
        await run_w1(driver, GROWN_WARMUP_RUNS)
        empty = {name: await run_workload(name, driver, args.reps, args.quick) for name in args.workloads}
        await prefill_now(args, result)
        grown = {name: await run_workload(name, driver, args.reps, args.quick) for name in args.workloads}
    return empty, grown


async def measure_backlog(aiki: Any, args: Any, result: dict[str, Any]) -> list[dict[str, float]]:
    """W5: per repetition, queue a backlog with no worker running, start the worker, time the drain."""
    engine = Engine(aiki, args, result["config"])
    await create_schema(aiki, args.url)
    if args.prefill:
        await prefill_now(args, result)
    count = sizes_for(args.quick, args.w5_runs).w5_runs
    result["config"].append(f"W5: {count:,} runs of {W5_WORKFLOW[0]} queued before the worker starts")
    async with engine.serving() as client:
        return [await drain_backlog(engine, args, client, rep, count) for rep in range(args.reps)]


async def drain_backlog(engine: Engine, args: Any, client: Any, rep: int, count: int) -> dict[str, float]:
    backlog = Backlog(
        dialect_for(args.backend),
        *W5_WORKFLOW,
        count=count,
        first=rep * count,
        start_ms=now_ms() - count,  # created one ms apart, all in the past
        marker=f"w5-rep{rep}",
    )
    queued = await asyncio.to_thread(queue_backlog, args.backend, args.url, backlog)
    W5_TRACKER.expect((rep + 1) * count)
    started_ms = now_ms()
    async with engine.working(client):
        await asyncio.wait_for(W5_TRACKER.done.wait(), W5_DRAIN_TIMEOUT_S)
        finished_ms = await backlog_completions(args, backlog)
    return {**backlog_figures(started_ms, finished_ms), "queue_s": queued.total_s}


async def backlog_completions(args: Any, backlog: Backlog) -> list[int]:
    """Every backlog run's completion time (``updated_at_ms``), once all their completions have committed."""
    deadline = time.monotonic() + W5_COMMIT_WAIT_S
    while True:
        outcomes = await asyncio.to_thread(backlog_outcomes, args.backend, args.url, backlog)
        statuses = {status for status, _ in outcomes}
        if len(outcomes) == backlog.count and statuses == {"completed"}:
            return [finished_ms for _, finished_ms in outcomes]
        if statuses & {"failed", "cancelled"} or time.monotonic() > deadline:
            raise AssertionError(f"W5 backlog {backlog.marker}: {len(outcomes)} runs, statuses {statuses}")
        await asyncio.sleep(0.05)


def import_aiki() -> Any:
    """``aiki`` from this tree's ``src/`` (the code under test), else the installed package."""
    source = Path(__file__).resolve().parent.parent / "src"
    if (source / "aiki").is_dir():
        sys.path.insert(0, str(source))
    import aiki

    missing = [
        name
        for name in ("workflow", "task", "server", "database", "client", "worker")
        if not hasattr(aiki, name)
    ]
    if missing:
        raise ImportError(
            f"aiki ({getattr(aiki, '__file__', None) or 'namespace'}) lacks {', '.join(missing)}"
        )
    return aiki


def note_journal_mode(args: Any, result: dict[str, Any]) -> None:
    if args.backend == "sqlite":
        connection = sqlite3.connect(sqlite_path(args.url))
        journal_mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        connection.close()
        result["config"].append(f"SQLite file left in journal_mode={journal_mode} by aiki")


def grown_results(
    args: Any,
    base: dict[str, Any],
    empty: dict[str, list[dict[str, float]]],
    grown: dict[str, list[dict[str, float]]],
) -> list[dict[str, Any]]:
    """One record per workload: the grown figures as ``metrics``, the empty-database ones in ``extra``."""
    results = []
    for name in args.workloads:
        result = {**new_result("aiki", args, name), "config": base["config"], "extra": dict(base["extra"])}
        add_metrics(result, grown[name])
        result["extra"].update(
            per_rep=grown[name], empty=metric_summaries(name, empty[name]), per_rep_empty=empty[name]
        )
        results.append(result)
    return results


async def main_async() -> None:
    args = parse_workload_args(__doc__ or "")
    result = new_result("aiki", args)
    result["tracing"] = apply_tracing_mode()
    try:
        aiki = import_aiki()
    except Exception as error:  # an engine half-written in this tree fails in many ways
        result["available"] = False
        result["error"] = f"aiki not available: {error}"
        write_result(args.out, result)
        print(result["error"], file=sys.stderr)
        return
    try:
        if args.prefill_mode == "grown":
            empty, grown = await measure_grown(aiki, args, result)
        elif args.workload == "W5":
            per_rep = await measure_backlog(aiki, args, result)
        else:
            per_rep = await measure(aiki, args, result)
    except Exception as error:
        result["error"] = f"{type(error).__name__}: {error}"
        result["extra"]["traceback"] = traceback.format_exc()
        write_result(args.out, result)
        raise
    note_journal_mode(args, result)
    if args.prefill_mode == "grown":
        write_result(args.out, grown_results(args, result, empty, grown))
        return
    add_metrics(result, per_rep)
    result["extra"]["per_rep"] = per_rep
    write_result(args.out, result)


if __name__ == "__main__":
    asyncio.run(main_async())
