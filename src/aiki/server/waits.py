"""Entering a waiting status: if what the run waits for has already happened, it is queued at once."""

from __future__ import annotations

from aiki.server.changes import Changes
from aiki.server.transitions import apply_transition, record_child_wait
from aiki.store.database import Connection
from aiki.store.run_rows import fetch_run_row, run_from_row
from aiki.types import TERMINAL_STATUSES, RunState, RunStatus, WorkflowRun


async def enter_state(
    connection: Connection, run: WorkflowRun, target: RunState, changes: Changes, now_ms: int
) -> WorkflowRun:
    """Move ``run`` to ``target``; a wait that is already satisfied continues straight to ``queued``."""
    parked = await apply_transition(connection, run, target, changes, now_ms)
    if target.status is RunStatus.AWAITING_EVENT and await _event_arrived(connection, parked):
        return await apply_transition(
            connection, parked, RunState(RunStatus.QUEUED, reason="event"), changes, now_ms
        )
    if target.status is RunStatus.AWAITING_CHILD_WORKFLOW and await _child_settled(
        connection, parked, now_ms
    ):
        wake = RunState(RunStatus.QUEUED, reason="child_workflow")
        return await apply_transition(connection, parked, wake, changes, now_ms)
    if target.deadline_ms is not None and target.deadline_ms <= now_ms:
        changes.deadline(target.deadline_ms)
    return parked


async def _event_arrived(connection: Connection, run: WorkflowRun) -> bool:
    """Whether the queue of the awaited event already holds more entries than the handler consumed."""
    row = await connection.fetch_one(
        "SELECT COUNT(*) AS entries FROM events WHERE run_id = ? AND name = ?", (run.id, run.state.event_name)
    )
    return row is not None and int(row["entries"]) > (run.state.index or 0)


async def _child_settled(connection: Connection, parent: WorkflowRun, now_ms: int) -> bool:
    """Whether the awaited child already ended (recording that outcome for the parent if so)."""
    child_id = parent.state.child_run_id
    assert child_id is not None
    row = await connection.fetch_one(
        "SELECT COUNT(*) AS entries FROM child_waits WHERE parent_run_id = ? AND child_run_id = ? "
        "AND awaited_status = ?",
        (parent.id, child_id, parent.state.child_status),
    )
    if row is not None and int(row["entries"]) > (parent.state.index or 0):
        return True
    # Locked, so that a child finishing concurrently either is seen finished here or, committing after
    # this transaction, finds the parent waiting (otherwise neither side would wake the parent).
    child_row = await fetch_run_row(connection, parent.namespace, child_id, for_update=True)
    if child_row is None:
        return False
    child = run_from_row(child_row)
    if child.status not in TERMINAL_STATUSES:
        return False
    await record_child_wait(connection, parent, child, "completed", now_ms)
    return True
