"""Scale-out on PostgreSQL: W1 throughput and W4 timer lateness with 1, 2 and 4 worker processes.

    python benchmarks/scale.py                          # embedded and HTTP, 1/2/4 processes (~3 minutes)
    python benchmarks/scale.py --processes 1,2 --modes embedded --runs 1000

Two ways to add processes, each measured on a fresh database:

- ``embedded``: each worker process embeds a server on the shared database (its own connection pool, timer
  loop and worker). The driver (this process) starts the runs through an embedded client of its own (no
  runtime, no worker) and waits for them; it learns of their ends through PostgreSQL's notifications.
- ``http``: one ``aiki server`` process owns the database; the worker processes and the driver talk to it
  over HTTP.

W1: ``--runs`` runs of three tasks started together; runs/s from the first start to the last completion.
W4: ``--w4-runs`` runs that each run a task, sleep ``--w4-seconds`` and run a task, started together; the
lateness of a wake-up is when the task after the sleep began minus (when the task before it ended plus the
sleep), both by the wall clock of the process that ran them (one machine, one clock).

Per cell it also prints what the database did: transactions committed and rolled back (a claim that
lost a race shows up as a rollback; claims skip locked rows, so there should be none), and the CPU time of
the worker processes, the server process (``http``) and all PostgreSQL processes during W1, in cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "src"))

from common import fresh_database  # noqa: E402

import aiki  # noqa: E402

DATABASE = "aiki_scale"
WORKER_CONCURRENCY = 200
#: how long a process may take to start serving
STARTUP_S = 30.0
#: PostgreSQL publishes each backend's transaction counters within a second
STATS_DELAY_S = 1.5


@aiki.task(name="scale-t1")
async def t1(value: int) -> int:
    return value


@aiki.task(name="scale-t2")
async def t2(value: int) -> int:
    return value


@aiki.task(name="scale-t3")
async def t3(value: int) -> int:
    return value


@aiki.task(name="scale-clock")
async def wall_clock_ms(key: str) -> float:
    return time.time() * 1000


@aiki.workflow(name="scale-w1").v("1")
async def w1(run: Any, input: dict[str, int]) -> int:
    await t1.start(run, input["i"])
    await t2.start(run, input["i"])
    await t3.start(run, input["i"])
    return input["i"]


@aiki.workflow(name="scale-w4").v("1")
async def w4(run: Any, input: dict[str, Any]) -> list[float]:
    before = await wall_clock_ms.start(run, f"{input['key']}:before")
    await run.sleep("nap", {"milliseconds": input["sleep_ms"]})
    after = await wall_clock_ms.start(run, f"{input['key']}:after")
    return [before, after]


VERSIONS = [w1, w4]


# The worker processes


async def serve_worker(args: argparse.Namespace) -> None:
    """A worker process: embedded (its own server on the database) or an HTTP worker; runs until SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    srv = runtime = None
    if args.http:
        client = aiki.client(url=args.http)
    else:
        srv = aiki.server(db=aiki.database(args.db))
        runtime = await srv.runtime.start()
        client = aiki.client(server=srv)
    worker = await aiki.worker(
        workflows=VERSIONS, opts={"max_concurrent_workflow_runs": args.concurrency}
    ).start(client)
    print("ready", flush=True)
    await stop.wait()
    await worker.stop()
    if runtime is not None:
        await runtime.stop()
    if srv is not None:
        await srv.close()


# The driver


def postgres_cpu_s() -> float:
    """CPU seconds (user + system) used so far by the PostgreSQL processes alive now."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                parts = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/comm") as comm:
                name = comm.read().strip()
        except OSError:
            continue
        if name.startswith("postgres"):
            total += int(parts[11]) + int(parts[12])
    return total / os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` used so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            parts = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def database_counters(admin_url: str) -> tuple[int, int, int]:
    """(transactions committed, rolled back, deadlocks) of the benchmark database so far."""
    with psycopg.connect(admin_url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT xact_commit, xact_rollback, deadlocks FROM pg_stat_database WHERE datname = %s",
            (DATABASE,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log.open("wb"), cwd=REPOSITORY)


def wait_ready(process: subprocess.Popen[bytes], log: Path) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    if b"ready" not in line:
        raise RuntimeError(f"a worker process did not start:\n{log.read_text(errors='replace')[-3000:]}")


def wait_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"aiki server did not start:\n{log.read_text(errors='replace')[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@asynccontextmanager
async def cluster(mode: str, processes: int, db_url: str, logs: Path) -> Any:
    """The worker processes (and, for ``http``, the server they share); yields the driver's client and the
    process ids of the server (if any) and the workers."""
    started: list[subprocess.Popen[bytes]] = []
    srv = None
    try:
        http_url = None
        if mode == "http":
            port = free_port()
            http_url = f"http://127.0.0.1:{port}"
            log = logs / "server.log"
            command = [sys.executable, "-m", "aiki.cli.main", "server", "--db", db_url, "--port", str(port)]
            server_process = spawn(command, log)
            started.append(server_process)
            wait_serving(http_url, server_process, log)
        for index in range(processes):
            log = logs / f"worker-{index}.log"
            target = ["--http", http_url] if http_url else ["--db", db_url]
            command = [sys.executable, __file__, "--role", "worker", *target]
            started.append(spawn(command, log))
            wait_ready(started[-1], log)
        if http_url:
            client = aiki.client(url=http_url)
        else:
            srv = aiki.server(db=aiki.database(db_url))
            client = aiki.client(server=srv)
        pids = {
            "server": [started[0].pid] if http_url else [],
            "workers": [p.pid for p in started[1 if http_url else 0 :]],
        }
        yield client, pids
    finally:
        if srv is not None:
            await srv.close()
        for process in reversed(started):
            stop(process)


async def run_w1(client: Any, runs: int) -> dict[str, float]:
    started = time.perf_counter()
    handles = await asyncio.gather(*(w1.start(client, {"i": index}) for index in range(runs)))
    outcomes = await asyncio.gather(*(handle.wait_for_status("completed") for handle in handles))
    elapsed = time.perf_counter() - started
    if not all(outcome.success for outcome in outcomes):
        raise AssertionError("a W1 run did not complete")
    return {"runs_per_s": runs / elapsed}


async def run_w4(client: Any, runs: int, sleep_ms: int) -> dict[str, float]:
    handles = await asyncio.gather(
        *(w4.start(client, {"key": f"k{index}", "sleep_ms": sleep_ms}) for index in range(runs))
    )
    outcomes = await asyncio.gather(*(handle.wait_for_status("completed") for handle in handles))
    lateness = sorted(
        outcome.state.output[1] - outcome.state.output[0] - sleep_ms
        for outcome in outcomes
        if outcome.success
    )
    if len(lateness) != runs:
        raise AssertionError("a W4 run did not complete")
    return {
        "lateness_p50_ms": statistics.median(lateness),
        "lateness_p95_ms": lateness[int(0.95 * (len(lateness) - 1))],
    }


async def measure(args: argparse.Namespace, mode: str, processes: int, logs: Path) -> dict[str, Any]:
    db_url = fresh_database(args.postgres, DATABASE)
    # Create the schema before any process races to.
    migrating = aiki.server(db=aiki.database(db_url))
    await migrating.runtime.start()
    await migrating.close()
    cell_logs = logs / f"{mode}-{processes}"
    cell_logs.mkdir(parents=True, exist_ok=True)
    async with cluster(mode, processes, db_url, cell_logs) as (client, pids):
        await run_w1(client, 50)  # warm-up: connections, prepared statements
        # PostgreSQL publishes a backend's counters at most once a second: let them settle first.
        await asyncio.sleep(STATS_DELAY_S)
        commits0, rollbacks0, deadlocks0 = database_counters(args.postgres)

        def others() -> dict[str, float]:
            return {role: sum(process_cpu_s(pid) for pid in ids) for role, ids in pids.items()}

        cpu0, others0, wall0 = postgres_cpu_s(), others(), time.monotonic()
        w1_result = await run_w1(client, args.runs)
        cpu1, others1, wall1 = postgres_cpu_s(), others(), time.monotonic()
        await asyncio.sleep(STATS_DELAY_S)
        commits1, rollbacks1, deadlocks1 = database_counters(args.postgres)
        w4_result = await run_w4(client, args.w4_runs, args.w4_seconds * 1000)
    return {
        "mode": mode,
        "processes": processes,
        **w1_result,
        **w4_result,
        "commits_per_run": (commits1 - commits0) / args.runs,
        "rollbacks": rollbacks1 - rollbacks0,
        "deadlocks": deadlocks1 - deadlocks0,
        "pg_cores": (cpu1 - cpu0) / (wall1 - wall0),
        "server_cores": (others1["server"] - others0["server"]) / (wall1 - wall0),
        "worker_cores": (others1["workers"] - others0["workers"]) / (wall1 - wall0),
    }


def print_table(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nPostgreSQL scale-out, {os.cpu_count()} CPUs; W1 {args.runs} runs, W4 {args.w4_runs} runs sleeping "
        f"{args.w4_seconds} s; worker concurrency {WORKER_CONCURRENCY} per process\n"
    )
    print(
        "| mode | processes | W1 runs/s | W4 lateness p50 / p95 ms | commits/run | rollbacks | CPU in cores "
        "(workers / server / PostgreSQL) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for cell in results:
        print(
            f"| {cell['mode']} | {cell['processes']} | {cell['runs_per_s']:,.0f} | "
            f"{cell['lateness_p50_ms']:.0f} / {cell['lateness_p95_ms']:.0f} | {cell['commits_per_run']:.1f} | "
            f"{cell['rollbacks']} (deadlocks {cell['deadlocks']}) | {cell['worker_cores']:.2f} / "
            f"{cell['server_cores']:.2f} / {cell['pg_cores']:.2f} |"
        )


async def drive(args: argparse.Namespace) -> list[dict[str, Any]]:
    logs = Path(args.logs)
    results = []
    for mode in args.modes.split(","):
        for processes in [int(count) for count in args.processes.split(",")]:
            print(f"{mode}, {processes} process(es) ...", flush=True)
            results.append(await measure(args, mode, processes, logs))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--role", choices=["driver", "worker"], default="driver")
    parser.add_argument("--processes", default="1,2,4", help="worker process counts to measure")
    parser.add_argument("--modes", default="embedded,http", help="embedded, http or both")
    parser.add_argument("--runs", type=int, default=2000, help="W1 runs")
    parser.add_argument("--w4-runs", type=int, default=500, help="W4 runs")
    parser.add_argument("--w4-seconds", type=int, default=2, help="W4 sleep")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--logs", default="/tmp/aiki-scale", help="where the processes' logs go")
    parser.add_argument("--out", default=None, help="a JSON file for the results")
    # worker role
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--http", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=WORKER_CONCURRENCY, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "worker":
        asyncio.run(serve_worker(args))
    else:
        results = asyncio.run(drive(args))
        print_table(results, args)
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=2))
            print(f"\nresults: {args.out}")
        with psycopg.connect(args.postgres, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    main()
