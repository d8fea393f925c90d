"""Shared pieces of the benchmark: workload sizes, statistics and the result record.

Every workload process (``floor.py``, ``dbos_workloads.py``, ``aiki_workloads.py``) takes the same command
line (see :func:`parse_workload_args`) and writes one JSON record (see :func:`new_result`) to ``--out``.
``run.py`` spawns them and ``report.py`` prints what they wrote.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

WORKLOADS = ("W1", "W2", "W3", "W4", "W5")
BACKENDS = ("sqlite", "postgres")
#: the workloads ``--prefill-mode grown`` measures, before and after the database grows
GROWN_WORKLOADS = ("W1", "W2", "W3")
#: workloads only aiki runs: W5 queues its backlog with aiki's own schema
AIKI_ONLY_WORKLOADS = ("W5",)
PREFILL_MODES = ("fresh", "grown")


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much work one repetition of each workload does."""

    w1_runs: int  # W1: runs started together, each of W1_TASKS_PER_RUN tasks
    w2_tasks: int  # W2: sequential tasks in one run
    w3_runs: int  # W3: start-and-wait round trips, one after another
    w4_runs: int  # W4: runs that each sleep w4_sleep_s, then run one task
    w4_sleep_s: float
    floor_commits: int  # floor: single-row INSERT + COMMIT transactions
    warmup_runs: int  # runs (or tasks, for W2) done before timing, not measured
    w5_runs: int  # W5: runs queued before the worker starts, then drained


FULL = Sizes(
    w1_runs=1000,
    w2_tasks=1000,
    w3_runs=200,
    w4_runs=500,
    w4_sleep_s=1.0,
    floor_commits=1000,
    warmup_runs=20,
    w5_runs=100_000,
)
QUICK = Sizes(
    w1_runs=100,
    w2_tasks=100,
    w3_runs=30,
    w4_runs=50,
    w4_sleep_s=1.0,
    floor_commits=200,
    warmup_runs=5,
    w5_runs=2_000,
)
W1_TASKS_PER_RUN = 3


def sizes_for(quick: bool, w5_runs: int | None = None) -> Sizes:
    sizes = QUICK if quick else FULL
    return replace(sizes, w5_runs=w5_runs) if w5_runs else sizes


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile (``fraction`` in 0..1) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(reps: Sequence[float]) -> dict[str, Any]:
    """Median, min and max over the repetitions of one figure."""
    return {
        "reps": [round(value, 4) for value in reps],
        "median": statistics.median(reps),
        "min": min(reps),
        "max": max(reps),
    }


# The figures each workload reports: key -> (label, unit, which direction is better).
METRICS: dict[str, list[tuple[str, str, str, str]]] = {
    "W1": [
        ("runs_per_s", "W1 throughput", "runs/s", "higher"),
        ("tasks_per_s", "W1 throughput", "tasks/s", "higher"),
    ],
    "W2": [("us_per_task", "W2 checkpoint cost", "us/task", "lower")],
    "W3": [
        ("p50_ms", "W3 start+wait latency p50", "ms", "lower"),
        ("p95_ms", "W3 start+wait latency p95", "ms", "lower"),
    ],
    "W4": [
        ("lateness_p50_ms", "W4 timer lateness p50", "ms", "lower"),
        ("lateness_p95_ms", "W4 timer lateness p95", "ms", "lower"),
    ],
    "W5": [
        ("runs_per_s", "W5 backlog drain, overall", "runs/s", "higher"),
        ("first_tenth_runs_per_s", "W5 backlog drain, first tenth", "runs/s", "higher"),
        ("last_tenth_runs_per_s", "W5 backlog drain, last tenth", "runs/s", "higher"),
        ("last_over_first", "W5 last tenth / first tenth", "x", "higher"),
    ],
    "floor": [("us_per_commit", "floor INSERT+COMMIT", "us/commit", "lower")],
}


def parse_workload_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--workload",
        required=True,
        help=f"one of {[*WORKLOADS, 'floor']}; with --prefill-mode grown, W1,W2,W3",
    )
    parser.add_argument("--backend", required=True, choices=BACKENDS)
    parser.add_argument("--url", required=True, help="sqlite:////abs/path.db or postgresql://...")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    parser.add_argument("--mode", default=None, help="system-specific variant (DBOS: async or sync)")
    parser.add_argument("--w4-rate", type=float, default=None, help="W4: start runs at this rate (runs/s)")
    parser.add_argument("--w5-runs", type=int, default=None, help="W5: runs in the backlog")
    parser.add_argument(
        "--prefill", type=int, default=0, help="finished runs written before measuring (aiki)"
    )
    parser.add_argument("--prefill-mode", default="fresh", choices=PREFILL_MODES)
    args = parser.parse_args()
    args.workloads = [name.strip() for name in args.workload.split(",") if name.strip()]
    allowed = GROWN_WORKLOADS if args.prefill_mode == "grown" else (*WORKLOADS, "floor")
    if not args.workloads or set(args.workloads) - set(allowed):
        parser.error(f"--workload {args.workload!r}: choose from {list(allowed)}")
    if len(args.workloads) > 1 and args.prefill_mode != "grown":
        parser.error("several workloads in one process only with --prefill-mode grown")
    if args.prefill_mode == "grown" and args.prefill <= 0:
        parser.error("--prefill-mode grown needs --prefill N")
    args.workload = args.workloads[0]
    return args


def new_result(system: str, args: argparse.Namespace, workload: str | None = None) -> dict[str, Any]:
    sizes = sizes_for(args.quick, args.w5_runs)
    return {
        "system": system,
        "backend": args.backend,
        "workload": workload or args.workload,
        "available": True,
        "error": None,
        "quick": args.quick,
        "reps": args.reps,
        "w4_rate": args.w4_rate,
        "prefill": args.prefill,
        "prefill_mode": args.prefill_mode,
        "sizes": {name: getattr(sizes, name) for name in Sizes.__dataclass_fields__},
        "config": [],
        "metrics": {},
        "extra": {},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def metric_summaries(workload: str, per_rep: Sequence[dict[str, float]]) -> dict[str, Any]:
    """The workload's figures (``METRICS``), each summarized over the repetitions."""
    return {
        key: summarize([rep[key] for rep in per_rep]) for key, _label, _unit, _better in METRICS[workload]
    }


def add_metrics(result: dict[str, Any], per_rep: Sequence[dict[str, float]]) -> None:
    """Fold a list of per-repetition figure dicts into ``result["metrics"]``."""
    result["metrics"].update(metric_summaries(result["workload"], per_rep))


def write_result(path: str, result: dict[str, Any] | list[dict[str, Any]]) -> None:
    """One result record, or a list of them (a process that measured several workloads)."""
    Path(path).write_text(json.dumps(result, indent=2, sort_keys=True))


def fresh_database(admin_url: str, name: str) -> str:
    """Drop and create the PostgreSQL database ``name`` on the server of ``admin_url``; returns its URL."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + "/" + name


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///`` URL (``sqlite:////abs`` gives ``/abs``)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ValueError(f"not a sqlite URL: {url}")
    return url[len(prefix) :]


def machine_info() -> dict[str, Any]:
    import platform

    memory_gib = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
