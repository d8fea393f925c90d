"""Commands on schedules: activate (idempotent by definition, or by reference id), pause, resume,
deactivate, and read. Firing is the timer source's job (``schedule_timers``)."""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiki.canonical_json import JSONValue, canonical_dumps, hash_input
from aiki.errors import InvalidOptionError, NotFoundError, ScheduleConflictError
from aiki.ids import new_id
from aiki.recurrence import parse_timing
from aiki.schedule_contract import ActivateScheduleRequest, ScheduleInfo, ScheduleStatus
from aiki.server.changes import Changes
from aiki.server.core import ServerCore
from aiki.server.run_commands import _is_unique_violation
from aiki.store.database import Connection
from aiki.store.run_rows import RUN_COLUMNS, run_from_row
from aiki.store.schedule_rows import (
    SCHEDULE_COLUMNS,
    fetch_schedule_by_definition,
    fetch_schedule_by_reference,
    fetch_schedule_row,
    insert_schedule,
    schedule_from_row,
    schedule_values,
    set_schedule_status,
)
from aiki.types import WorkflowRun

MAX_LIST_LIMIT = 1000


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


def _schedule_id(payload: Mapping[str, Any]) -> str:
    schedule_id = payload.get("id") if isinstance(payload, Mapping) else None
    if not isinstance(schedule_id, str) or not schedule_id:
        raise InvalidOptionError(
            f"A schedule operation needs the schedule's 'id' (a string), got {payload!r}."
        )
    return schedule_id


def _limit(payload: Mapping[str, Any]) -> int:
    limit = payload.get("limit", 50)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidOptionError(f"'limit' must be a positive integer, got {limit!r}.")
    return min(limit, MAX_LIST_LIMIT)


class ScheduleCommands:
    """``server.extensions["schedules"]``: what clients can ask about schedules."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core
        self._operations: dict[str, Callable[[str, Mapping[str, Any]], Awaitable[Any]]] = {
            "activate": self._call_activate,
            "get": self._call_get,
            "pause": self._call_pause,
            "resume": self._call_resume,
            "deactivate": self._call_deactivate,
            "list": self._call_list,
            "list_runs": self._call_list_runs,
        }

    async def call(self, namespace: str, operation: str, payload: Mapping[str, Any]) -> Any:
        """Run ``operation`` with a JSON ``payload``; returns a JSON-able result (see schedule_contract)."""
        if not isinstance(payload, Mapping):
            raise InvalidOptionError(
                f"The payload of schedules.{operation} must be a JSON object, got {payload!r}."
            )
        handler = self._operations.get(operation)
        if handler is None:
            raise NotFoundError(
                "schedule operation", operation, f"The operations are: {', '.join(sorted(self._operations))}."
            )
        return await handler(namespace, payload)

    async def activate(self, namespace: str, request: ActivateScheduleRequest) -> ScheduleInfo:
        """Create the schedule, or return the one with the same identity (reactivated unless active)."""
        for attempt in range(3):
            try:
                async with self.core.write() as (connection, changes):
                    return await self._activate_in(connection, changes, namespace, request)
            except Exception as error:
                # Two activations of one definition or reference raced: the loser looks again and finds it.
                if not _is_unique_violation(error) or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _activate_in(
        self, connection: Connection, changes: Changes, namespace: str, request: ActivateScheduleRequest
    ) -> ScheduleInfo:
        now_ms = self.core.clock.now_ms()
        input_hash = hash_input(request.input)
        digest = definition_hash(request, input_hash)
        reference_id = request.reference_id
        if reference_id is not None:
            by_reference = await fetch_schedule_by_reference(connection, namespace, reference_id)
            if by_reference is not None:
                existing = schedule_from_row(by_reference)
                if existing.definition_hash == digest:
                    return await self._reactivate(connection, changes, existing, now_ms)
                if request.conflict_policy == "return_existing":
                    return existing
                raise ScheduleConflictError(reference_id, existing.id)
        row = await fetch_schedule_by_definition(
            connection, namespace, digest, unreferenced_only=reference_id is not None
        )
        if row is not None:
            # Without a reference, the same definition is the same schedule; with one, an unreferenced
            # schedule of this definition is adopted under the reference.
            return await self._reactivate(connection, changes, schedule_from_row(row), now_ms, reference_id)
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
        await insert_schedule(connection, schedule_values(info))
        changes.deadline(info.next_run_at_ms)
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
            changes.deadline(next_run_at_ms)
        await set_schedule_status(
            connection,
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
        row = await fetch_schedule_row(connection, namespace, schedule_id)
        if row is None:
            raise NotFoundError("schedule", schedule_id, "Check the id (and the namespace of your API key).")
        return schedule_from_row(row)

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
            if not await set_schedule_status(connection, namespace, schedule_id, status, now_ms):
                raise NotFoundError(
                    "schedule", schedule_id, "Check the id (and the namespace of your API key)."
                )
            info = await self._get_in(connection, namespace, schedule_id)
            if status is ScheduleStatus.ACTIVE:
                # A resumed schedule may be overdue: wake the timer loop for it.
                changes.deadline(info.next_run_at_ms)
            return info

    async def list(
        self,
        namespace: str,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
    ) -> list[ScheduleInfo]:
        """Newest first; ``before_id`` pages backwards."""
        clauses = ["namespace = ?"]
        params: list[Any] = [namespace]
        if status is not None:
            try:
                clauses.append("status = ?")
                params.append(ScheduleStatus(status).value)
            except ValueError:
                valid = ", ".join(item.value for item in ScheduleStatus)
                raise InvalidOptionError(
                    f"Schedule status {status!r} is unknown; use one of: {valid}."
                ) from None
        if workflow is not None:
            clauses.append("workflow_name = ?")
            params.append(workflow)
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        params.append(max(1, min(limit, MAX_LIST_LIMIT)))
        async with self.core.read() as connection:
            rows = await connection.fetch_all(
                f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE {' AND '.join(clauses)} "
                "ORDER BY id DESC LIMIT ?",
                params,
            )
        return [schedule_from_row(row) for row in rows]

    async def list_runs(
        self, namespace: str, schedule_id: str, limit: int = 50
    ) -> builtins.list[WorkflowRun]:
        """The runs this schedule started, latest occurrence first."""
        async with self.core.read() as connection:
            await self._get_in(connection, namespace, schedule_id)
            rows = await connection.fetch_all(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE schedule_id = ? AND namespace = ? "
                "ORDER BY reference_id DESC LIMIT ?",
                (schedule_id, namespace, max(1, min(limit, MAX_LIST_LIMIT))),
            )
        return [run_from_row(row) for row in rows]

    async def _call_activate(self, namespace: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        return (await self.activate(namespace, ActivateScheduleRequest.from_dict(payload))).to_dict()

    async def _call_get(self, namespace: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        return (await self.get(namespace, _schedule_id(payload))).to_dict()

    async def _call_pause(self, namespace: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        return (await self.pause(namespace, _schedule_id(payload))).to_dict()

    async def _call_resume(self, namespace: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        return (await self.resume(namespace, _schedule_id(payload))).to_dict()

    async def _call_deactivate(self, namespace: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        return (await self.deactivate(namespace, _schedule_id(payload))).to_dict()

    async def _call_list(self, namespace: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        filters = {}
        for name in ("status", "workflow", "before_id"):
            value = payload.get(name)
            if value is not None and not isinstance(value, str):
                raise InvalidOptionError(f"Schedule list filter {name!r} must be a string, got {value!r}.")
            filters[name] = value
        schedules = await self.list(
            namespace,
            status=filters["status"],
            workflow=filters["workflow"],
            before_id=filters["before_id"],
            limit=_limit(payload),
        )
        return {"schedules": [info.to_dict() for info in schedules]}

    async def _call_list_runs(self, namespace: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        runs = await self.list_runs(namespace, _schedule_id(payload), _limit(payload))
        return {"runs": [run.to_dict() for run in runs]}
