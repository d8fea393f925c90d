"""A run's own deadline: set when it is created, and fired by the timer loop whatever the run is doing.

A run has at most two deadlines at a time, its state's (a wake-up, a retry, a timeout, a claim expiry) and
its own; its one timer column ``due_at_ms`` holds the earlier (``WorkflowRun.due_within_deadline``), so the
loop still finds each due run with one indexed read. When a run comes due, the loop looks at its own
deadline first: past it, the run fails with ``DeadlineExceededError`` from any status that has not ended
(a pause does not stop this timer), its claim is cleared (a late task result or outcome is refused), and
the children it created that are still going are cancelled.
"""

from __future__ import annotations

from aiki.contract import StartRequest
from aiki.contract.limits import stored_deadline_ms
from aiki.errors import DeadlineExceededError
from aiki.server.engine.changes import Changes
from aiki.server.engine.settings import ServerSettings
from aiki.server.engine.transitions import apply_transition
from aiki.store.connection import Connection
from aiki.types import TERMINAL_STATUSES, RunState, RunStatus, WorkflowRun

#: the reason of every ``-> failed`` transition a deadline makes (the state machine allows it from every
#: status that has not ended)
DEADLINE_REASON = "deadline"


def deadline_at(request: StartRequest, now_ms: int, parent: WorkflowRun | None) -> int | None:
    """The deadline of a run created now by ``request``: ``options["deadline_ms"]`` after now, and never
    later than its parent's."""
    duration_ms = stored_deadline_ms(request.options, "options.deadline_ms")
    own = None if duration_ms is None else now_ms + duration_ms
    inherited = None if parent is None else parent.deadline_at_ms
    if own is None or inherited is None:
        return own if inherited is None else inherited
    return min(own, inherited)


def past_deadline(run: WorkflowRun, now_ms: int) -> bool:
    """Whether ``run`` has not ended and its own deadline has come."""
    return (
        run.deadline_at_ms is not None
        and run.deadline_at_ms <= now_ms
        and run.status not in TERMINAL_STATUSES
    )


async def fail_past_deadline(
    connection: Connection, run: WorkflowRun, changes: Changes, now_ms: int, settings: ServerSettings
) -> WorkflowRun:
    """Fail ``run`` (read in this transaction) for its deadline and cancel the children still going."""
    assert run.deadline_at_ms is not None
    error = DeadlineExceededError(run.id, run.deadline_at_ms, run.status.value)
    state = RunState(
        RunStatus.FAILED,
        reason=DEADLINE_REASON,
        error={"type": type(error).__name__, "message": error.message},
    )
    await connection.end_active_sleep(run.id, "cancelled", now_ms)
    # The run first: a child cancelled while its parent still waited on it would wake the parent instead.
    failed = await apply_transition(connection, run, state, changes, now_ms, settings)
    for child in await connection.unfinished_children(run.id):
        reason = f"parent run {run.id} passed its deadline"
        await apply_transition(
            connection, child, RunState(RunStatus.CANCELLED, reason=reason), changes, now_ms, settings
        )
    return failed
