"""The spans of executions and task attempts: ``aiki.run`` (one per execution of a run, in the trace its
start stored) and ``aiki.task`` (one per task attempt; a replayed result makes none).

Task spans carry the attempt's own start and end times, the ones recorded with the task, so a trace and
the run's history agree. Without OpenTelemetry every helper here does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from aiki.client.tracing import TRACING, record_error, run_attributes, stored_context, tracer
from aiki.execution.signals import FailRun, HandlerSignal

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from aiki.execution.execution import Execution

if TRACING:
    from opentelemetry import trace

NANOSECONDS_PER_MS = 1_000_000


@contextmanager
def execution_span(execution: Execution) -> Iterator[Span | None]:
    """The ``aiki.run`` span of one execution, current while the handler runs (``None`` without
    OpenTelemetry). Its parent is the trace context stored with the run: the start call's. Its times are
    read from the execution's clock, like its task spans' times."""
    spans = execution.tracer = tracer()
    if spans is None:
        yield None
        return
    run = execution.run
    clock = execution.clock
    span = spans.start_span(
        "aiki.run",
        context=stored_context(run.trace_context),
        kind=trace.SpanKind.CONSUMER,
        attributes=run_attributes(run),
        start_time=clock.now_ms() * NANOSECONDS_PER_MS,
    )
    try:
        with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
            yield span
    finally:
        span.end(end_time=clock.now_ms() * NANOSECONDS_PER_MS)


def note_outcome(span: Span | None, outcome: dict[str, Any] | None) -> None:
    """Record how the execution ended: ``aiki.outcome`` (``complete``, ``fail``, ``sleep``, ...,
    ``stopped`` when the execution lost its claim or the run was paused or cancelled) and the error."""
    if span is None or not span.is_recording():
        return
    kind = "stopped" if outcome is None else str(outcome["kind"])
    span.set_attribute("aiki.outcome", kind)
    error = None if outcome is None else outcome.get("error")
    if error:
        span.set_attribute("aiki.error", str(error.get("type")))
        if kind == "fail":
            span.set_status(
                trace.Status(trace.StatusCode.ERROR, f"{error.get('type')}: {error.get('message')}")
            )


def start_task_span(execution: Execution, task_name: str, attempt: int, started_at_ms: int) -> Span | None:
    """The ``aiki.task`` span of one attempt (a child of the execution's span), or ``None``."""
    spans = execution.tracer
    if spans is None:
        return None
    attributes = run_attributes(execution.run)
    attributes["aiki.task"] = task_name
    attributes["aiki.task.attempt"] = attempt
    return spans.start_span("aiki.task", attributes=attributes, start_time=started_at_ms * NANOSECONDS_PER_MS)


def task_span_current(span: Span | None) -> Any:
    """A context manager that makes the attempt's span current while its handler runs (so the task's own
    spans are its children)."""
    return nullcontext() if span is None else trace.use_span(span, end_on_exit=False)


def end_task_span(span: Span | None, ended_at_ms: int, error: BaseException | None) -> None:
    """End the attempt's span at ``ended_at_ms``, failed by ``error`` if given."""
    if span is None:
        return
    if isinstance(error, FailRun):
        error = error.error
    if error is not None and not isinstance(error, HandlerSignal):
        record_error(span, error)
    span.end(end_time=ended_at_ms * NANOSECONDS_PER_MS)
