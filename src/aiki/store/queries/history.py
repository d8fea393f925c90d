"""A run's recorded history (tasks, sleeps, events, children, child waits), read in one query."""

from __future__ import annotations

from aiki.canonical_json import loads
from aiki.store.queries.base import QueryBase, Row
from aiki.store.queries.tasks import decode_attempt_times
from aiki.types import ChildEntry, ChildWaitEntry, EventEntry, RunHistory, SleepEntry, TaskEntry

HISTORY_SQL = (
    "SELECT 'task' AS kind, id, name, address, occurrence, status, attempts AS number, output AS data, error, "
    "next_attempt_at_ms AS t1, CAST(NULL AS BIGINT) AS t2, CAST(NULL AS BIGINT) AS t3, attempt_times AS ref "
    "FROM tasks WHERE run_id = ? AND status <> 'discarded' "
    "UNION ALL SELECT 'sleep', id, name, NULL, occurrence, status, duration_ms, NULL, NULL, started_at_ms, "
    "wake_at_ms, ended_at_ms, NULL FROM sleeps WHERE run_id = ? "
    "UNION ALL SELECT 'event', id, name, NULL, NULL, status, NULL, data, NULL, NULL, NULL, NULL, reference_id "
    "FROM events WHERE run_id = ? "
    "UNION ALL SELECT 'child', id, NULL, address, occurrence, NULL, NULL, NULL, NULL, NULL, NULL, NULL, child_run_id "
    "FROM child_runs WHERE parent_run_id = ? "
    "UNION ALL SELECT 'wait', id, awaited_status, NULL, NULL, status, NULL, child_state, NULL, NULL, NULL, NULL, "
    "child_run_id FROM child_waits WHERE parent_run_id = ? "
    "ORDER BY kind, id"
)


class HistoryQueries(QueryBase):
    async def load_history(self, run_id: str) -> RunHistory:
        """Everything a replay of ``run_id`` needs, in record order, read in one query (one round trip)."""
        return history_from_rows(await self._fetch_all(HISTORY_SQL, (run_id,) * 5))


def history_from_rows(rows: list[Row]) -> RunHistory:
    """The history the rows of ``HISTORY_SQL`` describe."""
    history = RunHistory()
    for row in rows:
        kind = row["kind"]
        if kind == "task":
            history.tasks.append(
                TaskEntry(
                    name=row["name"],
                    address=row["address"],
                    occurrence=int(row["occurrence"]),
                    status=row["status"],
                    attempts=int(row["number"]),
                    output=loads(row["data"]),
                    error=loads(row["error"]),  # type: ignore[arg-type]
                    next_attempt_at_ms=row["t1"],
                    attempt_times=decode_attempt_times(row["ref"]),
                )
            )
        elif kind == "sleep":
            history.sleeps.append(
                SleepEntry(
                    name=row["name"],
                    occurrence=int(row["occurrence"]),
                    status=row["status"],
                    duration_ms=int(row["number"]),
                    started_at_ms=int(row["t1"]),
                    wake_at_ms=int(row["t2"]),
                    ended_at_ms=row["t3"],
                )
            )
        elif kind == "event":
            history.events.append(
                EventEntry(
                    name=row["name"], status=row["status"], data=loads(row["data"]), reference_id=row["ref"]
                )
            )
        elif kind == "child":
            history.children.append(
                ChildEntry(address=row["address"], occurrence=int(row["occurrence"]), child_run_id=row["ref"])
            )
        else:
            history.child_waits.append(
                ChildWaitEntry(
                    child_run_id=row["ref"],
                    awaited_status=row["name"],
                    status=row["status"],
                    child_state=loads(row["data"]),  # type: ignore[arg-type]
                )
            )
    return history
