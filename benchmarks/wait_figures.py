"""Figures for durable waits: wake-up lateness of sleeping runs, and a worker's memory with many runs asleep.

    python benchmarks/wait_figures.py                 # both figures, default sizes
    python benchmarks/wait_figures.py lateness --runs 500 --sleep-ms 1000
    python benchmarks/wait_figures.py memory --counts 1000,10000

Lateness: one process embeds the server (SQLite file, its timer loop) and one worker whose concurrency
covers every run; ``--runs`` runs each sleep ``--sleep-ms`` and then run one task that stamps the wall-clock
time. Two latenesses per run, against the sleep's recorded ``wake_at_ms``: when the timer loop queued the run
(``sleeping -> queued``), and when the handler's next line ran on the worker.

Memory: for each count, a fresh database and a fresh worker process (its own embedded server on the same
SQLite file, no timer loop: a worker process and nothing else). This process starts the runs, which sleep for
an hour; once all of them are asleep the worker reports its resident memory (RSS), its asyncio tasks and its
threads. A sleeping run is a row, not a task or a thread: the figures must not grow with the count.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aiki import client, database, server, task, worker, workflow

SLEEP_AN_HOUR_MS = 3_600_000

napper = workflow(name="napper")


@task(name="stamp")
async def stamp() -> float:
    """The wall-clock time (epoch ms, sub-millisecond) at which the handler got past its sleep."""
    return time.time_ns() / 1_000_000


@napper.v("1.0.0")
async def napper_v1(run: Any, input: dict[str, Any]) -> float:
    await run.sleep("nap", input["sleep_ms"])
    return float(await stamp.start(run))


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size of process ``pid`` in KiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS line in /proc/<pid>/status")


async def measure_lateness(runs: int, sleep_ms: int, concurrency: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="aiki-lateness-"))
    srv = server(db=database(f"sqlite:///{folder / 'aiki.db'}"))
    runtime = await srv.runtime.start()
    c = client(server=srv)
    running = await worker(workflows=[napper_v1], opts={"max_concurrent_workflow_runs": concurrency}).start(c)
    try:
        began = time.perf_counter()
        handles = [await napper_v1.start(c, {"sleep_ms": sleep_ms, "n": n}) for n in range(runs)]
        started_s = time.perf_counter() - began
        results = [await handle.wait_for_status("completed", timeout={"seconds": 600}) for handle in handles]
        total_s = time.perf_counter() - began
        queued_late: list[float] = []
        resumed_late: list[float] = []
        for handle, result in zip(handles, results, strict=True):
            assert result.success and result.state is not None, result
            history = await c.transport.get_history(handle.id)
            wake_at_ms = history.sleeps[0].wake_at_ms
            timeline = await c.transport.get_timeline(handle.id)
            woken = next(
                step for step in timeline if step.from_status == "sleeping" and step.to_status == "queued"
            )
            queued_late.append(woken.created_at_ms - wake_at_ms)
            resumed_late.append(float(result.state.output) - wake_at_ms)
    finally:
        await running.stop()
        await runtime.stop()
        await srv.close()
    return {
        "runs": runs,
        "sleep_ms": sleep_ms,
        "worker_concurrency": concurrency,
        "start_all_s": round(started_s, 2),
        "all_completed_s": round(total_s, 2),
        "timer_lateness_ms": _summary(queued_late),
        "handler_resume_lateness_ms": _summary(resumed_late),
    }


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 0.50), 1),
        "p95": round(percentile(values, 0.95), 1),
        "p99": round(percentile(values, 0.99), 1),
        "max": round(max(values), 1),
        "mean": round(statistics.fmean(values), 1),
    }


async def worker_process(db_url: str, concurrency: int) -> None:
    """The worker of the memory figure: answers ``report`` lines on stdin with its RSS, tasks and threads."""
    srv = server(db=database(db_url, synchronous="NORMAL"), opts={"poll_interval_ms": 100})
    c = client(server=srv)
    opts = {"max_concurrent_workflow_runs": concurrency, "poll_interval_ms": 100}
    running = await worker(workflows=[napper_v1], opts=opts).start(c)
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True}), flush=True)
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if line.strip() == "report":
                gc.collect()
                report = {
                    "rss_kib": rss_kib(),
                    "asyncio_tasks": len(asyncio.all_tasks()),
                    "threads": threading.active_count(),
                    "runs_executing": len(running.active_run_ids),
                }
                print(json.dumps(report), flush=True)
    finally:
        await running.stop()
        await srv.close()


async def measure_memory(count: int, concurrency: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="aiki-memory-"))
    db_url = f"sqlite:///{folder / 'aiki.db'}"
    srv = server(db=database(db_url, synchronous="NORMAL"))
    await srv.open()
    c = client(server=srv)
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "_worker", db_url, str(concurrency),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    stdin, stdout = child.stdin, child.stdout

    async def report() -> dict[str, Any]:
        stdin.write(b"report\n")
        await stdin.drain()
        return dict(json.loads(await stdout.readline()))

    try:
        json.loads(await stdout.readline())
        idle = await report()
        began = time.perf_counter()
        for n in range(count):
            await napper_v1.start(c, {"sleep_ms": SLEEP_AN_HOUR_MS, "n": n})
        # The worker is another process: its progress is seen in the database only.
        while await _count_sleeping(srv) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        asleep = await report()
        return {
            "sleeping_runs": count,
            "setup_s": round(time.perf_counter() - began, 1),
            "idle_worker": idle,
            "with_runs_asleep": asleep,
            "rss_growth_kib": asleep["rss_kib"] - idle["rss_kib"],
        }
    finally:
        stdin.close()
        await asyncio.wait_for(child.wait(), 60)
        await srv.close()


async def _count_sleeping(srv: Any) -> int:
    async with srv.core.read() as connection:
        row = await connection.fetch_one("SELECT COUNT(*) AS n FROM runs WHERE status = 'sleeping'")
    return int(row["n"]) if row is not None else 0


async def main(arguments: argparse.Namespace) -> None:
    if arguments.figure in ("all", "lateness"):
        figures = await measure_lateness(arguments.runs, arguments.sleep_ms, arguments.concurrency)
        print(json.dumps({"lateness": figures}, indent=2), flush=True)
    if arguments.figure in ("all", "memory"):
        for count in [int(part) for part in arguments.counts.split(",")]:
            figures = await measure_memory(count, arguments.concurrency)
            print(json.dumps({"memory": figures}, indent=2), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        asyncio.run(worker_process(sys.argv[2], int(sys.argv[3])))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figure", nargs="?", choices=["all", "lateness", "memory"], default="all")
    parser.add_argument("--runs", type=int, default=500, help="runs of the lateness figure (500)")
    parser.add_argument("--sleep-ms", type=int, default=1_000, help="their sleep (1000 ms)")
    parser.add_argument(
        "--concurrency", type=int, default=500, help="the worker's max_concurrent_workflow_runs"
    )
    parser.add_argument("--counts", default="1000,10000", help="sleeping-run counts of the memory figure")
    asyncio.run(main(parser.parse_args()))
