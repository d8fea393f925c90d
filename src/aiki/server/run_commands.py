"""Commands on runs from outside a workflow: start, read, list, cancel, pause, resume, awake, wait."""

from __future__ import annotations

import asyncio
from typing import Any

from aiki.canonical_json import dumps
from aiki.contract import StartRequest
from aiki.errors import InvalidTransitionError, NotFoundError, RevisionConflictError, WorkflowRunConflictError
from aiki.ids import new_id
from aiki.server.changes import Changes
from aiki.server.core import ServerCore, is_transient_conflict
from aiki.server.transitions import apply_transition
from aiki.server.waits import enter_state
from aiki.store.database import Connection
from aiki.store.history_rows import load_history
from aiki.store.run_rows import (
    RUN_COLUMNS,
    fetch_run_row,
    insert_run,
    list_transitions,
    run_from_row,
)
from aiki.types import (
    TERMINAL_STATUSES,
    RunHistory,
    RunState,
    RunStatus,
    Transition,
    WorkflowRun,
    parse_status,
)

PAUSABLE = frozenset(
    {
        RunStatus.SCHEDULED,
        RunStatus.QUEUED,
        RunStatus.RUNNING,
        RunStatus.SLEEPING,
        RunStatus.AWAITING_EVENT,
        RunStatus.AWAITING_RETRY,
        RunStatus.AWAITING_CHILD_WORKFLOW,
    }
)


def _is_unique_violation(error: BaseException) -> bool:
    return is_transient_conflict(error)


async def get_run_in(
    connection: Connection, namespace: str, run_id: str, *, for_update: bool = False
) -> WorkflowRun:
    """The run, or ``NotFoundError``."""
    row = await fetch_run_row(connection, namespace, run_id, for_update=for_update)
    if row is None:
        raise NotFoundError("workflow run", run_id, "Check the id (and the namespace of your API key).")
    return run_from_row(row)


def _moved(run: WorkflowRun, known_revision: int, until_terminal: bool) -> bool:
    return run.revision != known_revision and (not until_terminal or run.status in TERMINAL_STATUSES)


class RunCommands:
    """Start and steer runs."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core

    async def start(self, namespace: str, request: StartRequest) -> WorkflowRun:
        """Create a run, or return the one its reference id already names (same input)."""

        # A plain start (no parent, no reference id) is one statement: one round trip on PostgreSQL.
        plain = request.parent is None and request.reference_id is None

        async def attempt() -> WorkflowRun:
            async with self.core.write(single_statement=plain) as (connection, changes):
                return await self._start_in(connection, changes, namespace, request)

        # Two starts may race on one reference id (or one child address): the loser looks again.
        return await self.core.retrying(attempt)

    async def _start_in(
        self, connection: Connection, changes: Changes, namespace: str, request: StartRequest
    ) -> WorkflowRun:
        now_ms = self.core.clock.now_ms()
        parent = request.parent
        if parent is not None:
            parent_row = await fetch_run_row(connection, namespace, parent.run_id, for_update=True)
            if parent_row is None:
                raise NotFoundError("workflow run", parent.run_id)
            if parent_row["claim_token"] != parent.claim_token:
                raise RevisionConflictError(
                    parent.run_id, None, "the parent run is no longer claimed by this worker"
                )
            linked = await connection.fetch_one(
                "SELECT child_run_id FROM child_runs WHERE parent_run_id = ? AND address = ? AND occurrence = ?",
                (parent.run_id, parent.address, parent.occurrence),
            )
            if linked is not None:
                return await get_run_in(connection, namespace, linked["child_run_id"])
        if request.reference_id is not None:
            existing = await connection.fetch_one(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE namespace = ? AND workflow_name = ? AND version_id = ? "
                "AND reference_id = ?",
                (namespace, request.name, request.version_id, request.reference_id),
            )
            if existing is not None:
                run = run_from_row(existing)
                if run.input_hash != request.input_hash and request.conflict_policy != "return_existing":
                    raise WorkflowRunConflictError(
                        request.name, request.version_id, request.reference_id, run.id
                    )
                if parent is not None:
                    await self._link_child(
                        connection, parent.run_id, parent.address, parent.occurrence, run.id, now_ms
                    )
                return run
        start_at_ms = request.at_ms if request.at_ms is not None else now_ms + (request.delay_ms or 0)
        if start_at_ms > now_ms:
            state = RunState(RunStatus.SCHEDULED, reason="new", scheduled_at_ms=start_at_ms)
            due_at_ms: int | None = start_at_ms
        else:
            state = RunState(RunStatus.QUEUED, reason="new")
            due_at_ms = None
        run_id = new_id()
        await insert_run(
            connection,
            {
                "id": run_id,
                "namespace": namespace,
                "workflow_name": request.name,
                "version_id": request.version_id,
                "status": state.status.value,
                "state": dumps(state.to_dict()),
                "input": dumps(request.input),
                "input_hash": request.input_hash,
                "options": dumps(request.options),
                "shard": request.shard,
                "reference_id": request.reference_id,
                "parent_run_id": parent.run_id if parent else None,
                "schedule_id": request.schedule_id,
                "waiting_on": None,
                "revision": 0,
                "attempts": 1,
                "due_at_ms": due_at_ms,
                "claim_token": None,
                "worker_id": None,
                "created_at_ms": now_ms,
                "updated_at_ms": now_ms,
            },
            state,
        )
        if parent is not None:
            await self._link_child(
                connection, parent.run_id, parent.address, parent.occurrence, run_id, now_ms
            )
        changes.runs.add(run_id)
        changes.deadline(due_at_ms)
        changes.queued = changes.queued or state.status is RunStatus.QUEUED
        return WorkflowRun(
            id=run_id,
            namespace=namespace,
            name=request.name,
            version_id=request.version_id,
            input=request.input,
            input_hash=request.input_hash,
            state=state,
            revision=0,
            attempts=1,
            options=request.options,
            shard=request.shard,
            reference_id=request.reference_id,
            parent_run_id=parent.run_id if parent else None,
            schedule_id=request.schedule_id,
            created_at_ms=now_ms,
            updated_at_ms=now_ms,
        )

    async def _link_child(
        self,
        connection: Connection,
        parent_id: str,
        address: str,
        occurrence: int,
        child_id: str,
        now_ms: int,
    ) -> None:
        await connection.execute(
            "INSERT INTO child_runs (parent_run_id, address, occurrence, child_run_id, created_at_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            (parent_id, address, occurrence, child_id, now_ms),
        )

    async def get(self, namespace: str, run_id: str) -> WorkflowRun:
        async with self.core.read() as connection:
            return await get_run_in(connection, namespace, run_id)

    async def history(self, namespace: str, run_id: str) -> RunHistory:
        async with self.core.read() as connection:
            await get_run_in(connection, namespace, run_id)
            return await load_history(connection, run_id)

    async def timeline(self, namespace: str, run_id: str) -> list[Transition]:
        async with self.core.read() as connection:
            await get_run_in(connection, namespace, run_id)
            return await list_transitions(connection, run_id)

    async def list(
        self,
        namespace: str,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
    ) -> list[WorkflowRun]:
        """Newest first; ``before_id`` pages backwards."""
        clauses = ["namespace = ?"]
        params: list[Any] = [namespace]
        if status is not None:
            clauses.append("status = ?")
            params.append(parse_status(status, "status filter").value)
        if workflow is not None:
            clauses.append("workflow_name = ?")
            params.append(workflow)
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        params.append(max(1, min(limit, 1000)))
        async with self.core.read() as connection:
            rows = await connection.fetch_all(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?",
                params,
            )
        return [run_from_row(row) for row in rows]

    async def cancel(self, namespace: str, run_id: str, reason: str | None = None) -> WorkflowRun:
        """Cancel the run (and its children that are still going)."""
        # Cancelling a parent while a child finishes may deadlock on PostgreSQL (parent then child, child
        # then parent): the database aborts one side, which then simply runs again.
        return await self.core.retrying(lambda: self._cancel(namespace, run_id, reason))

    async def _cancel(self, namespace: str, run_id: str, reason: str | None) -> WorkflowRun:
        async with self.core.write() as (connection, changes):
            run = await get_run_in(connection, namespace, run_id, for_update=True)
            if run.status in TERMINAL_STATUSES:
                raise InvalidTransitionError(
                    run.id, run.status.value, "cancelled", "The run has already finished; nothing to cancel."
                )
            state = RunState(RunStatus.CANCELLED, reason=reason)
            return await apply_transition(connection, run, state, changes, self.core.clock.now_ms())

    async def pause(self, namespace: str, run_id: str) -> WorkflowRun:
        """Pause: no new task starts, no timer fires, until ``resume``."""
        async with self.core.write() as (connection, changes):
            run = await get_run_in(connection, namespace, run_id, for_update=True)
            if run.status not in PAUSABLE:
                raise InvalidTransitionError(
                    run.id,
                    run.status.value,
                    "paused",
                    "Only a run that has not finished and is not paused can be paused.",
                )
            state = RunState(RunStatus.PAUSED, reason="paused", previous=run.state)
            return await apply_transition(connection, run, state, changes, self.core.clock.now_ms())

    async def resume(self, namespace: str, run_id: str) -> WorkflowRun:
        """Put a paused run back where it was; a deadline that passed meanwhile fires at once."""
        async with self.core.write() as (connection, changes):
            run = await get_run_in(connection, namespace, run_id, for_update=True)
            previous = run.state.previous
            if run.status is not RunStatus.PAUSED or previous is None:
                raise InvalidTransitionError(
                    run.id,
                    run.status.value,
                    "its status before the pause",
                    "Only a paused run can be resumed.",
                )
            now_ms = self.core.clock.now_ms()
            if previous.status in (RunStatus.QUEUED, RunStatus.RUNNING):
                target = RunState(RunStatus.QUEUED, reason="resumption")
                return await apply_transition(connection, run, target, changes, now_ms)
            restored = RunState.from_dict({**previous.to_dict(), "reason": "resumption"})
            return await enter_state(connection, run, restored, changes, now_ms)

    async def awake(self, namespace: str, run_id: str) -> WorkflowRun:
        """Wake a sleeping run early: its ``run.sleep`` returns ``cancelled=True``."""
        async with self.core.write() as (connection, changes):
            run = await get_run_in(connection, namespace, run_id, for_update=True)
            if run.status is not RunStatus.SLEEPING:
                raise InvalidTransitionError(
                    run.id, run.status.value, "queued", "Only a sleeping run can be awoken."
                )
            now_ms = self.core.clock.now_ms()
            await connection.execute(
                "UPDATE sleeps SET status = 'cancelled', ended_at_ms = ? WHERE run_id = ? AND status = 'sleeping'",
                (now_ms, run.id),
            )
            target = RunState(RunStatus.QUEUED, reason="wakeup_early")
            return await apply_transition(connection, run, target, changes, now_ms)

    async def wait_for_change(
        self,
        namespace: str,
        run_id: str,
        known_revision: int,
        timeout_ms: int,
        *,
        until_terminal: bool = False,
    ) -> WorkflowRun:
        """Return the run once its revision differs from ``known_revision`` (or after ``timeout_ms``).

        With ``until_terminal``, only once the run is also terminal (``wait_for_status`` needs nothing
        less, and is spared a read and a round trip for every step of the run).
        """
        # A caller's patience is wall-clock time, not the server's (possibly fake) clock.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0, timeout_ms) / 1000
        poll_s = self.core.settings.poll_interval_ms / 1000
        notifier = self.core.notifier
        while True:
            watch = notifier.watch_run(run_id)
            try:
                run = await self.get(namespace, run_id)
                remaining_s = deadline - loop.time()
                if _moved(run, known_revision, until_terminal) or remaining_s <= 0:
                    return run
                while remaining_s > 0:
                    changed = await notifier.wait_for_run(run_id, min(poll_s, remaining_s), watch)
                    if changed is None or changed.namespace != namespace:
                        break  # a timeout, or another process's change: read the run again
                    if _moved(changed, known_revision, until_terminal):
                        moved: WorkflowRun = changed
                        return moved  # this process made the change: no need to read it back
                    watch = notifier.watch_run(run_id)
                    remaining_s = deadline - loop.time()
            finally:
                notifier.unwatch_run(run_id, watch)
