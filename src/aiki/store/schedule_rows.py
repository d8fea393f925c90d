"""SQL for the ``schedules`` table, and the mapping of a row to a ``ScheduleInfo``."""

from __future__ import annotations

from typing import Any

from aiki.canonical_json import dumps, loads
from aiki.schedule_contract import ScheduleInfo, ScheduleStatus
from aiki.store.database import Connection, Row

SCHEDULE_COLUMNS = (
    "id, namespace, workflow_name, version_id, timing, overlap_policy, input, input_hash, run_options, "
    "shard, definition_hash, reference_id, status, next_run_at_ms, last_occurrence_ms, created_at_ms, "
    "updated_at_ms"
)


def schedule_from_row(row: Row) -> ScheduleInfo:
    """The ``ScheduleInfo`` a ``schedules`` row describes."""
    last = row["last_occurrence_ms"]
    return ScheduleInfo(
        id=row["id"],
        namespace=row["namespace"],
        workflow_name=row["workflow_name"],
        version_id=row["version_id"],
        status=ScheduleStatus(row["status"]),
        timing=loads(row["timing"]),  # type: ignore[arg-type]
        overlap_policy=row["overlap_policy"],
        input=loads(row["input"]),
        input_hash=row["input_hash"],
        run_options=loads(row["run_options"]) or {},  # type: ignore[arg-type]
        shard=row["shard"],
        definition_hash=row["definition_hash"],
        reference_id=row["reference_id"],
        next_run_at_ms=int(row["next_run_at_ms"]),
        last_occurrence_ms=None if last is None else int(last),
        created_at_ms=int(row["created_at_ms"]),
        updated_at_ms=int(row["updated_at_ms"]),
    )


async def insert_schedule(connection: Connection, values: dict[str, Any]) -> None:
    """Insert a new schedule row (``values`` holds every column of ``SCHEDULE_COLUMNS``, JSON as text)."""
    columns = SCHEDULE_COLUMNS.split(", ")
    placeholders = ", ".join("?" for _ in columns)
    await connection.execute(
        f"INSERT INTO schedules ({SCHEDULE_COLUMNS}) VALUES ({placeholders})", [values[c] for c in columns]
    )


async def fetch_schedule_row(
    connection: Connection, namespace: str, schedule_id: str, *, for_update: bool = False
) -> Row | None:
    """The row of schedule ``schedule_id`` in ``namespace`` (locked for update on PostgreSQL if asked)."""
    lock = " FOR UPDATE" if for_update and connection.dialect == "postgres" else ""
    return await connection.fetch_one(
        f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = ? AND namespace = ?{lock}",
        (schedule_id, namespace),
    )


async def fetch_schedule_by_reference(
    connection: Connection, namespace: str, reference_id: str
) -> Row | None:
    lock = " FOR UPDATE" if connection.dialect == "postgres" else ""
    return await connection.fetch_one(
        f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE namespace = ? AND reference_id = ?{lock}",
        (namespace, reference_id),
    )


async def fetch_schedule_by_definition(
    connection: Connection, namespace: str, definition_hash: str, *, unreferenced_only: bool = False
) -> Row | None:
    """A schedule with this definition; an unreferenced one first, then the oldest referenced one."""
    only = " AND reference_id IS NULL" if unreferenced_only else ""
    lock = " FOR UPDATE" if connection.dialect == "postgres" else ""
    return await connection.fetch_one(
        f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE namespace = ? AND definition_hash = ?{only} "
        f"ORDER BY CASE WHEN reference_id IS NULL THEN 0 ELSE 1 END, created_at_ms, id LIMIT 1{lock}",
        (namespace, definition_hash),
    )


async def set_schedule_status(
    connection: Connection,
    namespace: str,
    schedule_id: str,
    status: ScheduleStatus,
    now_ms: int,
    *,
    next_run_at_ms: int | None = None,
    reference_id: str | None = None,
) -> bool:
    """Write the status (and, if given, the next occurrence or reference id); False if there is no row."""
    assignments = ["status = ?", "updated_at_ms = ?"]
    params: list[Any] = [status.value, now_ms]
    if next_run_at_ms is not None:
        assignments.append("next_run_at_ms = ?")
        params.append(next_run_at_ms)
    if reference_id is not None:
        assignments.append("reference_id = ?")
        params.append(reference_id)
    params.extend((schedule_id, namespace))
    changed = await connection.execute(
        f"UPDATE schedules SET {', '.join(assignments)} WHERE id = ? AND namespace = ?", params
    )
    return changed == 1


async def advance_schedule(
    connection: Connection,
    schedule_id: str,
    expected_next_run_at_ms: int,
    next_run_at_ms: int,
    last_occurrence_ms: int | None,
    now_ms: int,
) -> bool:
    """Compare-and-set the next occurrence on the one that was read; False if another writer moved it."""
    changed = await connection.execute(
        "UPDATE schedules SET next_run_at_ms = ?, last_occurrence_ms = ?, updated_at_ms = ? "
        "WHERE id = ? AND next_run_at_ms = ? AND status = 'active'",
        (next_run_at_ms, last_occurrence_ms, now_ms, schedule_id, expected_next_run_at_ms),
    )
    return changed == 1


def schedule_values(info: ScheduleInfo) -> dict[str, Any]:
    """The column values of a new schedule row."""
    return {
        "id": info.id,
        "namespace": info.namespace,
        "workflow_name": info.workflow_name,
        "version_id": info.version_id,
        "timing": dumps(info.timing),
        "overlap_policy": info.overlap_policy,
        "input": dumps(info.input),
        "input_hash": info.input_hash,
        "run_options": dumps(info.run_options),
        "shard": info.shard,
        "definition_hash": info.definition_hash,
        "reference_id": info.reference_id,
        "status": info.status.value,
        "next_run_at_ms": info.next_run_at_ms,
        "last_occurrence_ms": info.last_occurrence_ms,
        "created_at_ms": info.created_at_ms,
        "updated_at_ms": info.updated_at_ms,
    }
