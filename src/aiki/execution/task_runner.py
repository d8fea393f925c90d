"""``task.start(run, input)``: replay the recorded result, or run the task, retry it, and record it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiki.canonical_json import hash_input, to_jsonable
from aiki.contract import TaskWrite
from aiki.errors import (
    NonDeterminismError,
    RevisionConflictError,
    SchemaValidationError,
    SerializationError,
    TaskFailedError,
)
from aiki.execution.attempt import Attempt
from aiki.execution.errors_record import error_record
from aiki.execution.signals import FailRun, HandlerSignal, StopExecution, Suspend
from aiki.types import TaskAttempt, TaskEntry

if TYPE_CHECKING:
    from aiki.definitions.task import Task
    from aiki.execution.execution import Execution


def task_address(name: str, input: Any) -> str:
    """A task's content address: its name and the hash of its canonical input."""
    return f"{name}:{hash_input(input)}"


async def run_task(execution: Execution, task: Task[Any, Any], raw_input: Any) -> Any:
    """What ``task.start`` does: see the module docstring."""
    execution.check_open()
    if task.schema.input is not None:
        try:
            raw_input = task.schema.input(raw_input)
        except SchemaValidationError as error:
            execution.closing = True
            raise FailRun(error) from error
    input = to_jsonable(raw_input, lambda: f"input of task {task.name!r} in run {execution.run.id}")
    address = task_address(task.name, input)
    manifest = execution.manifest
    if manifest.has_unconsumed():
        entry = manifest.consume_task(address)
        if entry is None:
            execution.closing = True
            raise FailRun(NonDeterminismError(execution.run.id, address, manifest.unconsumed()))
        return await _replay(execution, task, raw_input, input, entry)
    occurrence = manifest.new_task_occurrence(address)
    return await _execute(execution, task, raw_input, input, address, occurrence, first_attempt=1)


async def _replay(
    execution: Execution, task: Task[Any, Any], raw_input: Any, input: Any, entry: TaskEntry
) -> Any:
    if entry.status == "completed":
        return _validated_output(execution, task, entry.output, replayed=True)
    if entry.status == "failed":
        raise TaskFailedError(task.name, execution.run.id, entry.attempts, entry.error or {})
    # awaiting_retry: its delay has passed (the run was requeued for it); run the next attempt now.
    return await _execute(
        execution, task, raw_input, input, entry.address, entry.occurrence, first_attempt=entry.attempts + 1
    )


def _validated_output(execution: Execution, task: Task[Any, Any], output: Any, *, replayed: bool) -> Any:
    if task.schema.output is None:
        return output
    try:
        return task.schema.output(output)
    except SchemaValidationError as error:
        if replayed:
            error = SchemaValidationError(
                f"recorded output of task {task.name!r} in run {execution.run.id}",
                f"{error.detail}. The task's output schema changed incompatibly since this run recorded it; "
                f"deploy the change as a new workflow version",
                error.field,
            )
        execution.closing = True
        raise FailRun(error) from error


async def _execute(
    execution: Execution,
    task: Task[Any, Any],
    raw_input: Any,
    input: Any,
    address: str,
    occurrence: int,
    first_attempt: int,
) -> Any:
    done = execution.begin_work("task", address)
    try:
        attempts = first_attempt
        arguments = (raw_input,) if task.parameter_count else ()
        #: the attempts run since the entry was last written, reported with the next write
        reported: list[TaskAttempt] = []
        while True:
            attempt = Attempt(execution, task, attempts)
            try:
                raw_output = await attempt.call(arguments)
                output = _validated_output(execution, task, raw_output, replayed=False)
                stored = to_jsonable(
                    output, lambda: f"output of task {task.name!r} in run {execution.run.id}"
                )
            except HandlerSignal as signal:
                attempt.end(signal)
                raise
            except SerializationError as error:
                attempt.end(error)
                execution.closing = True
                raise FailRun(error) from error
            except Exception as error:
                reported.append(attempt.end(error))
                delay_ms = task.retry.next_delay_ms(attempts)
                record = error_record(error, task.name)
                if delay_ms is None:
                    await _record(
                        execution,
                        task,
                        address,
                        occurrence,
                        input,
                        "failed",
                        attempts,
                        reported,
                        error=record,
                    )
                    raise TaskFailedError(task.name, execution.run.id, attempts, record) from error
                if delay_ms <= execution.settings.max_inline_retry_delay_ms:
                    await execution.clock.sleep_ms(delay_ms)
                    attempts += 1
                    continue
                execution.closing = True
                await _record(
                    execution,
                    task,
                    address,
                    occurrence,
                    input,
                    "awaiting_retry",
                    attempts,
                    reported,
                    error=record,
                    retry_delay_ms=delay_ms,
                )
                raise Suspend(kind="retry", retry_kind="task", duration_ms=delay_ms, error=record) from error
            reported.append(attempt.end(None))
            status = await _record(
                execution, task, address, occurrence, input, "completed", attempts, reported, output=stored
            )
            if status != "running":
                # Paused or cancelled while the task ran: its result is kept, nothing new starts.
                execution.closing = True
                raise StopExecution()
            return output if task.schema.output is not None else stored
    finally:
        execution.end_work(done)


async def _record(
    execution: Execution,
    task: Task[Any, Any],
    address: str,
    occurrence: int,
    input: Any,
    status: Any,
    attempts: int,
    attempt_times: list[TaskAttempt],
    *,
    output: Any = None,
    error: dict[str, Any] | None = None,
    retry_delay_ms: int | None = None,
) -> str:
    write = TaskWrite(
        run_id=execution.run.id,
        claim_token=execution.claim_token,
        name=task.name,
        address=address,
        occurrence=occurrence,
        status=status,
        attempts=attempts,
        input=input,
        output=output,
        error=error,
        retry_delay_ms=retry_delay_ms,
        attempt_times=attempt_times,
    )
    try:
        return await execution.client.transport.record_task(write)
    except asyncio.CancelledError:
        raise
    except RevisionConflictError as conflict:
        execution.closing = True
        raise StopExecution() from conflict
