"""Every status change of a run: checked against the state machine, compare-and-set on the run's revision
with its timeline row (the store writes both), and the side effects that belong to the new status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from aiki.canonical_json import dumps
from aiki.errors import RevisionConflictError
from aiki.server.engine.changes import Changes
from aiki.server.engine.settings import ServerSettings
from aiki.server.engine.state_machine import check_transition
from aiki.store.connection import Connection
from aiki.store.queries.runs import StateChange
from aiki.types import TERMINAL_STATUSES, RunState, RunStatus, WorkflowRun


def due_at_ms_of(run: WorkflowRun, target: RunState, now_ms: int, settings: ServerSettings) -> int | None:
    """The run's deadline while in ``target``: the claim expiry (running), the time it stalls (queued), the
    state's own deadline, the end of retention (finished), or none (paused, stalled, and waits without a
    timeout)."""
    if target.status is RunStatus.RUNNING:
        return now_ms + settings.claim_timeout_ms
    if target.status is RunStatus.QUEUED:
        return now_ms + settings.stall_after_ms
    if target.status in TERMINAL_STATUSES:
        retention_ms = settings.retention_for(run.namespace)
        return None if retention_ms is None else now_ms + retention_ms
    return target.deadline_ms


@dataclass(frozen=True, slots=True)
class Move:
    """One run's move in ``apply_transitions``; ``claim_token`` and ``worker_id`` for a move to running."""

    run: WorkflowRun
    target: RunState
    claim_token: str | None = None
    worker_id: str | None = None


async def apply_transitions(
    connection: Connection, moves: Sequence[Move], changes: Changes, now_ms: int, settings: ServerSettings
) -> list[WorkflowRun]:
    """``apply_transition`` for several runs at once (one statement on PostgreSQL), to ``queued`` or
    ``running`` (statuses with no side effects on other runs); returns the runs as stored now, in order.

    Raises ``RevisionConflictError`` if any row moved since it was read (the whole transaction is then given
    up: the caller's rows are locked for it, so only a bug gets there).
    """
    updates = []
    for move in moves:
        run, target = move.run, move.target
        if target.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            raise ValueError(f"apply_transitions moves no run to {target.status.value}: use apply_transition")
        check_transition(run.id, run.status, target.status, target.reason)
        running = target.status is RunStatus.RUNNING
        updates.append(
            StateChange(
                run,
                target,
                attempts=run.attempts,
                due_at_ms=run.due_within_deadline(due_at_ms_of(run, target, now_ms, settings)),
                claim_token=move.claim_token if running else None,
                worker_id=move.worker_id if running else None,
            )
        )
    moved = await connection.update_run_states(updates, now_ms)
    if moved != len(updates):
        first = updates[0].run.id if len(updates) == 1 else f"(one of {updates[0].run.id}, ...)"
        raise RevisionConflictError(first, None, "a run changed while this batch of moves was prepared")
    stored = []
    for update in updates:
        updated = replace(
            update.run, state=update.state, revision=update.run.revision + 1, updated_at_ms=now_ms
        )
        changes.moved(updated, update.due_at_ms)
        stored.append(updated)
    return stored


async def apply_transition(
    connection: Connection,
    run: WorkflowRun,
    target: RunState,
    changes: Changes,
    now_ms: int,
    settings: ServerSettings,
    *,
    claim_token: str | None = None,
    worker_id: str | None = None,
    attempts: int | None = None,
) -> WorkflowRun:
    """Move ``run`` (as read in this transaction) to ``target``; returns the run as stored now.

    Raises ``InvalidTransitionError`` for an edge the table lacks and ``RevisionConflictError`` if the
    row moved since it was read.
    """
    check_transition(run.id, run.status, target.status, target.reason)
    due_at_ms = due_at_ms_of(run, target, now_ms, settings)
    if target.status not in TERMINAL_STATUSES:
        due_at_ms = run.due_within_deadline(due_at_ms)  # the run's own deadline keeps running, paused too
    if target.status is not RunStatus.RUNNING:
        claim_token = None
        worker_id = None
    new_attempts = run.attempts if attempts is None else attempts
    moved = await connection.update_run_state(
        run,
        target,
        attempts=new_attempts,
        due_at_ms=due_at_ms,
        waiting_on=target.child_run_id if target.status is RunStatus.AWAITING_CHILD_WORKFLOW else None,
        claim_token=claim_token,
        worker_id=worker_id,
        now_ms=now_ms,
        # A task in flight when the run is paused is still recorded: its claim stays valid.
        keep_claim=target.status is RunStatus.PAUSED,
    )
    if not moved:
        raise RevisionConflictError(run.id, run.revision, "the run changed while this write was prepared")
    updated = replace(
        run, state=target, revision=run.revision + 1, attempts=new_attempts, updated_at_ms=now_ms
    )
    changes.moved(updated, due_at_ms)
    if target.status is RunStatus.CANCELLED:
        await _on_cancelled(connection, run, changes, now_ms, settings)
    if target.status in TERMINAL_STATUSES:
        await wake_waiting_parents(connection, updated, changes, now_ms, settings)
    return updated


async def _on_cancelled(
    connection: Connection, run: WorkflowRun, changes: Changes, now_ms: int, settings: ServerSettings
) -> None:
    """A cancelled run's active sleep ends, and the children it created that are still going are cancelled."""
    await connection.end_active_sleep(run.id, "cancelled", now_ms)
    for child in await connection.unfinished_children(run.id):
        await apply_transition(
            connection,
            child,
            RunState(RunStatus.CANCELLED, reason=f"parent run {run.id} was cancelled"),
            changes,
            now_ms,
            settings,
        )


async def wake_waiting_parents(
    connection: Connection, child: WorkflowRun, changes: Changes, now_ms: int, settings: ServerSettings
) -> None:
    """Wake every parent parked on ``child`` (which just reached a terminal status)."""
    if child.parent_run_id is None and child.reference_id is None:
        # Only a run started as a child, or adopted by a parent through its reference id, has parents.
        return
    for parent in await connection.parents_waiting_on(child.id):
        await record_child_wait(connection, parent, child, "completed", now_ms)
        await apply_transition(
            connection, parent, RunState(RunStatus.QUEUED, reason="child_workflow"), changes, now_ms, settings
        )


async def record_child_wait(
    connection: Connection, parent: WorkflowRun, child: WorkflowRun, status: str, now_ms: int
) -> None:
    """Append the outcome of the parent's current child wait (the child's terminal state, or a timeout)."""
    await connection.insert_child_wait(
        parent.id,
        child.id,
        parent.state.child_status or "completed",
        status,
        dumps(child.state.to_dict()) if status == "completed" else None,
        now_ms,
    )


async def enter_state(
    connection: Connection,
    run: WorkflowRun,
    target: RunState,
    changes: Changes,
    now_ms: int,
    settings: ServerSettings,
) -> WorkflowRun:
    """Move ``run`` to ``target``; a wait that is already satisfied continues straight to ``queued``."""
    parked = await apply_transition(connection, run, target, changes, now_ms, settings)
    if target.status is RunStatus.AWAITING_EVENT and await _event_arrived(connection, parked):
        wake = RunState(RunStatus.QUEUED, reason="event")
        return await apply_transition(connection, parked, wake, changes, now_ms, settings)
    if target.status is RunStatus.AWAITING_CHILD_WORKFLOW and await _child_settled(
        connection, parked, now_ms
    ):
        wake = RunState(RunStatus.QUEUED, reason="child_workflow")
        return await apply_transition(connection, parked, wake, changes, now_ms, settings)
    if target.deadline_ms is not None and target.deadline_ms <= now_ms:
        changes.deadline(target.deadline_ms)
    return parked


async def _event_arrived(connection: Connection, run: WorkflowRun) -> bool:
    """Whether the queue of the awaited event already holds more entries than the handler consumed."""
    return await connection.count_events(run.id, run.state.event_name) > (run.state.index or 0)


async def _child_settled(connection: Connection, parent: WorkflowRun, now_ms: int) -> bool:
    """Whether the awaited child already ended (recording that outcome for the parent if so)."""
    child_id = parent.state.child_run_id
    assert child_id is not None
    recorded = await connection.count_child_waits(parent.id, child_id, parent.state.child_status)
    if recorded > (parent.state.index or 0):
        return True
    # Locked, so that a child finishing concurrently either is seen finished here or, committing after
    # this transaction, finds the parent waiting (otherwise neither side would wake the parent).
    child = await connection.get_run(parent.namespace, child_id, for_update=True)
    if child is None or child.status not in TERMINAL_STATUSES:
        return False
    await record_child_wait(connection, parent, child, "completed", now_ms)
    return True
