"""The ``events`` table: events delivered to runs, and event waits that timed out."""

from __future__ import annotations

from aiki.store.queries.base import QueryBase


class EventQueries(QueryBase):
    async def insert_event(
        self, run_id: str, name: str, data_json: str | None, reference_id: str | None, now_ms: int
    ) -> bool:
        """Store a received event; False when ``reference_id`` was already used for this run and name."""
        inserted = await self._execute(
            "INSERT INTO events (run_id, name, status, data, reference_id, created_at_ms) "
            "VALUES (?, ?, 'received', ?, ?, ?) ON CONFLICT DO NOTHING",
            (run_id, name, data_json, reference_id, now_ms),
        )
        return inserted == 1

    async def insert_event_timeout(self, run_id: str, name: str | None, now_ms: int) -> None:
        """Record that the run's wait for ``name`` timed out (replay reads it as ``timeout=True``)."""
        await self._execute(
            "INSERT INTO events (run_id, name, status, created_at_ms) VALUES (?, ?, 'timeout', ?)",
            (run_id, name, now_ms),
        )

    async def count_events(self, run_id: str, name: str | None) -> int:
        """How many entries the run's queue of event ``name`` holds."""
        row = await self._fetch_one(
            "SELECT COUNT(*) AS entries FROM events WHERE run_id = ? AND name = ?", (run_id, name)
        )
        return 0 if row is None else int(row["entries"])
