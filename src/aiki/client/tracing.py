"""OpenTelemetry glue shared by the client and the workers: optional, and free when it is not installed.

With ``opentelemetry-api`` installed (``pip install aiki[otel]``), spans go through the global tracer
provider; without it, nothing here imports it and every helper does nothing. The trace context a run carries
is W3C's (``traceparent``, ``tracestate``), whatever propagators the application configured, because it is
stored with the run and read back by workers in other processes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aiki.contract import StartRequest
from aiki.types import WorkflowRun

try:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    TRACING = True
except ImportError:  # tracing is optional
    TRACING = False

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span

#: the instrumentation scope of every aiki span
TRACER_NAME = "aiki"
#: one propagator: stateless, and W3C whatever the application's global propagator is
_PROPAGATOR = TraceContextTextMapPropagator() if TRACING else None


def tracer() -> trace.Tracer | None:
    """aiki's tracer from the global provider, or ``None`` when spans would go nowhere (no OpenTelemetry,
    no provider set yet, or the no-op one): then aiki does no tracing work at all. Looked up at each span,
    as an application may set its provider after importing aiki."""
    if not TRACING:
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return _tracer_of(provider)


@lru_cache(maxsize=4)
def _tracer_of(provider: trace.TracerProvider) -> trace.Tracer:
    return provider.get_tracer(TRACER_NAME)


def current_trace_context(context: Context | None = None) -> dict[str, str] | None:
    """The W3C trace context of ``context`` (default: the current one), or ``None`` outside any trace."""
    if _PROPAGATOR is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context)
    return carrier or None


def stored_context(carrier: Mapping[str, str] | None) -> Context | None:
    """The context a stored W3C trace context describes (``None`` when there is none)."""
    if _PROPAGATOR is None or not carrier:
        return None
    return _PROPAGATOR.extract(dict(carrier))


def run_attributes(run: WorkflowRun) -> dict[str, Any]:
    """The attributes that name a run on every aiki span."""
    return {
        "aiki.run_id": run.id,
        "aiki.workflow": run.name,
        "aiki.version": run.version_id,
        "aiki.attempt": run.attempts,
    }


def record_error(span: Span, error: BaseException) -> None:
    """Mark ``span`` failed by ``error``."""
    span.record_exception(error)
    span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    span.set_attribute("aiki.error", type(error).__name__)


@contextmanager
def start_span(request: StartRequest) -> Iterator[tuple[StartRequest, Span | None]]:
    """The ``aiki.start`` span of a client's start (a child of the caller's current span), and ``request``
    carrying its trace context; ``(request, None)`` without OpenTelemetry."""
    spans = tracer()
    if spans is None:
        yield request, None
        return
    attributes = {"aiki.workflow": request.name, "aiki.version": request.version_id}
    with spans.start_as_current_span(
        "aiki.start", kind=trace.SpanKind.PRODUCER, attributes=attributes
    ) as span:
        carried = current_trace_context()
        yield (request if carried is None else replace(request, trace_context=carried)), span


def note_started(span: Span | None, run: WorkflowRun) -> None:
    """Name the run a start created (or found) on its ``aiki.start`` span."""
    if span is not None and span.is_recording():
        span.set_attribute("aiki.run_id", run.id)
