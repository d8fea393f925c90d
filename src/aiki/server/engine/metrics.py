"""The server's Prometheus metrics, in a registry of its own (several servers in one process never clash).

Counters and histograms are fed from what each committed transaction changed (``Changes``): runs created,
claimed and finished, task attempts, timers fired. Gauges (queued runs per workflow version, stalled runs)
are read from the store at each scrape.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from aiki.server.engine.changes import Changes
from aiki.types import TERMINAL_STATUSES, RunStatus

#: seconds: from a millisecond to a few minutes
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class RunGauges(Collector):
    """Queued runs per workflow version and stalled runs, as last read from the store."""

    def __init__(self) -> None:
        self.counts: Sequence[tuple[str, str, str, int]] = ()

    def collect(self) -> Iterator[Metric]:
        queued = GaugeMetricFamily(
            "aiki_queue_depth",
            "Runs waiting for a worker, per workflow version",
            labels=["workflow", "version"],
        )
        stalled = 0
        for status, workflow, version, runs in self.counts:
            if status == "queued":
                queued.add_metric([workflow, version], runs)
            else:
                stalled += runs
        yield queued
        yield GaugeMetricFamily(
            "aiki_stalled_runs", "Runs no worker claimed in time (status stalled)", stalled
        )


class EngineCounts(Collector):
    """What the engine counts on its hot path (runs started, claimed and finished; task attempts and their
    durations), kept in plain integers and dicts: counting one task attempt is a few dict operations, not a
    labelled child lookup and a lock. Turned into Prometheus families at each scrape."""

    def __init__(self) -> None:
        self.runs_started = 0
        self.claims = 0
        self.runs_finished: dict[str, int] = {}
        self.task_attempts: dict[tuple[str, str], int] = {}
        #: per task: the count of attempts in each duration bucket (the last one is +Inf), and their sum
        self.task_durations: dict[str, tuple[list[int], list[float]]] = {}

    def attempt(self, task: str, outcome: str, seconds: float) -> None:
        key = (task, outcome)
        self.task_attempts[key] = self.task_attempts.get(key, 0) + 1
        durations = self.task_durations.get(task)
        if durations is None:
            durations = self.task_durations[task] = ([0] * (len(DURATION_BUCKETS) + 1), [0.0])
        durations[0][bisect_left(DURATION_BUCKETS, seconds)] += 1
        durations[1][0] += seconds

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "aiki_runs_started", "Runs created (starts, children, schedules)", self.runs_started
        )
        finished = CounterMetricFamily("aiki_runs_finished", "Runs that ended, by status", labels=["status"])
        for status, count in sorted(self.runs_finished.items()):
            finished.add_metric([status], count)
        yield finished
        yield CounterMetricFamily("aiki_claims", "Runs handed to workers", self.claims)
        attempts = CounterMetricFamily(
            "aiki_task_attempts", "Task attempts reported by workers", labels=["task", "outcome"]
        )
        for (task, outcome), count in sorted(self.task_attempts.items()):
            attempts.add_metric([task, outcome], count)
        yield attempts
        durations = HistogramMetricFamily(
            "aiki_task_duration_seconds",
            "How long task attempts ran (by the workers' clocks)",
            labels=["task"],
        )
        for task, (counts, total) in sorted(self.task_durations.items()):
            buckets, cumulative = [], 0
            for bound, count in zip((*DURATION_BUCKETS, None), counts, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound is None else repr(float(bound)), cumulative))
            durations.add_metric([task], buckets, total[0])
        yield durations


class ServerMetrics:
    """Every metric of one server, and ``render`` for ``GET /metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.counts = EngineCounts()
        registry.register(self.counts)
        self.timer_lateness = Histogram(
            "aiki_timer_lateness_seconds",
            "How long after its due time the deadline loop fired a timer",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self.http_requests = Counter(
            "aiki_http_requests",
            "HTTP requests, by route and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "aiki_http_request_duration_seconds",
            "How long HTTP requests took, by route",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.gauges = RunGauges()
        registry.register(self.gauges)

    def observe(self, changes: Changes) -> None:
        """Count what a committed transaction changed."""
        counts = self.counts
        counts.runs_started += changes.started
        for run_id in changes.runs:
            run = changes.run_records[run_id]
            if run.status is RunStatus.RUNNING:
                # Only a claim moves a run to running.
                counts.claims += 1
            elif run.status in TERMINAL_STATUSES:
                status = run.status.value
                counts.runs_finished[status] = counts.runs_finished.get(status, 0) + 1
        for task, status, attempts in changes.tasks:
            last = len(attempts) - 1
            for index, attempt in enumerate(attempts):
                outcome = "completed" if index == last and status == "completed" else "failed"
                counts.attempt(task, outcome, (attempt.ended_at_ms - attempt.started_at_ms) / 1000)
        for lateness_ms in changes.lateness_ms:
            self.timer_lateness.observe(max(0, lateness_ms) / 1000)

    def render(self, counts: Sequence[tuple[str, str, str, int]]) -> bytes:
        """The Prometheus text of every metric, with the gauges as just read (``run_gauges``)."""
        self.gauges.counts = counts
        return generate_latest(self.registry)
