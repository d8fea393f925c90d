"""The ``tasks`` table: checkpoints of task results, fenced by the run's claim."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from aiki.store.queries.base import SAME_NAMESPACE, QueryBase, Row
from aiki.types import TaskAttempt

#: the run's row while the claim is held by the caller's namespace (no row otherwise)
HELD_RUN = f"runs WHERE id = ? AND claim_token = ? AND {SAME_NAMESPACE}"


def record_task_sql(held_run: str) -> str:
    """The checkpoint: insert the result, or complete an entry that waited for its retry, selected from
    ``held_run`` so that nothing is written unless the claim is held."""
    return (
        "INSERT INTO tasks (run_id, name, address, occurrence, status, attempts, input, output, error, "
        "next_attempt_at_ms, created_at_ms, updated_at_ms, attempt_times) "
        f"SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM {held_run} "
        "ON CONFLICT (run_id, address, occurrence) WHERE status <> 'discarded' DO UPDATE SET "
        "status = excluded.status, attempts = excluded.attempts, output = excluded.output, "
        "error = excluded.error, next_attempt_at_ms = excluded.next_attempt_at_ms, "
        "updated_at_ms = excluded.updated_at_ms, "
        # The attempts of each write follow those of the writes before (text concatenation on both backends).
        "attempt_times = COALESCE(tasks.attempt_times, '') || COALESCE(excluded.attempt_times, '') "
        "WHERE tasks.status = 'awaiting_retry'"
    )


#: the checkpoint; the run's status read by its id, bound as a parameter (see ``TaskQueries.record_task``)
RECORD_TASK = record_task_sql(HELD_RUN) + " RETURNING (SELECT status FROM runs WHERE id = ?) AS run_status"


def encode_attempt_times(attempts: Sequence[TaskAttempt]) -> str | None:
    """Attempt times as stored: ``number:started_at_ms:ended_at_ms;`` each (``None`` for none)."""
    if not attempts:
        return None
    return "".join(f"{item.number}:{item.started_at_ms}:{item.ended_at_ms};" for item in attempts)


def decode_attempt_times(text: str | None) -> list[TaskAttempt]:
    """The attempt times ``encode_attempt_times`` wrote (appended write after write)."""
    if not text:
        return []
    attempts = []
    for part in text.split(";"):
        if part:
            number, started_at_ms, ended_at_ms = part.split(":")
            attempts.append(TaskAttempt(int(number), int(started_at_ms), int(ended_at_ms)))
    return attempts


class TaskRecord(NamedTuple):
    """One task result to record (JSON columns already encoded). A named tuple: one is made per checkpoint."""

    run_id: str
    claim_token: str
    name: str
    address: str
    occurrence: int
    status: str
    attempts: int
    input_json: str | None
    output_json: str | None
    error_json: str | None
    next_attempt_at_ms: int | None
    #: the attempts this write reports, as ``encode_attempt_times`` stores them
    attempt_times: str | None = None

    def values(self, now_ms: int) -> list[Any]:
        """The thirteen values of the new ``tasks`` row."""
        return [
            self.run_id,
            self.name,
            self.address,
            self.occurrence,
            self.status,
            self.attempts,
            self.input_json,
            self.output_json,
            self.error_json,
            self.next_attempt_at_ms,
            now_ms,
            now_ms,
            self.attempt_times,
        ]


class TaskQueries(QueryBase):
    async def record_task(self, namespace: str, record: TaskRecord, now_ms: int) -> str | None:
        """Record a task result under the run's claim; returns the run's status, or ``None`` when nothing
        was written (the claim is not held, or that entry was already recorded)."""
        # The run's status by its id given as a parameter: a subquery of RETURNING that named the inserted
        # row's run_id would be correlated, and SQLite plans that as a scan of every run.
        row = await self._fetch_one(
            RECORD_TASK,
            [*record.values(now_ms), record.run_id, record.claim_token, namespace, record.run_id],
        )
        return None if row is None else str(row["run_status"])

    async def recorded_task(self, run_id: str, address: str, occurrence: int) -> Row | None:
        """The entry at ``address`` #``occurrence`` (``status``, ``attempts``, ``output``, ``error`` as stored)
        with the run's status as ``run_status``; ``None`` if there is none."""
        return await self._fetch_one(
            "SELECT tasks.status, tasks.attempts, tasks.output, tasks.error, runs.status AS run_status "
            "FROM tasks JOIN runs ON runs.id = tasks.run_id WHERE tasks.run_id = ? AND tasks.address = ? "
            "AND tasks.occurrence = ? AND tasks.status <> 'discarded'",
            (run_id, address, occurrence),
        )

    async def discard_unfinished_tasks(self, run_id: str) -> None:
        """A new workflow attempt re-runs every task that did not complete: set their entries aside."""
        await self._execute(
            "UPDATE tasks SET status = 'discarded' WHERE run_id = ? AND status IN ('failed', 'awaiting_retry')",
            (run_id,),
        )
