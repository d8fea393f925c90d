"""What happens when a run's deadline (``due_at_ms``) comes: one small handler per status.

A run has one deadline at a time: its scheduled start, the time it stalls if no worker claims it, its sleep
wake-up, retry time, event or child-wait timeout, or claim expiry. (Once finished, its deadline is the end of
its retention: ``retention.RunExpiries`` handles those.)

A run a deadline queues goes straight on to a worker of this process whose claim waits for work, when there
is one (``handoff.HandoffRound``): claimed in the timer's own transaction, with its history.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiki.server.engine.changes import Changes
from aiki.server.engine.handoff import Handoff, HandoffRound, TakenClaim
from aiki.server.engine.run_deadline import fail_past_deadline, past_deadline
from aiki.server.engine.settings import ServerSettings
from aiki.server.engine.transitions import Move, apply_transition, apply_transitions, record_child_wait
from aiki.store.connection import Connection
from aiki.store.queries.claims import CLAIMED
from aiki.types import RunState, RunStatus, WorkflowRun

logger = logging.getLogger("aiki.server")

#: the statuses whose timer only queues the run again, and the reason it is queued for (a task's retry too;
#: a workflow's retry also discards its unfinished tasks)
REQUEUE_REASONS = {
    RunStatus.SLEEPING: "wakeup",
    RunStatus.SCHEDULED: "due",
    RunStatus.AWAITING_RETRY: "task_retry",
    RunStatus.RUNNING: "recovery",
}
#: a version's stalled runs are logged at most this often
STALL_LOG_INTERVAL_MS = 10 * 60 * 1000


class RunDeadlines:
    """The timer source of runs: fires what is due, in batches."""

    def __init__(self, settings: ServerSettings, handoff: Handoff | None = None) -> None:
        self.settings = settings
        #: the claims of this process waiting for work (None: queued runs are left to the claims)
        self.handoff = handoff
        self._handlers: dict[
            RunStatus, Callable[[Connection, WorkflowRun, Changes, int], Awaitable[None]]
        ] = {
            RunStatus.AWAITING_EVENT: self._time_out_event_wait,
            RunStatus.AWAITING_RETRY: self._retry,
            RunStatus.AWAITING_CHILD_WORKFLOW: self._time_out_child_wait,
            RunStatus.QUEUED: self._stall,
        }
        #: when each version's stalled runs were last logged
        self._stall_logged_at_ms: dict[tuple[str, str, str], int] = {}

    async def fire_due(self, connection: Connection, changes: Changes, now_ms: int, limit: int) -> int:
        """Handle up to ``limit`` runs whose deadline has come; returns how many were handled.

        A run whose timer only queues it again (a wake-up, a delayed start, a task's retry, a recovery) is
        moved with the others like it, a few statements for them all (one on PostgreSQL); the others one by
        one, in order. The runs queued are then handed to waiting claims of this process, if any.
        """
        # Equal due times come back in any order (the index holds only the time). Older runs first: a parent
        # is older than its children, so when both pass one deadline the parent's fires first and cancels
        # them, rather than a child's failure waking the parent.
        runs = sorted(
            await connection.due_runs(now_ms, limit),
            key=lambda due: (due[0], due[1].created_at_ms, due[1].id),
        )
        requeues: list[Move] = []
        queued: list[str] = []
        for due_at_ms, run in runs:
            changes.lateness_ms.append(now_ms - due_at_ms)
            if run.id in changes.runs:
                # Moved earlier in this batch (a parent's deadline cancelled it): this row is stale.
                continue
            expired = past_deadline(run, now_ms)
            reason = None if expired else REQUEUE_REASONS.get(run.status)
            if run.status is RunStatus.AWAITING_RETRY and run.state.retry_kind == "workflow":
                reason = None
            if reason is not None:
                requeues.append(Move(run, RunState(RunStatus.QUEUED, reason=reason)))
                continue
            # Runs are handled in order: the requeues before this one go first.
            queued += await self._requeue(connection, requeues, changes, now_ms)
            if expired:
                # The run's own deadline goes first: it ends the run whatever its status's timer says.
                await fail_past_deadline(connection, run, changes, now_ms, self.settings)
                continue
            handler = self._handlers.get(run.status)
            if handler is None:
                # A deadline left on a status that has none (paused); clear it so it is not picked up again.
                await connection.clear_due(run.id)
                continue
            await handler(connection, run, changes, now_ms)
            queued.append(run.id)
        queued += await self._requeue(connection, requeues, changes, now_ms)
        if self.handoff is not None and self.handoff.waiting:
            await self._hand_on(connection, queued, HandoffRound(self.handoff, changes), changes, now_ms)
        return len(runs)

    async def _requeue(
        self, connection: Connection, requeues: list[Move], changes: Changes, now_ms: int
    ) -> list[str]:
        """Queue the runs of ``requeues`` (emptied) together; returns their ids."""
        if not requeues:
            return []
        sleepers = [move.run.id for move in requeues if move.run.status is RunStatus.SLEEPING]
        if sleepers:
            await connection.end_active_sleeps(sleepers, "completed", now_ms)
        moved = await apply_transitions(connection, requeues, changes, now_ms, self.settings)
        requeues.clear()
        return [run.id for run in moved]

    async def _hand_on(
        self,
        connection: Connection,
        run_ids: list[str],
        handoffs: HandoffRound,
        changes: Changes,
        now_ms: int,
    ) -> None:
        """Claim the runs of ``run_ids`` still queued for the claims of this process that wait for a run of
        their version (up to each claim's limit), as their own claim statement would, with their histories."""
        moves: list[Move] = []
        takers: list[TakenClaim] = []
        for run_id in run_ids:
            run = changes.run_records.get(run_id)
            if run is None or run.status is not RunStatus.QUEUED:
                continue  # (an event-wait timeout that found its event, or a run cancelled later in the batch)
            taken = handoffs.claim_for(run)
            if taken is not None:
                moves.append(Move(run, CLAIMED, taken.claim_token, taken.worker_id))
                takers.append(taken)
        if not moves:
            return
        claimed = await apply_transitions(connection, moves, changes, now_ms, self.settings)
        for taken, run in zip(takers, claimed, strict=True):
            taken.runs.append(run)
        # What the workers replay from, read once for every run handed (as a claim reads it).
        handoffs.histories(await connection.load_histories([run.id for run in claimed]))

    async def next_deadline(self, connection: Connection) -> int | None:
        return await connection.next_run_deadline()

    async def _move(
        self,
        connection: Connection,
        run: WorkflowRun,
        reason: str,
        changes: Changes,
        now_ms: int,
        attempts: int | None = None,
    ) -> None:
        target = RunState(RunStatus.QUEUED, reason=reason)
        await apply_transition(connection, run, target, changes, now_ms, self.settings, attempts=attempts)

    async def _time_out_event_wait(
        self, connection: Connection, run: WorkflowRun, changes: Changes, now_ms: int
    ) -> None:
        await connection.insert_event_timeout(run.id, run.state.event_name, now_ms)
        await self._move(connection, run, "event_wait_timeout", changes, now_ms)

    async def _retry(self, connection: Connection, run: WorkflowRun, changes: Changes, now_ms: int) -> None:
        """A workflow's retry (a task's retry is a plain requeue): a new attempt re-runs every task that did
        not complete; completed ones replay from the record."""
        await connection.discard_unfinished_tasks(run.id)
        await self._move(connection, run, "retry", changes, now_ms, attempts=run.attempts + 1)

    async def _time_out_child_wait(
        self, connection: Connection, run: WorkflowRun, changes: Changes, now_ms: int
    ) -> None:
        child = await connection.get_run(run.namespace, run.state.child_run_id or "")
        if child is not None:
            await record_child_wait(connection, run, child, "timeout", now_ms)
        await self._move(connection, run, "child_workflow_wait_timeout", changes, now_ms)

    async def _stall(self, connection: Connection, run: WorkflowRun, changes: Changes, now_ms: int) -> None:
        """Queued for ``stall_after_ms`` and claimed by no worker: no worker serves the run's version (or its
        shard), or every worker is saturated. It waits, ``stalled``, for a ``requeue``."""
        stalls_at_ms = run.updated_at_ms + self.settings.stall_after_ms
        if stalls_at_ms > now_ms:
            # The server's stall_after_ms was made longer since the run was queued.
            await connection.set_due(run.id, run.due_within_deadline(stalls_at_ms))
            return
        target = RunState(RunStatus.STALLED, reason="undeliverable")
        await apply_transition(connection, run, target, changes, now_ms, self.settings)
        version = (run.namespace, run.name, run.version_id)
        if now_ms - self._stall_logged_at_ms.get(version, -STALL_LOG_INTERVAL_MS) >= STALL_LOG_INTERVAL_MS:
            self._stall_logged_at_ms[version] = now_ms
            logger.warning(
                "aiki: runs of workflow %r version %r (namespace %r%s) stalled: no worker claimed them within "
                "%d ms. Start a worker that registers this version%s, then requeue them "
                "(aiki runs requeue ID..., or handle.requeue()).",
                run.name,
                run.version_id,
                run.namespace,
                f", shard {run.shard!r}" if run.shard else "",
                self.settings.stall_after_ms,
                " and shard" if run.shard else "",
            )
