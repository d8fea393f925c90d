"""SQL that reads a run's recorded history (tasks, sleeps, events, children) in record order."""

from __future__ import annotations

from aiki.canonical_json import loads
from aiki.store.database import Connection
from aiki.types import ChildEntry, ChildWaitEntry, EventEntry, RunHistory, SleepEntry, TaskEntry


async def load_history(connection: Connection, run_id: str) -> RunHistory:
    """Everything a replay of ``run_id`` needs."""
    tasks = await connection.fetch_all(
        "SELECT name, address, occurrence, status, attempts, output, error, next_attempt_at_ms FROM tasks "
        "WHERE run_id = ? AND status <> 'discarded' ORDER BY id",
        (run_id,),
    )
    if not tasks and not await _has_waits(connection, run_id):
        return RunHistory(tasks=[])
    sleeps = await connection.fetch_all(
        "SELECT name, occurrence, status, duration_ms, started_at_ms, wake_at_ms, ended_at_ms FROM sleeps "
        "WHERE run_id = ? ORDER BY id",
        (run_id,),
    )
    events = await connection.fetch_all(
        "SELECT name, status, data, reference_id FROM events WHERE run_id = ? ORDER BY id", (run_id,)
    )
    children = await connection.fetch_all(
        "SELECT address, occurrence, child_run_id FROM child_runs WHERE parent_run_id = ? ORDER BY id",
        (run_id,),
    )
    waits = await connection.fetch_all(
        "SELECT child_run_id, awaited_status, status, child_state FROM child_waits "
        "WHERE parent_run_id = ? ORDER BY id",
        (run_id,),
    )
    return RunHistory(
        tasks=[
            TaskEntry(
                name=row["name"],
                address=row["address"],
                occurrence=int(row["occurrence"]),
                status=row["status"],
                attempts=int(row["attempts"]),
                output=loads(row["output"]),
                error=loads(row["error"]),  # type: ignore[arg-type]
                next_attempt_at_ms=row["next_attempt_at_ms"],
            )
            for row in tasks
        ],
        sleeps=[
            SleepEntry(
                name=row["name"],
                occurrence=int(row["occurrence"]),
                status=row["status"],
                duration_ms=int(row["duration_ms"]),
                started_at_ms=int(row["started_at_ms"]),
                wake_at_ms=int(row["wake_at_ms"]),
                ended_at_ms=row["ended_at_ms"],
            )
            for row in sleeps
        ],
        events=[
            EventEntry(
                name=row["name"],
                status=row["status"],
                data=loads(row["data"]),
                reference_id=row["reference_id"],
            )
            for row in events
        ],
        children=[
            ChildEntry(
                address=row["address"], occurrence=int(row["occurrence"]), child_run_id=row["child_run_id"]
            )
            for row in children
        ],
        child_waits=[
            ChildWaitEntry(
                child_run_id=row["child_run_id"],
                awaited_status=row["awaited_status"],
                status=row["status"],
                child_state=loads(row["child_state"]),  # type: ignore[arg-type]
            )
            for row in waits
        ],
    )


async def _has_waits(connection: Connection, run_id: str) -> bool:
    """Whether the run recorded anything besides tasks (lets a task-only replay skip four queries)."""
    row = await connection.fetch_one(
        "SELECT 1 AS found WHERE EXISTS (SELECT 1 FROM sleeps WHERE run_id = ?) "
        "OR EXISTS (SELECT 1 FROM events WHERE run_id = ?) "
        "OR EXISTS (SELECT 1 FROM child_runs WHERE parent_run_id = ?)",
        (run_id, run_id, run_id),
    )
    return row is not None
