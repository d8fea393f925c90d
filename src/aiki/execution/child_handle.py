"""The handle of a child run inside its parent: like any handle, but ``wait_for_status`` is durable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from aiki.client.handle import WaitResult, WorkflowRunHandle
from aiki.definitions.type_variables import OutputT
from aiki.definitions.workflow_version import WorkflowVersion
from aiki.durations import Duration, to_bounded_milliseconds
from aiki.errors import SchemaValidationError
from aiki.execution.signals import FailRun, Suspend
from aiki.types import RunState, RunStatus, TerminalStatus, WorkflowRun, parse_terminal_status

if TYPE_CHECKING:
    from aiki.execution.execution import Execution


class ChildRunHandle(WorkflowRunHandle[OutputT]):
    """A child run as seen from its parent's handler: ``await child_v1.start_as_child(run, input)``.

    Generic in the child's output like any handle: ``wait_for_status`` gives a ``WaitResult[OutputT]``.
    """

    def __init__(
        self, execution: Execution, run: WorkflowRun, version: WorkflowVersion[Any, OutputT]
    ) -> None:
        super().__init__(execution.client, run, version)
        self._execution = execution

    async def wait_for_status(
        self, status: TerminalStatus | RunStatus, timeout: Duration | None = None
    ) -> WaitResult[OutputT]:
        """Suspend the parent until the child is terminal (or the timeout passes); replays return at once.

        ``success`` is ``True`` when the child reached ``status``; otherwise ``cause`` is the terminal
        status it reached instead, or ``timeout`` is ``True``. The output is validated against the child
        version's output schema, on replay too.
        """
        wanted = parse_terminal_status(status)
        execution = self._execution
        execution.check_open()
        timeout_ms = None
        if timeout is not None:
            timeout_ms = to_bounded_milliseconds(timeout, "A child wait timeout")
        key = (self.run.id, wanted.value)
        index = execution.child_wait_cursor[key]
        waits = execution.child_waits[key]
        if index < len(waits):
            execution.child_wait_cursor[key] = index + 1
            execution.consumed_recorded()
            wait = waits[index]
            if wait.status == "timeout" or wait.child_state is None:
                return WaitResult(success=False, state=None, cause=None, timeout=True)
            state = RunState.from_dict(wait.child_state)
            if state.status is not wanted:
                return WaitResult(success=False, state=state, cause=state.status.value)
            if state.status is not RunStatus.COMPLETED:
                return WaitResult(success=True, state=state)
            output = self._recorded_output(state.output)
            state = RunState.from_dict({**state.to_dict(), "output": output})
            return WaitResult(success=True, state=state, output=output)
        execution.closing = True
        raise Suspend(
            kind="child_wait",
            child_run_id=self.run.id,
            child_status=wanted.value,
            index=index,
            timeout_ms=timeout_ms,
        )

    def _recorded_output(self, output: Any) -> OutputT:
        """The child's recorded output, parsed by its version's output schema; fails the parent if it no
        longer fits (the schema changed under a run in flight, which no retry can mend)."""
        version = self.version
        if version is None or version.schema.output is None:
            return cast(OutputT, output)
        try:
            return cast(OutputT, version.schema.output(output))
        except SchemaValidationError as error:
            execution = self._execution
            execution.closing = True
            recorded = SchemaValidationError(
                f"recorded output of {version.label} (child run {self.run.id} of run {execution.run.id})",
                f"{error.detail}. The child's output schema changed incompatibly since this run recorded that "
                f"output; deploy the change as a new workflow version, and keep the old version deployed for "
                f"runs in flight",
                error.field,
            )
            raise FailRun(recorded) from error
