"""Deadlines: every timer of a run is its ``due_at_ms``. A run still going finds its timers in
``runs_by_due_time``; a finished run's ``due_at_ms`` is the end of its retention, in ``runs_expiring``."""

from __future__ import annotations

from aiki.store.queries.base import QueryBase
from aiki.store.rows import RUN_COLUMNS, run_from_row
from aiki.types import WorkflowRun

#: each index's predicate, which its queries repeat word for word (how a partial index is matched); the
#: statuses of a finished run are compared one by one, not as an IN list, which SQLite evaluates at twice
#: the cost of the index entry on every status change (migration 0008)
GOING = "due_at_ms IS NOT NULL AND status <> 'completed' AND status <> 'failed' AND status <> 'cancelled'"
FINISHED = "due_at_ms IS NOT NULL AND (status = 'completed' OR status = 'failed' OR status = 'cancelled')"


class TimerQueries(QueryBase):
    async def due_runs(self, now_ms: int, limit: int) -> list[tuple[int, WorkflowRun]]:
        """Up to ``limit`` runs still going whose deadline has come, earliest first (skipping rows other
        servers hold), each with its due time."""
        return await self._due(GOING, now_ms, limit)

    async def expired_runs(self, now_ms: int, limit: int) -> list[tuple[int, WorkflowRun]]:
        """Up to ``limit`` finished runs whose retention deadline has come, earliest first."""
        return await self._due(FINISHED, now_ms, limit)

    async def next_run_deadline(self) -> int | None:
        """The earliest deadline of a run still going."""
        return await self._next(GOING)

    async def next_expiry(self) -> int | None:
        """The earliest retention deadline of a finished run."""
        return await self._next(FINISHED)

    async def _due(self, which: str, now_ms: int, limit: int) -> list[tuple[int, WorkflowRun]]:
        rows = await self._fetch_all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE due_at_ms <= ? AND {which} ORDER BY due_at_ms "
            f"LIMIT ?{self.SKIP_LOCKED}",
            (now_ms, limit),
        )
        return [(int(row["due_at_ms"]), run_from_row(row)) for row in rows]

    async def _next(self, which: str) -> int | None:
        row = await self._fetch_one(f"SELECT due_at_ms FROM runs WHERE {which} ORDER BY due_at_ms LIMIT 1")
        return None if row is None else int(row["due_at_ms"])
