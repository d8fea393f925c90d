"""The server's Prometheus metrics, in a registry of its own (several servers in one process never clash).

Counters and histograms are fed from what each committed transaction changed (``Changes``): runs created,
claimed and finished, task attempts, timers fired. Gauges (queued runs per workflow version, stalled runs)
are read from the store at each scrape.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
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


class ServerMetrics:
    """Every metric of one server, and ``render`` for ``GET /metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.runs_started = Counter(
            "aiki_runs_started", "Runs created (starts, children, schedules)", registry=registry
        )
        self.runs_finished = Counter(
            "aiki_runs_finished", "Runs that ended, by status", ["status"], registry=registry
        )
        self.claims = Counter("aiki_claims", "Runs handed to workers", registry=registry)
        self.task_attempts = Counter(
            "aiki_task_attempts", "Task attempts reported by workers", ["task", "outcome"], registry=registry
        )
        self.task_duration = Histogram(
            "aiki_task_duration_seconds",
            "How long task attempts ran (by the workers' clocks)",
            ["task"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
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
        if changes.started:
            self.runs_started.inc(changes.started)
        for run_id in changes.runs:
            run = changes.run_records[run_id]
            if run.status is RunStatus.RUNNING:
                # Only a claim moves a run to running.
                self.claims.inc()
            elif run.status in TERMINAL_STATUSES:
                self.runs_finished.labels(run.status.value).inc()
        for task, status, attempts in changes.tasks:
            for attempt in attempts:
                last = attempt is attempts[-1]
                outcome = "completed" if last and status == "completed" else "failed"
                self.task_attempts.labels(task, outcome).inc()
                self.task_duration.labels(task).observe((attempt.ended_at_ms - attempt.started_at_ms) / 1000)
        for lateness_ms in changes.lateness_ms:
            self.timer_lateness.observe(max(0, lateness_ms) / 1000)

    def render(self, counts: Sequence[tuple[str, str, str, int]]) -> bytes:
        """The Prometheus text of every metric, with the gauges as just read (``run_gauges``)."""
        self.gauges.counts = counts
        return generate_latest(self.registry)
