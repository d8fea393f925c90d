"""The ``child_runs`` and ``child_waits`` tables: children a parent started, and its waits on them."""

from __future__ import annotations

from aiki.store.queries.base import QueryBase


class ChildQueries(QueryBase):
    async def child_at(self, parent_run_id: str, address: str, occurrence: int) -> str | None:
        """The id of the child the parent started at ``address`` #``occurrence``, if any."""
        row = await self._fetch_one(
            "SELECT child_run_id FROM child_runs WHERE parent_run_id = ? AND address = ? AND occurrence = ?",
            (parent_run_id, address, occurrence),
        )
        return None if row is None else str(row["child_run_id"])

    async def link_child(
        self, parent_run_id: str, address: str, occurrence: int, child_run_id: str, now_ms: int
    ) -> bool:
        """Link the child to its parent's address; False when a concurrent start linked one first."""
        inserted = await self._execute(
            "INSERT INTO child_runs (parent_run_id, address, occurrence, child_run_id, created_at_ms) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (parent_run_id, address, occurrence, child_run_id, now_ms),
        )
        return inserted == 1

    async def insert_child_wait(
        self,
        parent_run_id: str,
        child_run_id: str,
        awaited_status: str,
        status: str,
        child_state_json: str | None,
        now_ms: int,
    ) -> None:
        """Append the outcome of one child wait: the child's terminal state (``completed``) or a timeout."""
        await self._execute(
            "INSERT INTO child_waits (parent_run_id, child_run_id, awaited_status, status, child_state, "
            "created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
            (parent_run_id, child_run_id, awaited_status, status, child_state_json, now_ms),
        )

    async def count_child_waits(
        self, parent_run_id: str, child_run_id: str, awaited_status: str | None
    ) -> int:
        row = await self._fetch_one(
            "SELECT COUNT(*) AS entries FROM child_waits WHERE parent_run_id = ? AND child_run_id = ? "
            "AND awaited_status = ?",
            (parent_run_id, child_run_id, awaited_status),
        )
        return 0 if row is None else int(row["entries"])
