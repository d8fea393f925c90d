"""The handle of a child run inside its parent: like any handle, but ``wait_for_status`` is durable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiki.client.handle import WaitResult, WorkflowRunHandle
from aiki.durations import Duration, to_milliseconds
from aiki.errors import InvalidOptionError
from aiki.execution.signals import Suspend
from aiki.types import RunState, WorkflowRun, parse_terminal_status

if TYPE_CHECKING:
    from aiki.definitions.event import EventDefinition
    from aiki.execution.execution import Execution


class ChildRunHandle(WorkflowRunHandle):
    """A child run as seen from its parent's handler."""

    def __init__(self, execution: Execution, run: WorkflowRun, events: dict[str, EventDefinition]) -> None:
        super().__init__(execution.client, run, events)
        self._execution = execution

    async def wait_for_status(self, status: str, timeout: Duration | None = None) -> WaitResult:
        """Suspend the parent until the child is terminal (or the timeout passes); replays return at once.

        ``success`` is ``True`` when the child reached ``status``; otherwise ``cause`` is the terminal
        status it reached instead, or ``timeout`` is ``True``.
        """
        wanted = parse_terminal_status(status)
        execution = self._execution
        execution.check_open()
        timeout_ms = None
        if timeout is not None:
            timeout_ms = to_milliseconds(timeout, "child wait timeout")
            if timeout_ms <= 0:
                raise InvalidOptionError("A child wait timeout must be longer than zero.")
        key = (self.run.id, wanted.value)
        index = execution.child_wait_cursor[key]
        waits = execution.child_waits[key]
        if index < len(waits):
            execution.child_wait_cursor[key] = index + 1
            wait = waits[index]
            if wait.status == "timeout" or wait.child_state is None:
                return WaitResult(success=False, state=None, cause=None, timeout=True)
            state = RunState.from_dict(wait.child_state)
            if state.status is wanted:
                output = state.output
                child_version = execution.child_versions.get(self.run.id)
                if child_version is not None and child_version.schema.output is not None:
                    from aiki.errors import SchemaValidationError
                    from aiki.execution.signals import FailRun

                    try:
                        output = child_version.schema.output(output)
                    except SchemaValidationError as error:
                        execution.closing = True
                        raise FailRun(error) from error
                    state = RunState.from_dict({**state.to_dict(), "output": output})
                return WaitResult(success=True, state=state)
            return WaitResult(success=False, state=state, cause=state.status.value)
        execution.closing = True
        raise Suspend(
            kind="child_wait",
            child_run_id=self.run.id,
            child_status=wanted.value,
            index=index,
            timeout_ms=timeout_ms,
        )
