"""Soak under faults: ``aiki server`` (API keys) and worker processes on a private PostgreSQL cluster run a
steady stream of workflow runs for minutes while a fault strikes every few seconds (a worker SIGKILLed or
SIGSTOPped past its claims, the server SIGKILLed, PostgreSQL stopped), then every run is checked.

    python benchmarks/soak.py                      # 10 minutes, 20 runs/s, a fault every 5 s
    python benchmarks/soak.py --minutes 1 --rate 10 --fault-every 4

Prints the figures: runs started and completed, lost runs, wrong outputs, tasks recorded twice, faults by
kind with the time until runs completed again after each, throughput and end-to-end latency. Exits 1 when a
run was lost or wrong or a task recorded twice. Run it from the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.fault_workflows import arithmetic_v1, expected_output
from tests.e2e.private_postgres import PrivateCluster, private_cluster
from tests.e2e.processes import AikiProcess, free_port, start_aiki, wait_until_serving

from aiki import Client, client

CLAIM_TIMEOUT_MS = 3_000
WORKERS = 3


@dataclass
class Soak:
    """The processes under test and what happened to them."""

    cluster: PrivateCluster
    db_url: str
    folder: Path
    port: int = field(default_factory=free_port)
    secret: str = ""
    server: AikiProcess | None = None
    workers: list[AikiProcess] = field(default_factory=list)
    recoveries: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    refused_starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def create_key(self) -> None:
        keys = start_aiki(
            ["keys", "create", "--db", self.db_url, "--namespace", "soak", "--name", "soak"],
            self.folder / "keys.log",
        )
        if keys.process.wait(timeout=60) != 0:
            raise SystemExit(keys.output())
        self.secret = keys.output().split()[-1]

    def start_server(self) -> None:
        arguments = ["server", "--db", self.db_url, "--port", str(self.port), "--auth", "keys"]
        arguments += ["--claim-timeout-ms", str(CLAIM_TIMEOUT_MS), "--max-connections", "10"]
        self.server = start_aiki(arguments, self.folder / "server.log")
        wait_until_serving(self.server, self.url)

    def start_worker(self, slot: int) -> None:
        arguments = ["worker", "tests.e2e.fault_workflows:arithmetic_v1", "--url", self.url]
        arguments += ["--api-key", self.secret, "--concurrency", "20", "--claim-refresh-interval-ms", "500"]
        process = start_aiki(arguments, self.folder / f"worker-{slot}.log")
        if slot < len(self.workers):
            self.workers[slot] = process
        else:
            self.workers.append(process)

    def stop(self) -> None:
        for process in [*self.workers, *([self.server] if self.server else [])]:
            process.stop()


async def completed(c: Client) -> int:
    try:
        return await c.count_runs(status="completed")
    except Exception:
        return -1  # the server or its database is down: the fault under way


async def starter(soak: Soak, c: Client, rate: float, until: float, started: list[int]) -> None:
    """Start ``rate`` runs a second until ``until``; a start refused by an outage is sent again under its
    reference id (a start sent twice returns the run the first one made)."""
    number = 0
    next_at = time.monotonic()
    while time.monotonic() < until:
        starter_of = arithmetic_v1.with_().opt("reference.id", f"soak-{number}")
        while True:
            try:
                await starter_of.start(c, number)
                break
            except Exception:
                soak.refused_starts += 1
                await asyncio.sleep(0.2)
        started.append(number)
        number += 1
        next_at += 1 / rate
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def inject(soak: Soak, kind: str) -> None:
    """One fault, over when the system is whole again (the process restarted, the freeze ended)."""
    if kind == "worker SIGKILL":
        slot = random.randrange(len(soak.workers))
        os.kill(soak.workers[slot].pid, signal.SIGKILL)
        soak.workers[slot].process.wait(timeout=10)
        await asyncio.to_thread(soak.start_worker, slot)
    elif kind == "worker SIGSTOP":
        frozen = random.choice(soak.workers)
        os.kill(frozen.pid, signal.SIGSTOP)
        await asyncio.sleep(CLAIM_TIMEOUT_MS / 1000 + 1)
        os.kill(frozen.pid, signal.SIGCONT)
    elif kind == "server SIGKILL":
        assert soak.server is not None
        os.kill(soak.server.pid, signal.SIGKILL)
        soak.server.process.wait(timeout=10)
        await asyncio.to_thread(soak.start_server)
    else:
        await asyncio.to_thread(soak.cluster.stop, "fast")
        await asyncio.sleep(2)
        await asyncio.to_thread(soak.cluster.start)


async def chaos(soak: Soak, c: Client, every_s: float, until: float) -> None:
    """A fault every ``every_s`` seconds; after each, how long until a run completes again."""
    kinds = ["worker SIGKILL", "worker SIGSTOP", "server SIGKILL", "PostgreSQL restart"]
    while time.monotonic() + every_s < until:
        await asyncio.sleep(every_s)
        kind = random.choice(kinds)
        before = await completed(c)
        await inject(soak, kind)
        over = time.monotonic()
        while (now := await completed(c)) <= before or now < 0:
            # Progress is a count in another process's database: look again shortly.
            await asyncio.sleep(0.1)
            if time.monotonic() - over > 120:
                raise SystemExit(f"no run completed within 120 s after {kind}")
        soak.recoveries[kind].append(time.monotonic() - over)


def check(db_url: str, started: int) -> dict[str, Any]:
    """Every run's status and output, and how often each task was recorded, straight from the database."""
    with psycopg.connect(db_url) as connection:
        runs = connection.execute(
            "SELECT input, status, state, created_at_ms, updated_at_ms FROM runs"
        ).fetchall()
        twice = connection.execute(
            "SELECT count(*) FROM (SELECT run_id, name FROM tasks WHERE status <> 'discarded' "
            "GROUP BY run_id, name HAVING count(*) > 1) AS repeated"
        ).fetchone()
    wrong = 0
    latencies = []
    for input_text, status, state_text, created_at_ms, updated_at_ms in runs:
        state = json.loads(state_text)
        if status != "completed" or state.get("output") != expected_output(json.loads(input_text)):
            wrong += 1
        else:
            latencies.append((updated_at_ms - created_at_ms) / 1000)
    return {
        "started": started,
        "stored": len(runs),
        "lost": started - len(runs) + sum(1 for run in runs if run[1] != "completed"),
        "wrong": wrong,
        "tasks recorded twice": int(twice[0]) if twice else 0,
        "latencies": sorted(latencies),
    }


async def soak(minutes: float, rate: float, fault_every_s: float) -> int:
    cluster = private_cluster()
    folder = cluster.folder / "processes"
    folder.mkdir()
    run = Soak(cluster, cluster.create_database("soak"), folder)
    try:
        run.create_key()
        run.start_server()
        for slot in range(WORKERS):
            run.start_worker(slot)
        c = client(url=run.url, api_key=run.secret)
        began = time.monotonic()
        until = began + minutes * 60
        started: list[int] = []
        await asyncio.gather(starter(run, c, rate, until, started), chaos(run, c, fault_every_s, until))
        print(f"load over after {time.monotonic() - began:.0f} s; waiting for the last runs", flush=True)
        while await completed(c) < len(started):
            await asyncio.sleep(0.5)
            if time.monotonic() - until > 180:
                break
        drained_s = time.monotonic() - until
        await c.close()
        figures = check(run.db_url, len(started))
    finally:
        run.stop()
        cluster.destroy()
    latencies = figures.pop("latencies")
    elapsed_min = minutes + drained_s / 60
    print(f"\nsoak: {minutes:g} min, {rate:g} runs/s started, a fault every {fault_every_s:g} s")
    for name, value in figures.items():
        print(f"  {name:22} {value}")
    print(f"  {'starts refused (sent again)':22} {run.refused_starts}")
    print(f"  {'throughput':22} {figures['stored'] / (elapsed_min * 60):.1f} runs/s completed")
    if latencies:
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"  {'latency':22} p50 {p50:.2f} s, p99 {p99:.2f} s, max {latencies[-1]:.2f} s (start to completion)"
        )
    print(f"  {'drained after load':22} {drained_s:.1f} s")
    for kind, times in sorted(run.recoveries.items()):
        print(
            f"  {kind:22} x{len(times):<3} runs completing again after: median {statistics.median(times):.1f} s, "
            f"max {max(times):.1f} s"
        )
    failed = figures["lost"] or figures["wrong"] or figures["tasks recorded twice"]
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="runs started per second")
    parser.add_argument("--fault-every", type=float, default=5.0, help="seconds between faults")
    parser.add_argument("--seed", type=int, default=14)
    arguments = parser.parse_args()
    random.seed(arguments.seed)
    raise SystemExit(asyncio.run(soak(arguments.minutes, arguments.rate, arguments.fault_every)))


if __name__ == "__main__":
    main()
