"""The workloads on aiki, embedded: one server, client and worker in this process (see SPEC.md).

    python benchmarks/aiki_workloads.py --workload W1 --backend sqlite --url sqlite:////tmp/a.db --out r.json

``--mode`` takes comma-separated ``concurrency=N`` (the worker's ``max_concurrent_workflow_runs``,
default 200) and ``connections=N`` (``database(url, max_connections=N)``; aiki's default otherwise).
If ``aiki`` cannot be imported, or lacks a name used here, the result says "aiki not available" and the
process exits 0, so the rest of the benchmark still runs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import traceback
from pathlib import Path
from typing import Any

from common import add_metrics, new_result, parse_workload_args, sqlite_path, write_result
from workloads import BEFORE_AT, SLEEP_AT, WAKE_AT, Driver, mark, run_workload

DEFAULT_CONCURRENCY = 200


def build_workflows(aiki: Any) -> dict[str, Any]:
    """The four workflow versions, keyed by kind (see ``workloads.py``)."""
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

    return {"w1": w1_v1, "w2": w2_v1, "w3": w3_v1, "w4": w4_v1}


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


async def run_aiki(aiki: Any, args: Any, result: dict[str, Any]) -> list[dict[str, float]]:
    mode = set(filter(None, (args.mode or "").split(",")))
    concurrency = mode_value(mode, "concurrency", DEFAULT_CONCURRENCY)
    connections = mode_value(mode, "connections", None)
    database = (
        aiki.database(args.url)
        if connections is None
        else aiki.database(args.url, max_connections=connections)
    )
    notes = result["config"]
    notes.append(
        f"aiki embedded ({Path(aiki.__file__).parent}), worker max_concurrent_workflow_runs={concurrency}"
    )
    if getattr(database, "synchronous", None):
        notes.append(f"SQLite synchronous={database.synchronous}")
    if connections is not None:
        notes.append(f"database max_connections={connections}")
    notes.append("warm-up before timing")

    versions = build_workflows(aiki)
    srv = aiki.server(db=database)
    runtime = await srv.runtime.start()
    try:
        client = aiki.client(server=srv)
        worker = aiki.worker(
            workflows=list(versions.values()), opts={"max_concurrent_workflow_runs": concurrency}
        )
        worker_handle = await worker.start(client)
        try:
            return await run_workload(
                args.workload, AikiDriver(versions, client), args.reps, args.quick, args.w4_rate
            )
        finally:
            await worker_handle.stop()
    finally:
        await runtime.stop()
        await srv.close()


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


async def main_async() -> None:
    args = parse_workload_args(__doc__ or "")
    result = new_result("aiki", args)
    try:
        aiki = import_aiki()
    except Exception as error:  # an engine half-written in this tree fails in many ways
        result["available"] = False
        result["error"] = f"aiki not available: {error}"
        write_result(args.out, result)
        print(result["error"], file=sys.stderr)
        return
    try:
        per_rep = await run_aiki(aiki, args, result)
    except Exception as error:
        result["error"] = f"{type(error).__name__}: {error}"
        result["extra"]["traceback"] = traceback.format_exc()
        write_result(args.out, result)
        raise
    if args.backend == "sqlite":
        connection = sqlite3.connect(sqlite_path(args.url))
        journal_mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        connection.close()
        notes = result["config"]
        notes.append(f"SQLite file left in journal_mode={journal_mode} by aiki")
    add_metrics(result, per_rep)
    result["extra"]["per_rep"] = per_rep
    write_result(args.out, result)


if __name__ == "__main__":
    asyncio.run(main_async())
