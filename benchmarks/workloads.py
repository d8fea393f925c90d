"""The four workloads W1-W4, written once against a small driver that each system implements.

A driver starts a run of one of four workflow kinds and waits for its output:

- ``w1``: input ``{"i": i}``; three tiny tasks ``t1``, ``t2``, ``t3``; returns ``i``.
- ``w2``: input ``{"count": n}``; ``n`` sequential tiny tasks; returns ``n``.
- ``w3``: input ``{"i": i}``; one tiny task; returns ``i``.
- ``w4``: input ``{"key": k, "seconds": s}``; task ``before-sleep``, then the body marks ``SLEEP_AT[k]``,
  durable sleep of ``s`` seconds, then task ``after-sleep`` (which marks ``WAKE_AT[k]`` as it starts);
  returns ``k``.

The marks are first-write-wins (``setdefault``) so that a replaying engine, which runs the body again after
the sleep, keeps the time the run first entered the sleep.

W5 (a queued backlog, aiki only) lives in ``aiki_workloads.py``; :func:`backlog_figures` turns its completion
times into figures.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from common import W1_TASKS_PER_RUN, percentile, sizes_for

SLEEP_AT: dict[str, float] = {}  # wall clock when the workflow body called sleep
BEFORE_AT: dict[str, float] = {}  # wall clock when the task before the sleep started
WAKE_AT: dict[str, float] = {}  # wall clock when the task after the sleep started


def mark(marks: dict[str, float], key: str) -> float:
    """Record now under ``key`` unless already recorded; return now."""
    now = time.time()
    marks.setdefault(key, now)
    return now


class Driver(ABC):
    """Starts runs of a workflow kind and waits for their outputs, for one system."""

    @abstractmethod
    async def start(self, kind: str, input: dict[str, Any]) -> Any:
        """Start one run; return a handle."""

    @abstractmethod
    async def result(self, handle: Any) -> Any:
        """Wait for the run to complete; return its output."""

    async def start_and_wait(self, kind: str, input: dict[str, Any]) -> Any:
        """Start one run and wait for its output."""
        return await self.result(await self.start(kind, input))

    async def start_many(self, kind: str, inputs: list[dict[str, Any]]) -> list[Any]:
        """Start all runs together (all-at-once ``asyncio.gather``)."""
        return list(await asyncio.gather(*(self.start(kind, input) for input in inputs)))

    async def results(self, handles: list[Any]) -> list[Any]:
        return list(await asyncio.gather(*(self.result(handle) for handle in handles)))


async def run_w1(driver: Driver, runs: int) -> dict[str, float]:
    started = time.perf_counter()
    handles = await driver.start_many("w1", [{"i": index} for index in range(runs)])
    started_all = time.perf_counter()
    outputs = await driver.results(handles)
    elapsed = time.perf_counter() - started
    if outputs != list(range(runs)):
        raise AssertionError(f"W1 runs returned wrong outputs, e.g. {outputs[:3]}")
    return {
        "runs_per_s": runs / elapsed,
        "tasks_per_s": runs * W1_TASKS_PER_RUN / elapsed,
        "start_span_s": started_all - started,
    }


async def run_w2(driver: Driver, tasks: int) -> dict[str, float]:
    started = time.perf_counter()
    handle = await driver.start("w2", {"count": tasks})
    output = await driver.result(handle)
    elapsed = time.perf_counter() - started
    if output != tasks:
        raise AssertionError(f"W2 run returned {output!r}, expected {tasks}")
    return {"us_per_task": elapsed / tasks * 1e6}


async def run_w3(driver: Driver, runs: int) -> dict[str, float]:
    latencies_ms = []
    for index in range(runs):
        started = time.perf_counter()
        output = await driver.start_and_wait("w3", {"i": index})
        latencies_ms.append((time.perf_counter() - started) * 1e3)
        if output != index:
            raise AssertionError(f"W3 run returned {output!r}, expected {index}")
    return {"p50_ms": percentile(latencies_ms, 0.5), "p95_ms": percentile(latencies_ms, 0.95)}


async def start_paced(driver: Driver, kind: str, inputs: list[dict[str, Any]], rate: float) -> list[Any]:
    """Start run ``i`` at ``i / rate`` seconds from now, without waiting for earlier starts."""
    loop = asyncio.get_running_loop()
    begin = loop.time()

    async def start_at(offset: float, input: dict[str, Any]) -> Any:
        await asyncio.sleep(max(0.0, begin + offset - loop.time()))
        return await driver.start(kind, input)

    return list(await asyncio.gather(*(start_at(i / rate, input) for i, input in enumerate(inputs))))


async def run_w4(
    driver: Driver, runs: int, seconds: float, tag: str, rate: float | None = None
) -> dict[str, float]:
    keys = [f"{tag}-{index}" for index in range(runs)]
    inputs = [{"key": key, "seconds": seconds} for key in keys]
    started = time.perf_counter()
    if rate:
        handles = await start_paced(driver, "w4", inputs, rate)
    else:
        handles = await driver.start_many("w4", inputs)
    start_span_s = time.perf_counter() - started
    outputs = await driver.results(handles)
    if outputs != keys:
        raise AssertionError(f"W4 runs returned wrong outputs, e.g. {outputs[:3]}")
    lateness_ms = [(WAKE_AT[key] - (SLEEP_AT[key] + seconds)) * 1e3 for key in keys]
    from_task_ms = [(WAKE_AT[key] - (BEFORE_AT[key] + seconds)) * 1e3 for key in keys]
    return {
        "lateness_p50_ms": percentile(lateness_ms, 0.5),
        "lateness_p95_ms": percentile(lateness_ms, 0.95),
        "lateness_max_ms": max(lateness_ms),
        "lateness_min_ms": min(lateness_ms),
        # Lateness measured from the start of the task before the sleep instead (adds its checkpoint).
        "from_task_p50_ms": percentile(from_task_ms, 0.5),
        "from_task_p95_ms": percentile(from_task_ms, 0.95),
        "start_span_s": start_span_s,
        # How spread out the timers were: the window in which the runs entered their sleep.
        "sleep_start_span_s": max(SLEEP_AT[key] for key in keys) - min(SLEEP_AT[key] for key in keys),
    }


def backlog_figures(started_ms: int, finished_ms: Sequence[int]) -> dict[str, Any]:
    """W5: drain rates from the completion times (ms) of a backlog's runs, the worker started at ``started_ms``.

    Overall: all runs over the time from the worker's start to the last completion. First and last tenth:
    a tenth of the runs over the time their completions span (from the completion before them), so that
    neither includes the worker's start-up; last / first below 1 means draining slowed down. ``tenths``: the
    rate of every tenth, in order, to tell a drain that slows as it goes from one that settles after a start.
    """
    ordered = sorted(finished_ms)
    count = len(ordered)
    tenth = max(1, count // 10)
    if count <= tenth:
        raise ValueError(f"W5 needs more than {tenth} completions, got {count}")
    first_ms = max(1, ordered[tenth] - ordered[0])
    last_ms = max(1, ordered[-1] - ordered[-1 - tenth])
    first, last = tenth / first_ms * 1e3, tenth / last_ms * 1e3
    return {
        "runs_per_s": count / max(1, ordered[-1] - started_ms) * 1e3,
        "first_tenth_runs_per_s": first,
        "last_tenth_runs_per_s": last,
        "last_over_first": last / first,
        "first_completion_ms": ordered[0] - started_ms,
        "drain_s": (ordered[-1] - started_ms) / 1e3,
        "runs": count,
        "tenths_runs_per_s": [
            round(
                tenth
                / max(1, ordered[min(count - 1, (n + 1) * tenth)] - ordered[max(0, n * tenth - 1)])
                * 1e3,
                1,
            )
            for n in range(10)
        ],
    }


W2_WARMUP_TASKS = 50
W4_WARMUP_SLEEP_S = 0.1


async def run_workload(
    workload: str, driver: Driver, reps: int, quick: bool, w4_rate: float | None = None
) -> list[dict[str, float]]:
    """Warm up, then time ``reps`` repetitions; one dict of figures per repetition.

    ``w4_rate`` paces the W4 starts (runs per second) instead of starting them all together, so that
    both systems arm their timers at the same density whatever their start throughput.
    """
    sizes = sizes_for(quick)
    if workload == "W1":
        await run_w1(driver, sizes.warmup_runs)
        return [await run_w1(driver, sizes.w1_runs) for _ in range(reps)]
    if workload == "W2":
        await run_w2(driver, W2_WARMUP_TASKS)
        return [await run_w2(driver, sizes.w2_tasks) for _ in range(reps)]
    if workload == "W3":
        await run_w3(driver, sizes.warmup_runs)
        return [await run_w3(driver, sizes.w3_runs) for _ in range(reps)]
    if workload == "W4":
        await run_w4(driver, sizes.warmup_runs, W4_WARMUP_SLEEP_S, "warmup")
        return [
            await run_w4(driver, sizes.w4_runs, sizes.w4_sleep_s, f"rep{rep}", w4_rate) for rep in range(reps)
        ]
    raise ValueError(f"unknown workload {workload}")
