"""Lists of runs for people and tools."""

from __future__ import annotations

from typing import Any

from aiki.store.queries.base import QueryBase
from aiki.store.rows import RUN_COLUMNS, run_from_row
from aiki.types import RunStatus, WorkflowRun


class ListingQueries(QueryBase):
    async def list_runs(
        self,
        namespace: str,
        *,
        status: RunStatus | None,
        workflow: str | None,
        limit: int,
        before_id: str | None,
    ) -> list[WorkflowRun]:
        """Newest first; ``before_id`` pages backwards."""
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
            f"SELECT {RUN_COLUMNS} FROM runs WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?", params
        )
        return [run_from_row(row) for row in rows]

    async def ping(self) -> None:
        """One round trip: the database answers."""
        await self._fetch_one("SELECT 1 AS alive")
