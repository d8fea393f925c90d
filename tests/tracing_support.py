"""An OpenTelemetry SDK tracer provider with an in-memory exporter, installed once per test process (the
global provider can be set only once); it keeps spans only while a test asks for them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class CollectingExporter(InMemorySpanExporter):
    """Keeps finished spans while ``collecting``; drops them otherwise (the tests that follow a tracing
    test still make spans, through the same global provider)."""

    collecting = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self.collecting:
            return SpanExportResult.SUCCESS
        return super().export(spans)


_EXPORTER = CollectingExporter()


@pytest.fixture
def span_exporter() -> Iterator[InMemorySpanExporter]:
    """The exporter every span finished during the test goes to (the SDK provider is global)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    _EXPORTER.collecting = True
    yield _EXPORTER
    _EXPORTER.collecting = False
    _EXPORTER.clear()
