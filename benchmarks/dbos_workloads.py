"""The workloads on DBOS Transact (``pip install dbos==3.4.0``), in its best configuration.

DBOS keeps one global instance per process, so ``run.py`` runs each (backend, workload) here in a fresh
process. Best configuration, as issue 5 asks, and measured on this machine to be DBOS's fastest:

- the SQLite file is switched to WAL before launch (DBOS leaves it in the rollback journal; SQLite's
  default ``synchronous=FULL`` stays, the same durability as the floor);
- runs start with ``DBOS.start_workflow`` (sync mode) or ``start_workflow_async`` (async mode), never
  through a polled queue;
- sync workflows by default (``--mode sync``): on 2 cores they beat async workflows on every workload
  (async steps hop to a thread for each database call; W2 is about 2x slower and W4 lateness is
  hundreds of ms with async); ``--mode async`` runs the async variant;
- SQLAlchemy's ``pool_pre_ping`` off (DBOS turns it on: one extra round trip per connection checkout);
  add ``,ping`` to the mode to keep it; ``,pool=N`` sets ``sys_db_pool_size``; ``,callers=N`` sets how
  many threads of the benchmark call ``start_workflow`` (W1 and W4 submit all runs at once);
  ``,nowal`` leaves SQLite in the rollback journal, as DBOS does by itself;
- a warm-up before timing.

    python benchmarks/dbos_workloads.py --workload W1 --backend sqlite --url sqlite:////tmp/d.db --out r.json
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common import add_metrics, new_result, parse_workload_args, sqlite_path, write_result
from dbos import DBOS, DBOSConfig
from workloads import BEFORE_AT, SLEEP_AT, WAKE_AT, Driver, mark, run_workload

DEFAULT_MODE = "sync"
DEFAULT_CALLER_THREADS = 8

# ---- async variant -------------------------------------------------------------------------------------


@DBOS.step(name="t1")
async def t1(value: Any) -> Any:
    return value


@DBOS.step(name="t2")
async def t2(value: Any) -> Any:
    return value


@DBOS.step(name="t3")
async def t3(value: Any) -> Any:
    return value


@DBOS.step(name="before-sleep")
async def before_sleep(key: str) -> float:
    return mark(BEFORE_AT, key)


@DBOS.step(name="after-sleep")
async def after_sleep(key: str) -> float:
    return mark(WAKE_AT, key)


@DBOS.workflow(name="bench-w1")
async def w1_workflow(input: dict[str, Any]) -> Any:
    await t1(input["i"])
    await t2(input["i"])
    await t3(input["i"])
    return input["i"]


@DBOS.workflow(name="bench-w2")
async def w2_workflow(input: dict[str, Any]) -> Any:
    for index in range(input["count"]):
        await t1(index)
    return input["count"]


@DBOS.workflow(name="bench-w3")
async def w3_workflow(input: dict[str, Any]) -> Any:
    return await t1(input["i"])


@DBOS.workflow(name="bench-w4")
async def w4_workflow(input: dict[str, Any]) -> Any:
    await before_sleep(input["key"])
    mark(SLEEP_AT, input["key"])
    await DBOS.sleep_async(input["seconds"])
    await after_sleep(input["key"])
    return input["key"]


# ---- sync variant --------------------------------------------------------------------------------------


@DBOS.step(name="t1-sync")
def t1_sync(value: Any) -> Any:
    return value


@DBOS.step(name="t2-sync")
def t2_sync(value: Any) -> Any:
    return value


@DBOS.step(name="t3-sync")
def t3_sync(value: Any) -> Any:
    return value


@DBOS.step(name="before-sleep-sync")
def before_sleep_sync(key: str) -> float:
    return mark(BEFORE_AT, key)


@DBOS.step(name="after-sleep-sync")
def after_sleep_sync(key: str) -> float:
    return mark(WAKE_AT, key)


@DBOS.workflow(name="bench-w1-sync")
def w1_workflow_sync(input: dict[str, Any]) -> Any:
    t1_sync(input["i"])
    t2_sync(input["i"])
    t3_sync(input["i"])
    return input["i"]


@DBOS.workflow(name="bench-w2-sync")
def w2_workflow_sync(input: dict[str, Any]) -> Any:
    for index in range(input["count"]):
        t1_sync(index)
    return input["count"]


@DBOS.workflow(name="bench-w3-sync")
def w3_workflow_sync(input: dict[str, Any]) -> Any:
    return t1_sync(input["i"])


@DBOS.workflow(name="bench-w4-sync")
def w4_workflow_sync(input: dict[str, Any]) -> Any:
    before_sleep_sync(input["key"])
    mark(SLEEP_AT, input["key"])
    DBOS.sleep(input["seconds"])
    after_sleep_sync(input["key"])
    return input["key"]


ASYNC_WORKFLOWS = {"w1": w1_workflow, "w2": w2_workflow, "w3": w3_workflow, "w4": w4_workflow}
SYNC_WORKFLOWS = {
    "w1": w1_workflow_sync,
    "w2": w2_workflow_sync,
    "w3": w3_workflow_sync,
    "w4": w4_workflow_sync,
}


class DBOSDriver(Driver):
    """Sync mode calls DBOS from ``caller_threads`` threads of its own; async mode from the event loop."""

    def __init__(self, sync: bool, caller_threads: int) -> None:
        self.sync = sync
        self.callers = ThreadPoolExecutor(max_workers=caller_threads, thread_name_prefix="bench-caller")

    async def call(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.callers, function, *args)

    async def start(self, kind: str, input: dict[str, Any]) -> Any:
        if self.sync:
            return await self.call(DBOS.start_workflow, SYNC_WORKFLOWS[kind], input)
        return await DBOS.start_workflow_async(ASYNC_WORKFLOWS[kind], input)

    async def result(self, handle: Any) -> Any:
        if self.sync:
            return await self.call(handle.get_result)
        return await handle.get_result()

    async def start_and_wait(self, kind: str, input: dict[str, Any]) -> Any:
        if self.sync:
            return await self.call(lambda: DBOS.start_workflow(SYNC_WORKFLOWS[kind], input).get_result())
        return await super().start_and_wait(kind, input)

    async def results(self, handles: list[Any]) -> list[Any]:
        if self.sync:
            # One thread waits for each in turn: the last one is done when all are.
            return await self.call(lambda: [handle.get_result() for handle in handles])
        return await super().results(handles)

    def close(self) -> None:
        self.callers.shutdown()


def caller_threads(mode: set[str]) -> int:
    for token in mode:
        if token.startswith("callers="):
            return int(token.removeprefix("callers="))
    return DEFAULT_CALLER_THREADS


def configure(backend: str, url: str, mode: set[str], result: dict[str, Any]) -> DBOSConfig:
    notes = result["config"]
    notes.append(f"DBOS Transact {importlib.metadata.version('dbos')}, mode {','.join(sorted(mode))}")
    if backend == "sqlite" and "nowal" in mode:
        notes.append("SQLite left in DBOS's default rollback journal (nowal)")
    elif backend == "sqlite":
        connection = sqlite3.connect(sqlite_path(url))
        journal_mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        connection.close()
        notes.append(
            f"SQLite switched to journal_mode={journal_mode} before launch; synchronous=FULL default"
        )
    if "sync" in mode:
        notes.append(
            f"sync workflows, DBOS.start_workflow called from {caller_threads(mode)} threads, no queue"
        )
    else:
        notes.append("async workflows, DBOS.start_workflow_async, no queue")
    config: DBOSConfig = {"name": "aiki-bench", "system_database_url": url, "log_level": "WARNING"}
    if "ping" not in mode:
        config["db_engine_kwargs"] = {"pool_pre_ping": False}
        notes.append("pool_pre_ping off (DBOS default: on)")
    for token in mode:
        if token.startswith("pool="):
            config["sys_db_pool_size"] = int(token.removeprefix("pool="))
            notes.append(f"sys_db_pool_size={config['sys_db_pool_size']} (DBOS default: 20)")
    notes.append("warm-up before timing")
    return config


async def main_async() -> None:
    args = parse_workload_args(__doc__ or "")
    result = new_result("dbos", args)
    mode = set((args.mode or DEFAULT_MODE).split(","))
    DBOS(config=configure(args.backend, args.url, mode, result))
    DBOS.launch()
    driver = DBOSDriver(sync="sync" in mode, caller_threads=caller_threads(mode))
    try:
        per_rep = await run_workload(args.workload, driver, args.reps, args.quick, args.w4_rate)
    finally:
        driver.close()
        DBOS.destroy()
    add_metrics(result, per_rep)
    result["extra"]["per_rep"] = per_rep
    write_result(args.out, result)


if __name__ == "__main__":
    asyncio.run(main_async())
