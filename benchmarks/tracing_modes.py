"""How aiki's tracing is set up in a benchmark process (``run.py --tracing``, passed on as
``AIKI_BENCH_TRACING``), applied before aiki is imported:

* ``off``: OpenTelemetry cannot be imported, as on a machine without ``aiki[otel]``;
* ``noop``: OpenTelemetry is there with a no-op tracer provider (installed, nothing configured);
* ``sdk``: the OpenTelemetry SDK records every span and a batch processor exports them to nowhere.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from typing import Any

MODES = ("off", "noop", "sdk")
ENVIRONMENT_VARIABLE = "AIKI_BENCH_TRACING"


class _NoOpenTelemetry:
    """A finder that makes ``import opentelemetry`` fail."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: Any = None
    ) -> ModuleSpec | None:
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError("OpenTelemetry is switched off for this benchmark")
        return None


def apply_tracing_mode() -> str:
    """Set up tracing as ``AIKI_BENCH_TRACING`` says (default ``off``); returns the mode."""
    mode = os.environ.get(ENVIRONMENT_VARIABLE, "off")
    if mode not in MODES:
        raise SystemExit(f"{ENVIRONMENT_VARIABLE}={mode!r}: use one of {', '.join(MODES)}")
    if mode == "off":
        sys.meta_path.insert(0, _NoOpenTelemetry())
        return mode
    from opentelemetry import trace

    if mode == "noop":
        trace.set_tracer_provider(trace.NoOpTracerProvider())
        return mode
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Nowhere(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Nowhere()))
    trace.set_tracer_provider(provider)
    return mode
