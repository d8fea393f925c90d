"""Deadlines: every timer of a run is its ``due_at_ms`` (served by ``runs_by_due_time``)."""

from __future__ import annotations

from aiki.store.queries.base import QueryBase
from aiki.store.rows import RUN_COLUMNS, run_from_row
from aiki.types import WorkflowRun


class TimerQueries(QueryBase):
    async def due_runs(self, now_ms: int, limit: int) -> list[tuple[int, WorkflowRun]]:
        """Up to ``limit`` runs whose deadline has come, earliest first (skipping rows other servers hold),
        each with its due time."""
        rows = await self._fetch_all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE due_at_ms <= ? ORDER BY due_at_ms LIMIT ?{self.SKIP_LOCKED}",
            (now_ms, limit),
        )
        return [(int(row["due_at_ms"]), run_from_row(row)) for row in rows]

    async def next_run_deadline(self) -> int | None:
        """The earliest deadline of any run."""
        row = await self._fetch_one(
            "SELECT due_at_ms FROM runs WHERE due_at_ms IS NOT NULL ORDER BY due_at_ms LIMIT 1"
        )
        return None if row is None else int(row["due_at_ms"])
