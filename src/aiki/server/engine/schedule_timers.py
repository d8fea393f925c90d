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
from aiki.contract.recurrence import parse_timing
from aiki.contract.schedules import ScheduleInfo
from aiki.server.engine.changes import Changes
from aiki.server.engine.settings import ServerSettings
from aiki.server.engine.starts import create_run
from aiki.server.engine.transitions import apply_transition
from aiki.store.connection import Connection
from aiki.types import RunState, RunStatus


def occurrence_reference_id(schedule_id: str, occurrence_ms: int) -> str:
    """The reference id of the run a schedule mints for one occurrence."""
    return f"schedule:{schedule_id}:{occurrence_ms}"


class ScheduleTimers:
    """Fires due schedules; registered with ``srv.runtime.add_source``."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings

    async def fire_due(self, connection: Connection, changes: Changes, now_ms: int, limit: int) -> int:
        """Handle up to ``limit`` due occurrences; returns how many (``limit`` means: call again)."""
        handled = 0
        for schedule in await connection.due_schedules(now_ms, limit):
            if handled >= limit:
                break
            handled += await self._fire(connection, changes, schedule, now_ms, limit - handled)
        return handled

    async def next_deadline(self, connection: Connection) -> int | None:
        return await connection.next_schedule_deadline()

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
            if not await connection.advance_schedule(
                schedule.id, due_ms, next_run_at_ms, occurrences[-1], now_ms
            ):
                return 0
            for occurrence_ms in occurrences:
                await self._mint(connection, changes, schedule, occurrence_ms, now_ms)
            return len(occurrences)
        # skip and cancel_previous: only the latest missed occurrence counts.
        latest_ms = max(due_ms, timing.latest_at_or_before(now_ms, grid_ms=due_ms))
        next_run_at_ms = timing.next_after(latest_ms, grid_ms=due_ms)
        active = await connection.unfinished_runs_of_schedule(
            schedule.namespace, schedule.id, for_update=schedule.overlap_policy == "cancel_previous"
        )
        if active and schedule.overlap_policy == "skip":
            last_ms = schedule.last_occurrence_ms
            moved = await connection.advance_schedule(schedule.id, due_ms, next_run_at_ms, last_ms, now_ms)
            return 1 if moved else 0
        if not await connection.advance_schedule(schedule.id, due_ms, next_run_at_ms, latest_ms, now_ms):
            return 0
        for run in active:
            reason = f"schedule {schedule.id} started a new run (overlap policy cancel_previous)"
            await apply_transition(
                connection, run, RunState(RunStatus.CANCELLED, reason=reason), changes, now_ms, self.settings
            )
        await self._mint(connection, changes, schedule, latest_ms, now_ms)
        return 1

    async def _mint(
        self,
        connection: Connection,
        changes: Changes,
        schedule: ScheduleInfo,
        occurrence_ms: int,
        now_ms: int,
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
        await create_run(connection, changes, schedule.namespace, request, now_ms, self.settings)
