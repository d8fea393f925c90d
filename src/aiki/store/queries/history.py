"""Runs' recorded histories (tasks, sleeps, events, children, child waits), read in one query."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Sequence

from aiki.canonical_json import loads
from aiki.store.queries.base import QueryBase, Row, padded_batches
from aiki.store.queries.tasks import decode_attempt_times
from aiki.types import ChildEntry, ChildWaitEntry, EventEntry, RunHistory, SleepEntry, TaskEntry


@functools.lru_cache(maxsize=16)
def histories_sql(count: int) -> str:
    """The recorded entries of ``count`` runs (each id given five times, once per table), with the run each
    belongs to as ``owner``, in record order per run. Callers pad their lists to a power of two, so that
    few statement texts exist (each prepared once)."""
    runs = "IN (" + ", ".join("?" for _ in range(count)) + ")"
    return (
        "SELECT run_id AS owner, 'task' AS kind, id, name, address, occurrence, status, attempts AS number, "
        "output AS data, error, next_attempt_at_ms AS t1, CAST(NULL AS BIGINT) AS t2, "
        f"CAST(NULL AS BIGINT) AS t3, attempt_times AS ref FROM tasks WHERE run_id {runs} "
        "AND status <> 'discarded' "
        "UNION ALL SELECT run_id, 'sleep', id, name, NULL, occurrence, status, duration_ms, NULL, NULL, "
        f"started_at_ms, wake_at_ms, ended_at_ms, NULL FROM sleeps WHERE run_id {runs} "
        "UNION ALL SELECT run_id, 'event', id, name, NULL, NULL, status, NULL, data, NULL, NULL, NULL, NULL, "
        f"reference_id FROM events WHERE run_id {runs} "
        "UNION ALL SELECT parent_run_id, 'child', id, NULL, address, occurrence, NULL, NULL, NULL, NULL, NULL, "
        f"NULL, NULL, child_run_id FROM child_runs WHERE parent_run_id {runs} "
        "UNION ALL SELECT parent_run_id, 'wait', id, awaited_status, NULL, NULL, status, NULL, child_state, NULL, "
        f"NULL, NULL, NULL, child_run_id FROM child_waits WHERE parent_run_id {runs} "
        "ORDER BY owner, kind, id"
    )


class HistoryQueries(QueryBase):
    async def load_history(self, run_id: str) -> RunHistory:
        """Everything a replay of ``run_id`` needs, in record order, read in one query (one round trip)."""
        return (await self.load_histories([run_id]))[run_id]

    async def load_histories(self, run_ids: Sequence[str]) -> dict[str, RunHistory]:
        """The histories of several runs (a claim's), read in one query per ``MAX_IDS_PER_STATEMENT`` runs."""
        histories = {run_id: RunHistory() for run_id in run_ids}
        for batch in padded_batches(run_ids):
            rows = await self._fetch_all(histories_sql(len(batch)), batch * 5)
            for owner, owned in itertools.groupby(rows, key=lambda row: row["owner"]):
                add_rows(histories[owner], owned)
        return histories


def add_rows(history: RunHistory, rows: Iterable[Row]) -> None:
    """Add the entries the rows of ``histories_sql`` describe to ``history`` (rows of one run, in order)."""
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
