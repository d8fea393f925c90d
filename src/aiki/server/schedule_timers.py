"""The schedules' timer source: each active schedule's ``next_run_at_ms`` is a deadline of the one timer
loop; when it comes, the schedule mints its runs per its overlap policy.

Each occurrence mints at most one run, even with several servers on one database:

* due schedules are read with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite write transactions are
  exclusive), so two servers never handle one schedule at once;
* the schedule advances by compare-and-set on the ``next_run_at_ms`` that was read;
* each run's reference id is ``schedule:{schedule_id}:{occurrence_ms}``, unique per workflow version, so a
  second start of one occurrence returns the run that exists.
"""

from __future__ import annotations

from aiki.contract import StartRequest
from aiki.recurrence import parse_timing
from aiki.schedule_contract import ScheduleInfo
from aiki.server.changes import Changes
from aiki.server.run_commands import RunCommands
from aiki.server.transitions import apply_transition
from aiki.store.database import Connection
from aiki.store.run_rows import RUN_COLUMNS, run_from_row
from aiki.store.schedule_rows import SCHEDULE_COLUMNS, advance_schedule, schedule_from_row
from aiki.types import RunState, RunStatus, WorkflowRun


def occurrence_reference_id(schedule_id: str, occurrence_ms: int) -> str:
    """The reference id of the run a schedule mints for one occurrence."""
    return f"schedule:{schedule_id}:{occurrence_ms}"


class ScheduleTimers:
    """Fires due schedules; registered with ``srv.runtime.add_source``."""

    def __init__(self, runs: RunCommands, skip_locked: str) -> None:
        self.runs = runs
        self.skip_locked = skip_locked

    async def fire_due(self, connection: Connection, changes: Changes, now_ms: int, limit: int) -> int:
        """Handle up to ``limit`` due occurrences; returns how many (``limit`` means: call again)."""
        rows = await connection.fetch_all(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE status = 'active' AND next_run_at_ms <= ? "
            f"ORDER BY next_run_at_ms LIMIT ?{self.skip_locked}",
            (now_ms, limit),
        )
        handled = 0
        for row in rows:
            if handled >= limit:
                break
            handled += await self._fire(connection, changes, schedule_from_row(row), now_ms, limit - handled)
        return handled

    async def next_deadline(self, connection: Connection) -> int | None:
        row = await connection.fetch_one(
            "SELECT MIN(next_run_at_ms) AS due FROM schedules WHERE status = 'active'"
        )
        return None if row is None or row["due"] is None else int(row["due"])

    async def _fire(
        self, connection: Connection, changes: Changes, schedule: ScheduleInfo, now_ms: int, budget: int
    ) -> int:
        """Fire what is due of one schedule, at most ``budget`` occurrences; returns how many were handled."""
        timing = parse_timing(schedule.timing)
        due_ms = schedule.next_run_at_ms
        if schedule.overlap_policy == "allow":
            # Every missed occurrence fires; a long catch-up continues in the next batch.
            occurrences = [due_ms]
            while len(occurrences) < budget:
                following = timing.next_after(occurrences[-1], grid_ms=due_ms)
                if following > now_ms:
                    break
                occurrences.append(following)
            next_run_at_ms = timing.next_after(occurrences[-1], grid_ms=due_ms)
            if not await advance_schedule(
                connection, schedule.id, due_ms, next_run_at_ms, occurrences[-1], now_ms
            ):
                return 0
            for occurrence_ms in occurrences:
                await self._mint(connection, changes, schedule, occurrence_ms)
            return len(occurrences)
        # skip and cancel_previous: only the latest missed occurrence counts.
        latest_ms = max(due_ms, timing.latest_at_or_before(now_ms, grid_ms=due_ms))
        next_run_at_ms = timing.next_after(latest_ms, grid_ms=due_ms)
        active = await self._active_runs(
            connection, schedule, lock=schedule.overlap_policy == "cancel_previous"
        )
        if active and schedule.overlap_policy == "skip":
            last_ms = schedule.last_occurrence_ms
            moved = await advance_schedule(connection, schedule.id, due_ms, next_run_at_ms, last_ms, now_ms)
            return 1 if moved else 0
        if not await advance_schedule(connection, schedule.id, due_ms, next_run_at_ms, latest_ms, now_ms):
            return 0
        for run in active:
            reason = f"schedule {schedule.id} started a new run (overlap policy cancel_previous)"
            await apply_transition(
                connection, run, RunState(RunStatus.CANCELLED, reason=reason), changes, now_ms
            )
        await self._mint(connection, changes, schedule, latest_ms)
        return 1

    async def _active_runs(
        self, connection: Connection, schedule: ScheduleInfo, *, lock: bool
    ) -> list[WorkflowRun]:
        """The schedule's runs that have not finished (any status but completed, failed and cancelled)."""
        suffix = " FOR UPDATE" if lock and connection.dialect == "postgres" else ""
        rows = await connection.fetch_all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE schedule_id = ? AND namespace = ? "
            f"AND status NOT IN ('completed', 'failed', 'cancelled') ORDER BY id{suffix}",
            (schedule.id, schedule.namespace),
        )
        return [run_from_row(row) for row in rows]

    async def _mint(
        self, connection: Connection, changes: Changes, schedule: ScheduleInfo, occurrence_ms: int
    ) -> None:
        request = StartRequest(
            name=schedule.workflow_name,
            version_id=schedule.version_id,
            input=schedule.input,
            input_hash=schedule.input_hash,
            options=schedule.run_options,
            shard=schedule.shard,
            reference_id=occurrence_reference_id(schedule.id, occurrence_ms),
            conflict_policy="return_existing",
            schedule_id=schedule.id,
        )
        await self.runs._start_in(connection, changes, schedule.namespace, request)
