"""One attempt of a task: its handler call under the task's timeout, its times, and its span."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from aiki.clock import Clock
from aiki.definitions.handler import call_handler
from aiki.errors import TaskTimeoutError
from aiki.execution.tracing import end_task_span, start_task_span, task_span_current
from aiki.types import TaskAttempt

if TYPE_CHECKING:
    from aiki.definitions.task import Task
    from aiki.execution.execution import Execution

T = TypeVar("T")


class Attempt:
    """Attempt ``number`` of ``task`` in ``execution``: started when made, ended by ``end``."""

    def __init__(self, execution: Execution, task: Task[Any, Any], number: int) -> None:
        self._execution = execution
        self._task = task
        self.number = number
        self.started_at_ms = execution.clock.now_ms()
        self._span = (
            None
            if execution.tracer is None
            else start_task_span(execution, task.name, number, self.started_at_ms)
        )

    async def call(self, arguments: tuple[Any, ...]) -> Any:
        """Run the task's handler once; ``TaskTimeoutError`` when it runs longer than the task's timeout."""
        task = self._task
        if task.timeout_ms is None and self._span is None:
            return await call_handler(task.handler, arguments)
        with task_span_current(self._span):
            if task.timeout_ms is None:
                return await call_handler(task.handler, arguments)
            finished = await within(
                call_handler(task.handler, arguments), task.timeout_ms, self._execution.clock
            )
        if finished is None:
            raise TaskTimeoutError(task.name, self._execution.run.id, task.timeout_ms, self.number)
        return finished[0]

    def end(self, error: BaseException | None) -> TaskAttempt:
        """End the attempt (failed by ``error`` if given); returns its recorded times."""
        ended_at_ms = self._execution.clock.now_ms()
        if self._span is not None:
            end_task_span(self._span, ended_at_ms, error)
        return TaskAttempt(self.number, self.started_at_ms, ended_at_ms)


async def within(work: Awaitable[T], timeout_ms: int, clock: Clock) -> tuple[T] | None:
    """``(result,)`` of ``work``, or ``None`` when ``timeout_ms`` passes first on ``clock``.

    Work still going at the timeout is cancelled, and its end awaited so that its clean-up runs before
    anything else starts. Work running in a thread (a plain ``def`` task) cannot be stopped: cancelling
    abandons it, and whatever it returns later is dropped.
    """
    attempt = asyncio.ensure_future(work)
    timer = asyncio.ensure_future(clock.sleep_ms(timeout_ms))
    try:
        await asyncio.wait({attempt, timer}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        attempt.cancel()
        raise
    finally:
        timer.cancel()
    if attempt.done():
        return (attempt.result(),)
    attempt.cancel()
    await asyncio.wait({attempt})
    if not attempt.cancelled():
        # It ended some other way while being cancelled: that late outcome is ignored, and retrieved here
        # so that asyncio does not report it as never retrieved.
        attempt.exception()
    return None
