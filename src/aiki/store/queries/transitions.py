"""The ``transitions`` table: a run's timeline, one row per status change."""

from __future__ import annotations

from aiki.canonical_json import loads
from aiki.store.queries.base import QueryBase
from aiki.types import Transition

TRANSITION_COLUMNS = "run_id, revision, attempt, from_status, to_status, reason, state, created_at_ms"


def transition_insert(source: str) -> str:
    """The one statement shape that writes timeline rows: ``INSERT INTO transitions (...) <source>``.

    ``source`` is ``VALUES (?, ?, ?, ?, ?, ?, ?, ?)`` or a ``SELECT`` of those eight columns (PostgreSQL
    writes a run's change and its timeline row in one statement that way).
    """
    return f"INSERT INTO transitions ({TRANSITION_COLUMNS}) {source}"


INSERT_TRANSITION = transition_insert("VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


class TransitionQueries(QueryBase):
    async def list_transitions(self, run_id: str) -> list[Transition]:
        """The run's timeline, oldest first."""
        rows = await self._fetch_all(
            "SELECT revision, attempt, from_status, to_status, reason, state, created_at_ms FROM transitions "
            "WHERE run_id = ? ORDER BY id",
            (run_id,),
        )
        return [
            Transition(
                revision=int(row["revision"]),
                attempt=int(row["attempt"]),
                from_status=row["from_status"],
                to_status=row["to_status"],
                reason=row["reason"],
                state=loads(row["state"]),  # type: ignore[arg-type]
                created_at_ms=int(row["created_at_ms"]),
            )
            for row in rows
        ]
