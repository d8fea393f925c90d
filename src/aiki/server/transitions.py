"""Apply one run state change: check it against the state machine, compare-and-set the row on its
revision, append the timeline row, and carry out the side effects that belong to the new status."""

from __future__ import annotations

from dataclasses import replace

from aiki.canonical_json import dumps
from aiki.errors import RevisionConflictError
from aiki.server.changes import Changes
from aiki.server.state_machine import check_transition
from aiki.store.database import Connection
from aiki.store.run_rows import RUN_COLUMNS, update_run_state
from aiki.types import TERMINAL_STATUSES, RunState, RunStatus, WorkflowRun


async def apply_transition(
    connection: Connection,
    run: WorkflowRun,
    target: RunState,
    changes: Changes,
    now_ms: int,
    *,
    claim_token: str | None = None,
    worker_id: str | None = None,
    claim_timeout_ms: int = 0,
    attempts: int | None = None,
    check: bool = True,
) -> WorkflowRun:
    """Move ``run`` (as read in this transaction) to ``target``; returns the run as stored now.

    Raises ``InvalidTransitionError`` for an edge the table lacks and ``RevisionConflictError`` if the
    row moved since it was read.
    """
    if check:
        check_transition(run.id, run.status, target.status, target.reason)
    if target.status is RunStatus.RUNNING:
        due_at_ms: int | None = now_ms + claim_timeout_ms
    elif target.status is RunStatus.PAUSED:
        due_at_ms = None
    else:
        due_at_ms = target.deadline_ms
        claim_token = None
        worker_id = None
    new_attempts = run.attempts if attempts is None else attempts
    waiting_on = target.child_run_id if target.status is RunStatus.AWAITING_CHILD_WORKFLOW else None
    moved = await update_run_state(
        connection,
        run.id,
        run.revision,
        target,
        attempts=new_attempts,
        due_at_ms=due_at_ms,
        waiting_on=waiting_on,
        claim_token=claim_token,
        worker_id=worker_id,
        now_ms=now_ms,
        # A task in flight when the run is paused is still recorded: its claim stays valid.
        keep_claim=target.status is RunStatus.PAUSED,
        from_status=run.status.value,
    )
    if not moved:
        raise RevisionConflictError(run.id, run.revision, "the run changed while this write was prepared")
    updated = replace(
        run, state=target, revision=run.revision + 1, attempts=new_attempts, updated_at_ms=now_ms
    )
    changes.runs.add(run.id)
    changes.run_records[run.id] = updated
    changes.deadline(due_at_ms)
    if target.status is RunStatus.QUEUED:
        changes.queued = True
    if target.status is RunStatus.CANCELLED:
        await _on_cancelled(connection, run, changes, now_ms)
    if target.status in TERMINAL_STATUSES:
        changes.finished.add(run.id)
        await notify_waiting_parents(connection, updated, changes, now_ms)
    return updated


async def _on_cancelled(connection: Connection, run: WorkflowRun, changes: Changes, now_ms: int) -> None:
    """A cancelled run's active sleep ends, and its children that are still going are cancelled too."""
    await connection.execute(
        "UPDATE sleeps SET status = 'cancelled', ended_at_ms = ? WHERE run_id = ? AND status = 'sleeping'",
        (now_ms, run.id),
    )
    # Locked so that a child finishing concurrently is seen in its final state, not compare-and-set against.
    lock = " FOR UPDATE" if connection.dialect == "postgres" else ""
    children = await connection.fetch_all(
        # Only runs this parent created: a run it merely adopted through a reference id lives on.
        f"SELECT {RUN_COLUMNS} FROM runs WHERE id IN (SELECT child_run_id FROM child_runs "
        f"WHERE parent_run_id = ?) AND parent_run_id = ? AND status NOT IN ('completed', 'failed', 'cancelled'){lock}",
        (run.id, run.id),
    )
    from aiki.store.run_rows import run_from_row

    for row in children:
        child = run_from_row(row)
        await apply_transition(
            connection,
            child,
            RunState(RunStatus.CANCELLED, reason=f"parent run {run.id} was cancelled"),
            changes,
            now_ms,
        )


async def notify_waiting_parents(
    connection: Connection, child: WorkflowRun, changes: Changes, now_ms: int
) -> None:
    """Wake every parent parked on ``child`` (which just reached a terminal status)."""
    from aiki.store.run_rows import run_from_row

    if child.parent_run_id is None and child.reference_id is None:
        # Only a run started as a child, or adopted by a parent through its reference id, has parents.
        return

    # Locked: a parent whose wait times out concurrently is re-read (and skipped) rather than conflicting.
    lock = " FOR UPDATE" if connection.dialect == "postgres" else ""
    parents = await connection.fetch_all(
        f"SELECT {RUN_COLUMNS} FROM runs WHERE waiting_on = ? AND status = 'awaiting_child_workflow'{lock}",
        (child.id,),
    )
    for row in parents:
        parent = run_from_row(row)
        await record_child_wait(connection, parent, child, "completed", now_ms)
        await apply_transition(
            connection, parent, RunState(RunStatus.QUEUED, reason="child_workflow"), changes, now_ms
        )


async def record_child_wait(
    connection: Connection, parent: WorkflowRun, child: WorkflowRun, status: str, now_ms: int
) -> None:
    """Append the outcome of the parent's current child wait (the child's terminal state, or a timeout)."""
    awaited = parent.state.child_status or "completed"
    await connection.execute(
        "INSERT INTO child_waits (parent_run_id, child_run_id, awaited_status, status, child_state, "
        "created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
        (
            parent.id,
            child.id,
            awaited,
            status,
            dumps(child.state.to_dict()) if status == "completed" else None,
            now_ms,
        ),
    )
