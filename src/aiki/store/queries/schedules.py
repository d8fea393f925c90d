"""The ``schedules`` table: recurring runs of one workflow version."""

from __future__ import annotations

from typing import Any

from aiki.canonical_json import dumps
from aiki.contract.schedules import ScheduleInfo, ScheduleStatus
from aiki.store.queries.base import QueryBase
from aiki.store.rows import SCHEDULE_COLUMNS, schedule_from_row


def schedule_values(info: ScheduleInfo) -> list[Any]:
    """The column values of a new schedule row, in the order of ``SCHEDULE_COLUMNS``."""
    return [
        info.id,
        info.namespace,
        info.workflow_name,
        info.version_id,
        dumps(info.timing),
        info.overlap_policy,
        dumps(info.input),
        info.input_hash,
        dumps(info.run_options),
        info.shard,
        info.definition_hash,
        info.reference_id,
        info.status.value,
        info.next_run_at_ms,
        info.last_occurrence_ms,
        info.created_at_ms,
        info.updated_at_ms,
    ]


class ScheduleQueries(QueryBase):
    async def insert_schedule(self, info: ScheduleInfo) -> bool:
        """Insert a new schedule; False when a concurrent activation took its identity first."""
        placeholders = ", ".join("?" for _ in SCHEDULE_COLUMNS.split(", "))
        inserted = await self._execute(
            f"INSERT INTO schedules ({SCHEDULE_COLUMNS}) VALUES ({placeholders}) ON CONFLICT DO NOTHING",
            schedule_values(info),
        )
        return inserted == 1

    async def get_schedule(
        self, namespace: str, schedule_id: str, *, for_update: bool = False
    ) -> ScheduleInfo | None:
        row = await self._fetch_one(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = ?{self._lock(for_update)}", (schedule_id,)
        )
        if row is None or row["namespace"] != namespace:
            return None
        return schedule_from_row(row)

    async def schedule_by_reference(self, namespace: str, reference_id: str) -> ScheduleInfo | None:
        row = await self._fetch_one(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE namespace = ? AND reference_id = ?{self.FOR_UPDATE}",
            (namespace, reference_id),
        )
        return None if row is None else schedule_from_row(row)

    async def schedule_by_definition(
        self, namespace: str, definition_hash: str, *, unreferenced_only: bool = False
    ) -> ScheduleInfo | None:
        """A schedule with this definition; an unreferenced one first, then the oldest referenced one."""
        only = " AND reference_id IS NULL" if unreferenced_only else ""
        row = await self._fetch_one(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE namespace = ? AND definition_hash = ?{only} "
            "ORDER BY CASE WHEN reference_id IS NULL THEN 0 ELSE 1 END, created_at_ms, id "
            f"LIMIT 1{self.FOR_UPDATE}",
            (namespace, definition_hash),
        )
        return None if row is None else schedule_from_row(row)

    async def set_schedule_status(
        self,
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
        changed = await self._execute(
            f"UPDATE schedules SET {', '.join(assignments)} WHERE id = ? AND namespace = ?", params
        )
        return changed == 1

    async def advance_schedule(
        self,
        schedule_id: str,
        expected_next_run_at_ms: int,
        next_run_at_ms: int,
        last_occurrence_ms: int | None,
        now_ms: int,
    ) -> bool:
        """Compare-and-set the next occurrence on the one that was read; False if another writer moved it."""
        changed = await self._execute(
            "UPDATE schedules SET next_run_at_ms = ?, last_occurrence_ms = ?, updated_at_ms = ? "
            "WHERE id = ? AND next_run_at_ms = ? AND status = 'active'",
            (next_run_at_ms, last_occurrence_ms, now_ms, schedule_id, expected_next_run_at_ms),
        )
        return changed == 1

    async def list_schedules(
        self,
        namespace: str,
        *,
        status: ScheduleStatus | None,
        workflow: str | None,
        limit: int,
        before_id: str | None,
    ) -> list[ScheduleInfo]:
        """Newest first; ``before_id`` pages backwards (served by ``schedules_by_namespace``)."""
        clauses = ["namespace = ?"]
        params: list[Any] = [namespace]
        if status is not None:
            clauses.append("status = ?")
            params.append(status.value)
        if workflow is not None:
            clauses.append("workflow_name = ?")
            params.append(workflow)
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        params.append(limit)
        rows = await self._fetch_all(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?",
            params,
        )
        return [schedule_from_row(row) for row in rows]

    async def due_schedules(self, now_ms: int, limit: int) -> list[ScheduleInfo]:
        """Active schedules whose next occurrence has come (served by ``schedules_due``)."""
        rows = await self._fetch_all(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE status = 'active' AND next_run_at_ms <= ? "
            f"ORDER BY next_run_at_ms LIMIT ?{self.SKIP_LOCKED}",
            (now_ms, limit),
        )
        return [schedule_from_row(row) for row in rows]

    async def next_schedule_deadline(self) -> int | None:
        row = await self._fetch_one(
            "SELECT next_run_at_ms FROM schedules WHERE status = 'active' ORDER BY next_run_at_ms LIMIT 1"
        )
        return None if row is None else int(row["next_run_at_ms"])
