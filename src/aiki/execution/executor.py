"""One execution of a claimed run: replay the handler, then report how it ended (DESIGN decision 6)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from typing import Any

from aiki.canonical_json import to_jsonable
from aiki.contract import RunOutcome
from aiki.definitions.retry import parse_retry
from aiki.errors import (
    AikiError,
    InvalidTransitionError,
    RevisionConflictError,
    SchemaValidationError,
    SerializationError,
    ServerBusyError,
)
from aiki.execution.context import WorkflowRunContext
from aiki.execution.errors_record import error_record
from aiki.execution.execution import Execution
from aiki.execution.signals import FailRun, StopExecution, Suspend
from aiki.execution.tracing import execution_span, note_outcome

logger = logging.getLogger("aiki.worker")


async def execute(execution: Execution) -> None:
    """Run the handler of ``execution`` once and record the outcome; never raises for run-level failures.

    With OpenTelemetry, the execution is an ``aiki.run`` span in the trace the run's start stored.
    """
    with execution_span(execution) as span:
        run = WorkflowRunContext(execution)
        try:
            outcome: dict[str, Any] | None = await _run_handler(execution, run)
        except StopExecution:
            outcome = None
        await execution.drain()
        note_outcome(span, outcome)
        if outcome is not None:
            await _report(execution, outcome)


async def _report(execution: Execution, outcome: dict[str, Any]) -> None:
    try:
        try:
            await _finish(execution, outcome)
        except (RevisionConflictError, InvalidTransitionError, ServerBusyError):
            raise
        except AikiError as refused:
            if outcome["kind"] == "fail":
                raise
            # The server refused this outcome itself (a value over a limit, a duration out of range): the run
            # cannot end this way, however often it is retried, so it fails with the refusal as its error.
            logger.warning(
                "run %s of %s: outcome refused: %s", execution.run.id, execution.version.label, refused
            )
            await _finish(execution, {"kind": "fail", "error": error_record(refused)})
    except (RevisionConflictError, InvalidTransitionError) as stale:
        # Someone else moved the run (recovery, pause, cancel, its deadline): this execution's word no
        # longer counts.
        logger.info(
            "run %s of %s: outcome not recorded: %s", execution.run.id, execution.version.label, stale
        )


async def context_for(execution: Execution) -> Any:
    """``run.context``: the worker's context, or, when that is callable, what it returns for this run
    (called with the ``WorkflowRun`` before each execution; an async factory is awaited)."""
    value = execution.context
    if not callable(value):
        return value
    made = value(execution.run)
    if inspect.isawaitable(made):
        made = await made
    return made


async def _finish(execution: Execution, outcome: dict[str, Any]) -> None:
    await execution.client.transport.finish(
        RunOutcome(
            run_id=execution.run.id,
            claim_token=execution.claim_token,
            expected_revision=execution.run.revision,
            **outcome,
        )
    )


async def _run_handler(execution: Execution, run: WorkflowRunContext) -> dict[str, Any]:
    try:
        return {"kind": "complete", "output": await invoke_handler(execution, run)}
    except Suspend as suspension:
        return suspension.outcome
    except FailRun as failure:
        return {"kind": "fail", "error": error_record(failure.error)}
    except asyncio.CancelledError:
        raise
    except Exception as error:
        return _after_error(execution, error)


async def invoke_handler(execution: Execution, run: WorkflowRunContext) -> Any:
    """Call the version's handler with the run's validated input; returns its output as JSON.

    Whatever ends the call early propagates: the handler's own exception, or a signal (``Suspend``,
    ``FailRun``, ``StopExecution``). The worker turns them into the run's outcome; a replay check into its
    verdict.
    """
    version = execution.version
    run.context = await context_for(execution)
    input = execution.run.input
    if version.schema.input is not None:
        try:
            input = version.schema.input(input)
        except SchemaValidationError as error:
            raise FailRun(error) from error
    arguments = (run, input)[: version.parameter_count]
    # The handler is async (or a plain wrapper of an async one): calling it gives a coroutine to await.
    result = version.handler(*arguments)
    if inspect.isawaitable(result):
        result = await result
    if inspect.isawaitable(result):
        raise FailRun(_returned_an_awaitable(result, version.label))
    if version.schema.output is not None:
        try:
            result = version.schema.output(result)
        except SchemaValidationError as error:
            raise FailRun(error) from error
    try:
        return to_jsonable(result, f"output of run {execution.run.id} ({version.label})")
    except SerializationError as error:
        raise FailRun(error) from error


def _returned_an_awaitable(result: Awaitable[Any], label: str) -> TypeError:
    """The error for a handler that returned something still to be awaited, e.g. ``return task.start(...)``."""
    if inspect.iscoroutine(result):
        # Never started, so never awaited: closing it spares a "never awaited" warning on top of this error.
        result.close()
    return TypeError(
        f"The handler of {label} returned an un-awaited {type(result).__name__} instead of its result. "
        f"`await` it: `return await charge.start(run, input)`, not `return charge.start(run, input)`."
    )


def _after_error(execution: Execution, error: Exception) -> dict[str, Any]:
    """The handler raised: retry the run if its policy allows, else fail it with the error recorded."""
    stored = execution.run.options.get("retry")
    policy = parse_retry(stored, "stored retry") if stored else execution.version.retry
    record = error_record(error)
    delay_ms = policy.next_delay_ms(execution.run.attempts)
    if delay_ms is None:
        return {"kind": "fail", "error": record}
    return {"kind": "retry", "retry_kind": "workflow", "duration_ms": max(1, delay_ms), "error": record}
