"""What happens when a run's deadline (``due_at_ms``) comes: one small handler per status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiki.server.changes import Changes
from aiki.server.transitions import apply_transition, record_child_wait
from aiki.store.database import Connection
from aiki.store.run_rows import RUN_COLUMNS, fetch_run_row, run_from_row
from aiki.types import RunState, RunStatus, WorkflowRun

Handler = Callable[[Connection, WorkflowRun, Changes, int], Awaitable[None]]


async def _start_scheduled(connection: Connection, run: WorkflowRun, changes: Changes, now_ms: int) -> None:
    await apply_transition(connection, run, RunState(RunStatus.QUEUED, reason="due"), changes, now_ms)


async def _wake_sleeper(connection: Connection, run: WorkflowRun, changes: Changes, now_ms: int) -> None:
    await connection.execute(
        "UPDATE sleeps SET status = 'completed', ended_at_ms = ? WHERE run_id = ? AND status = 'sleeping'",
        (now_ms, run.id),
    )
    await apply_transition(connection, run, RunState(RunStatus.QUEUED, reason="wakeup"), changes, now_ms)


async def _time_out_event_wait(
    connection: Connection, run: WorkflowRun, changes: Changes, now_ms: int
) -> None:
    await connection.execute(
        "INSERT INTO events (run_id, name, status, created_at_ms) VALUES (?, ?, 'timeout', ?)",
        (run.id, run.state.event_name, now_ms),
    )
    target = RunState(RunStatus.QUEUED, reason="event_wait_timeout")
    await apply_transition(connection, run, target, changes, now_ms)


async def _retry(connection: Connection, run: WorkflowRun, changes: Changes, now_ms: int) -> None:
    if run.state.retry_kind == "workflow":
        # A new attempt re-runs every task that did not complete; completed ones replay from the record.
        await connection.execute(
            "UPDATE tasks SET status = 'discarded' WHERE run_id = ? AND status IN ('failed', 'awaiting_retry')",
            (run.id,),
        )
        target = RunState(RunStatus.QUEUED, reason="retry")
        await apply_transition(connection, run, target, changes, now_ms, attempts=run.attempts + 1)
    else:
        await apply_transition(
            connection, run, RunState(RunStatus.QUEUED, reason="task_retry"), changes, now_ms
        )


async def _time_out_child_wait(
    connection: Connection, run: WorkflowRun, changes: Changes, now_ms: int
) -> None:
    child_row = await fetch_run_row(connection, run.namespace, run.state.child_run_id or "")
    if child_row is not None:
        await record_child_wait(connection, run, run_from_row(child_row), "timeout", now_ms)
    target = RunState(RunStatus.QUEUED, reason="child_workflow_wait_timeout")
    await apply_transition(connection, run, target, changes, now_ms)


async def _recover(connection: Connection, run: WorkflowRun, changes: Changes, now_ms: int) -> None:
    """The claim went stale (the worker died or hangs): requeue; the revision bump fences the old worker."""
    await apply_transition(connection, run, RunState(RunStatus.QUEUED, reason="recovery"), changes, now_ms)


HANDLERS: dict[RunStatus, Handler] = {
    RunStatus.SCHEDULED: _start_scheduled,
    RunStatus.SLEEPING: _wake_sleeper,
    RunStatus.AWAITING_EVENT: _time_out_event_wait,
    RunStatus.AWAITING_RETRY: _retry,
    RunStatus.AWAITING_CHILD_WORKFLOW: _time_out_child_wait,
    RunStatus.RUNNING: _recover,
}


async def fire_due_runs(
    connection: Connection, skip_locked: str, changes: Changes, now_ms: int, limit: int
) -> int:
    """Handle up to ``limit`` runs whose deadline has come; returns how many were handled."""
    rows = await connection.fetch_all(
        f"SELECT {RUN_COLUMNS} FROM runs WHERE due_at_ms <= ? ORDER BY due_at_ms LIMIT ?{skip_locked}",
        (now_ms, limit),
    )
    for row in rows:
        run = run_from_row(row)
        handler = HANDLERS.get(run.status)
        if handler is None:
            # A deadline left on a status that has none; clear it so it is not picked up again.
            await connection.execute("UPDATE runs SET due_at_ms = NULL WHERE id = ?", (run.id,))
            continue
        await handler(connection, run, changes, now_ms)
    return len(rows)


async def next_run_deadline(connection: Connection) -> int | None:
    """The earliest deadline of any run."""
    row = await connection.fetch_one("SELECT MIN(due_at_ms) AS due FROM runs WHERE due_at_ms IS NOT NULL")
    return None if row is None or row["due"] is None else int(row["due"])
