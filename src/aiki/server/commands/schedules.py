"""Commands on schedules: activate (idempotent by definition, or by reference id), pause, resume,
deactivate, and read. Firing is the timer source's job (``engine.schedule_timers``)."""

from __future__ import annotations

import builtins
import hashlib

from aiki.canonical_json import JSONValue, canonical_dumps, hash_input
from aiki.contract.checks import check_options, check_value
from aiki.contract.fields import check_bounds
from aiki.contract.recurrence import parse_timing
from aiki.contract.schedules import ActivateScheduleRequest, ScheduleInfo, ScheduleStatus
from aiki.errors import NotFoundError, ScheduleConflictError
from aiki.ids import new_id
from aiki.server.engine.changes import Changes
from aiki.server.engine.core import ServerCore
from aiki.store.connection import Connection
from aiki.types import WorkflowRun

#: how often an activation runs again after losing a race for its identity
ACTIVATE_ATTEMPTS = 3


def definition_hash(request: ActivateScheduleRequest, input_hash: str) -> str:
    """A schedule's identity: workflow name, version, timing, overlap policy, input and run options."""
    definition: dict[str, JSONValue] = {
        "workflow_name": request.workflow_name,
        "version_id": request.version_id,
        "timing": request.timing,
        "overlap_policy": request.overlap_policy,
        "input_hash": input_hash,
        "run_options": request.run_options,
        "shard": request.shard,
    }
    return hashlib.sha256(canonical_dumps(definition).encode("utf-8")).hexdigest()


def _not_found(schedule_id: str) -> NotFoundError:
    return NotFoundError("schedule", schedule_id, "Check the id (and the namespace of your API key).")


class ScheduleCommands:
    """What clients can ask about schedules."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core

    async def activate(self, namespace: str, request: ActivateScheduleRequest) -> ScheduleInfo:
        """Create the schedule, or return the one with the same identity (reactivated unless active)."""
        request = request.checked()
        check_bounds(request)
        check_value(request.input, "input of the schedule's runs")
        check_options(request.run_options, "run_options")
        for _attempt in range(ACTIVATE_ATTEMPTS):
            async with self.core.write() as (connection, changes):
                info = await self._activate_in(connection, changes, namespace, request)
            if info is not None:
                return info
            # Two activations of one definition or reference raced: the loser looks again and finds it.
        raise AssertionError(f"activating a schedule lost {ACTIVATE_ATTEMPTS} races in a row")

    async def _activate_in(
        self, connection: Connection, changes: Changes, namespace: str, request: ActivateScheduleRequest
    ) -> ScheduleInfo | None:
        now_ms = self.core.clock.now_ms()
        input_hash = hash_input(request.input)
        digest = definition_hash(request, input_hash)
        reference_id = request.reference_id
        if reference_id is not None:
            existing = await connection.schedule_by_reference(namespace, reference_id)
            if existing is not None:
                if existing.definition_hash == digest:
                    return await self._reactivate(connection, changes, existing, now_ms)
                if request.conflict_policy == "return_existing":
                    return existing
                raise ScheduleConflictError(reference_id, existing.id)
        same = await connection.schedule_by_definition(
            namespace, digest, unreferenced_only=reference_id is not None
        )
        if same is not None:
            # Without a reference, the same definition is the same schedule; with one, an unreferenced
            # schedule of this definition is adopted under the reference.
            return await self._reactivate(connection, changes, same, now_ms, reference_id)
        timing = parse_timing(request.timing)
        info = ScheduleInfo(
            id=new_id(),
            namespace=namespace,
            workflow_name=request.workflow_name,
            version_id=request.version_id,
            status=ScheduleStatus.ACTIVE,
            timing=request.timing,
            overlap_policy=request.overlap_policy,
            input=request.input,
            input_hash=input_hash,
            run_options=request.run_options,
            shard=request.shard,
            definition_hash=digest,
            reference_id=reference_id,
            next_run_at_ms=timing.next_after(now_ms, grid_ms=now_ms),
            last_occurrence_ms=None,
            created_at_ms=now_ms,
            updated_at_ms=now_ms,
        )
        if not await connection.insert_schedule(info):
            return None
        changes.schedule_armed(info.id, info.workflow_name, info.next_run_at_ms)
        return info

    async def _reactivate(
        self,
        connection: Connection,
        changes: Changes,
        schedule: ScheduleInfo,
        now_ms: int,
        reference_id: str | None = None,
    ) -> ScheduleInfo:
        """An active schedule is returned as it is; a paused or inactive one starts afresh from now."""
        adopt = reference_id is not None and schedule.reference_id is None
        if schedule.status is ScheduleStatus.ACTIVE and not adopt:
            return schedule
        next_run_at_ms = None
        if schedule.status is not ScheduleStatus.ACTIVE:
            next_run_at_ms = parse_timing(schedule.timing).next_after(now_ms, grid_ms=now_ms)
            changes.schedule_armed(schedule.id, schedule.workflow_name, next_run_at_ms)
        await connection.set_schedule_status(
            schedule.namespace,
            schedule.id,
            ScheduleStatus.ACTIVE,
            now_ms,
            next_run_at_ms=next_run_at_ms,
            reference_id=reference_id if adopt else None,
        )
        return await self._get_in(connection, schedule.namespace, schedule.id)

    async def get(self, namespace: str, schedule_id: str) -> ScheduleInfo:
        async with self.core.read() as connection:
            return await self._get_in(connection, namespace, schedule_id)

    async def _get_in(self, connection: Connection, namespace: str, schedule_id: str) -> ScheduleInfo:
        info = await connection.get_schedule(namespace, schedule_id)
        if info is None:
            raise _not_found(schedule_id)
        return info

    async def pause(self, namespace: str, schedule_id: str) -> ScheduleInfo:
        """Stop firing until ``resume``; runs already started are not touched."""
        return await self._set_status(namespace, schedule_id, ScheduleStatus.PAUSED)

    async def resume(self, namespace: str, schedule_id: str) -> ScheduleInfo:
        """Fire again; what was missed meanwhile is caught up per the overlap policy."""
        return await self._set_status(namespace, schedule_id, ScheduleStatus.ACTIVE)

    async def deactivate(self, namespace: str, schedule_id: str) -> ScheduleInfo:
        """Stop firing; ``activate`` with the same definition starts it again from that moment."""
        return await self._set_status(namespace, schedule_id, ScheduleStatus.INACTIVE)

    async def _set_status(self, namespace: str, schedule_id: str, status: ScheduleStatus) -> ScheduleInfo:
        async with self.core.write() as (connection, changes):
            now_ms = self.core.clock.now_ms()
            if not await connection.set_schedule_status(namespace, schedule_id, status, now_ms):
                raise _not_found(schedule_id)
            info = await self._get_in(connection, namespace, schedule_id)
            if status is ScheduleStatus.ACTIVE:
                # A resumed schedule may be overdue: wake the timer loop for it.
                changes.schedule_armed(info.id, info.workflow_name, info.next_run_at_ms)
            return info

    async def list(
        self,
        namespace: str,
        *,
        status: ScheduleStatus | None = None,
        workflow: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
    ) -> builtins.list[ScheduleInfo]:
        """Newest first; ``before_id`` pages backwards."""
        async with self.core.read() as connection:
            return await connection.list_schedules(
                namespace, status=status, workflow=workflow, limit=limit, before_id=before_id
            )

    async def list_runs(
        self, namespace: str, schedule_id: str, limit: int = 50
    ) -> builtins.list[WorkflowRun]:
        """The runs this schedule started, latest occurrence first."""
        async with self.core.read() as connection:
            await self._get_in(connection, namespace, schedule_id)
            return await connection.runs_of_schedule(namespace, schedule_id, limit)
