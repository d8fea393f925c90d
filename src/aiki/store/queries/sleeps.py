"""The ``sleeps`` table: durable sleeps, per name and occurrence."""

from __future__ import annotations

from collections.abc import Sequence

from aiki.store.queries.base import QueryBase, Row, marks, padded_batches


class SleepQueries(QueryBase):
    async def end_active_sleep(self, run_id: str, status: str, now_ms: int) -> None:
        """End the run's current sleep as ``completed`` (it woke) or ``cancelled`` (woken early, cancelled)."""
        await self._execute(
            "UPDATE sleeps SET status = ?, ended_at_ms = ? WHERE run_id = ? AND status = 'sleeping'",
            (status, now_ms, run_id),
        )

    async def end_active_sleeps(self, run_ids: Sequence[str], status: str, now_ms: int) -> None:
        """``end_active_sleep`` for several runs, one statement per ``MAX_IDS_PER_STATEMENT`` of them."""
        for batch in padded_batches(run_ids):
            await self._execute(
                f"UPDATE sleeps SET status = ?, ended_at_ms = ? WHERE run_id IN ({marks(len(batch))}) "
                "AND status = 'sleeping'",
                (status, now_ms, *batch),
            )

    async def get_sleep(self, run_id: str, name: str, occurrence: int) -> Row | None:
        """``status``, ``started_at_ms`` and ``ended_at_ms`` of one recorded sleep."""
        return await self._fetch_one(
            "SELECT status, started_at_ms, ended_at_ms FROM sleeps WHERE run_id = ? AND name = ? "
            "AND occurrence = ?",
            (run_id, name, occurrence),
        )

    async def start_sleep(
        self, run_id: str, name: str, occurrence: int, duration_ms: int, now_ms: int, wake_at_ms: int
    ) -> None:
        await self._execute(
            "INSERT INTO sleeps (run_id, name, occurrence, status, duration_ms, started_at_ms, wake_at_ms) "
            "VALUES (?, ?, ?, 'sleeping', ?, ?, ?)",
            (run_id, name, occurrence, duration_ms, now_ms, wake_at_ms),
        )

    async def restart_sleep(
        self, run_id: str, name: str, occurrence: int, duration_ms: int, wake_at_ms: int
    ) -> None:
        """Sleep a finished sleep again (its duration was made longer in code)."""
        await self._execute(
            "UPDATE sleeps SET status = 'sleeping', duration_ms = ?, wake_at_ms = ?, ended_at_ms = NULL "
            "WHERE run_id = ? AND name = ? AND occurrence = ?",
            (duration_ms, wake_at_ms, run_id, name, occurrence),
        )
