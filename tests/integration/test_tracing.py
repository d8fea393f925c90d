"""Traces: one trace from the caller's span through ``aiki.start``, every ``aiki.run`` execution of the run
(before and after it waits, on two workers) and its child's, with one ``aiki.task`` span per attempt and
none for replayed results; over the embedded and the HTTP transport. Without OpenTelemetry nothing is
imported and runs work as before."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from aiki import RunStatus, event, task, workflow
from tests.integration.run_watch import until
from tests.tracing_support import span_exporter
from tests.transport_support import TransportEnv

__all__ = ["span_exporter"]


def _named(spans: Sequence[ReadableSpan], name: str, **attributes: Any) -> list[ReadableSpan]:
    return [
        span
        for span in spans
        if span.name == name and all(span.attributes.get(key) == value for key, value in attributes.items())  # type: ignore[union-attr]
    ]


def _parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


async def test_a_run_its_executions_tasks_and_child_form_one_trace(
    transport_env: TransportEnv, span_exporter: InMemorySpanExporter
) -> None:
    exporter = span_exporter
    calls: list[str] = []

    @task(name="prepare")
    async def prepare(value: int) -> int:
        return value + 1

    @task(name="shaky", retry={"type": "fixed", "max_attempts": 2, "delay_ms": 0})
    async def shaky() -> str:
        calls.append("shaky")
        if len(calls) == 1:
            raise RuntimeError("first attempt fails")
        return "steady"

    @workflow(name="traced-child").v("1")
    async def child_v1(run: Any) -> str:
        return await shaky.start(run)

    @workflow(name="traced-parent").v("1", events={"go": event()})
    async def parent_v1(run: Any, value: int) -> Any:
        prepared = await prepare.start(run, value)
        await run.events.go.wait()
        child = await child_v1.start_as_child(run)
        return [prepared, (await child.wait_for_status("completed")).output]

    first = await transport_env.start_worker(parent_v1, child_v1)
    with trace.get_tracer("test").start_as_current_span("caller") as caller:
        handle = await parent_v1.start(transport_env.client, 1)
    await until(handle, RunStatus.AWAITING_EVENT)
    # The run resumes on another worker.
    await first.stop()
    await transport_env.start_worker(parent_v1, child_v1)
    await handle.events.go.send()
    assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).output == [2, "steady"]

    spans = exporter.get_finished_spans()
    aiki_spans = [span for span in spans if span.name.startswith("aiki.")]
    assert {span.context.trace_id for span in aiki_spans} == {caller.get_span_context().trace_id}

    (start,) = _named(spans, "aiki.start")
    assert _parent_id(start) == caller.get_span_context().span_id
    assert start.attributes == {
        "aiki.workflow": "traced-parent",
        "aiki.version": "1",
        "aiki.run_id": handle.id,
    }

    parent_runs = _named(spans, "aiki.run", **{"aiki.run_id": handle.id})
    assert [span.attributes["aiki.outcome"] for span in parent_runs] == [
        "event_wait",
        "child_wait",
        "complete",
    ]  # type: ignore[index]
    assert {_parent_id(span) for span in parent_runs} == {start.context.span_id}
    assert all(
        (span.attributes["aiki.workflow"], span.attributes["aiki.version"], span.attributes["aiki.attempt"])  # type: ignore[index]
        == ("traced-parent", "1", 1)
        for span in parent_runs
    )

    # The task ran once; the two executions that replayed it made no span.
    (prepare_span,) = _named(spans, "aiki.task", **{"aiki.task": "prepare"})
    assert _parent_id(prepare_span) == parent_runs[0].context.span_id
    (entry,) = (await transport_env.client.get_history(handle.id)).tasks
    (attempt,) = entry.attempt_times
    assert (prepare_span.start_time, prepare_span.end_time) == (
        attempt.started_at_ms * 1_000_000,
        attempt.ended_at_ms * 1_000_000,
    )

    child_runs = [span for span in _named(spans, "aiki.run", **{"aiki.workflow": "traced-child"})]
    assert [span.attributes["aiki.outcome"] for span in child_runs] == ["complete"]  # type: ignore[index]
    assert _parent_id(child_runs[0]) == parent_runs[1].context.span_id
    failed, succeeded = _named(spans, "aiki.task", **{"aiki.task": "shaky"})
    assert [failed.attributes["aiki.task.attempt"], succeeded.attributes["aiki.task.attempt"]] == [1, 2]  # type: ignore[index]
    assert (failed.status.status_code, succeeded.status.status_code) == (StatusCode.ERROR, StatusCode.UNSET)
    assert {_parent_id(failed), _parent_id(succeeded)} == {child_runs[0].context.span_id}


async def test_a_run_started_outside_any_trace_gets_a_trace_of_its_own(
    transport_env: TransportEnv, span_exporter: InMemorySpanExporter
) -> None:
    exporter = span_exporter

    @workflow(name="untraced").v("1")
    async def untraced_v1(run: Any) -> str:
        return "ok"

    await transport_env.start_worker(untraced_v1)
    handle = await untraced_v1.start(transport_env.client)
    assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).success

    (start,) = _named(exporter.get_finished_spans(), "aiki.start")
    (run,) = _named(exporter.get_finished_spans(), "aiki.run")
    assert start.parent is None
    assert _parent_id(run) == start.context.span_id
    assert handle.run.trace_context is not None
    assert handle.run.trace_context["traceparent"].split("-")[1] == f"{start.context.trace_id:032x}"


@pytest.mark.timeout(120)
def test_without_opentelemetry_nothing_is_imported_and_runs_work(tmp_path: Any) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys

        class NoOpenTelemetry:
            def find_spec(self, name, path=None, target=None):
                if name == "opentelemetry" or name.startswith("opentelemetry."):
                    raise ImportError("opentelemetry is not installed here")
                return None

        sys.meta_path.insert(0, NoOpenTelemetry())

        import aiki
        from aiki.client.tracing import TRACING

        @aiki.task(name="step")
        async def step(value):
            return value * 2

        @aiki.workflow(name="plain").v("1")
        async def plain_v1(run, value):
            return await step.start(run, value)

        async def main():
            srv = aiki.server(db=aiki.database("sqlite:///{tmp_path}/plain.db"))
            c = aiki.client(server=srv)
            running = await aiki.worker(workflows=[plain_v1]).start(c)
            handle = await plain_v1.start(c, 21)
            result = await handle.wait_for_status("completed", timeout={{"seconds": 30}})
            await running.stop()
            await srv.close()
            return result.output

        output = asyncio.run(main())
        loaded = sorted(name for name in sys.modules if name.startswith("opentelemetry"))
        print(TRACING, output, loaded)
        """
    )
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=100)

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "False 42 []"
