"""Commands a worker sends while it executes runs: claim, refresh claims, record tasks, report outcomes.

Every write is fenced by the claim token the worker got with the run (and, for status changes, by the
revision it last saw): a worker whose claim was taken back gets ``RevisionConflictError``.
"""

from __future__ import annotations

import asyncio
import logging

from aiki.contract import ClaimedRun, ClaimRequest, RunOutcome, TaskWrite
from aiki.contract.checks import (
    check_claim,
    check_outcome,
    check_refresh,
    check_task_write,
    task_write_texts,
)
from aiki.errors import RevisionConflictError
from aiki.ids import new_secret
from aiki.server.engine.core import ServerCore
from aiki.server.engine.state_machine import check_transition
from aiki.server.engine.transitions import apply_transition, enter_state
from aiki.store.connection import Connection
from aiki.store.queries.base import Row
from aiki.store.queries.claims import CLAIMED
from aiki.store.queries.tasks import TaskRecord, encode_attempt_times
from aiki.types import RunHistory, RunState, RunStatus, WorkflowRun

logger = logging.getLogger("aiki.server")


class WorkerCommands:
    """What workers ask of the server."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core
        #: (namespace, worker id) -> the work generation at which that worker's last claim found fewer
        #: runs than it asked for
        self._found_less_at: dict[tuple[str, str], int] = {}

    async def claim(self, namespace: str, request: ClaimRequest) -> list[ClaimedRun]:
        """Claim up to ``request.limit`` queued runs; waits up to ``wait_ms`` for one if none is ready.

        While it waits with its queues empty, a run started in this process for one of its versions may be
        created already claimed for it (``engine/handoff.py``): it then returns that run.
        """
        check_claim(request)
        loop_deadline = None
        key = (namespace, request.worker_id)
        notifier = self.core.notifier
        while True:
            generation = notifier.work_generation
            if request.wait_ms > 0 and self._found_less_at.get(key) == generation:
                # This worker's last claim left the queue empty and nothing was queued since (in this
                # process, or announced by another): wait for work before asking the database again.
                self._found_less_at.pop(key, None)
                handed = await self._wait_for_work(
                    namespace, request, min(request.wait_ms, self.core.settings.poll_interval_ms), generation
                )
                if handed:
                    # The queues are still as empty as they were: the next claim need not look.
                    self._found_less_at[key] = generation
                    return handed
                continue
            claimed = await self._claim_once(namespace, request)
            if len(claimed) < request.limit:
                self._found_less_at[key] = generation
            else:
                self._found_less_at.pop(key, None)
            if claimed or request.wait_ms <= 0:
                return claimed
            loop = asyncio.get_running_loop()
            if loop_deadline is None:
                loop_deadline = loop.time() + request.wait_ms / 1000
            remaining = loop_deadline - loop.time()
            if remaining <= 0:
                return []
            handed = await self._wait_for_work(
                namespace, request, min(remaining * 1000, self.core.settings.poll_interval_ms), generation
            )
            if handed:
                self._found_less_at[key] = generation
                return handed

    async def _wait_for_work(
        self, namespace: str, request: ClaimRequest, wait_ms: float, generation: int
    ) -> list[ClaimedRun]:
        """Wait up to ``wait_ms`` for work, the queues found empty at ``generation``; returns the runs a start
        handed to this claim meanwhile (usually none)."""
        handoff = self.core.handoff
        waiter = handoff.wait(namespace, request, generation)
        try:
            await self.core.notifier.wait_for_work(wait_ms / 1000, generation, also=waiter.delivered)
        except asyncio.CancelledError:
            if waiter.taken:
                # A start claimed a run for this claim, which stops now: give it back once it is written.
                asyncio.get_running_loop().create_task(self._give_back(namespace, waiter.delivered))
            raise
        finally:
            handoff.leave(waiter)
        if not waiter.taken:
            return []
        # The start's statement may still be on its way: its outcome comes soon, either way.
        return await waiter.delivered

    async def _give_back(self, namespace: str, delivered: asyncio.Future[list[ClaimedRun]]) -> None:
        try:
            for claimed in await delivered:
                await self.release(namespace, claimed.run.id, claimed.claim_token)
        except Exception:
            # The server is closing, say: the claim then expires, and the run is recovered like any other.
            logger.warning("aiki could not give back a run handed to a stopping claim", exc_info=True)

    async def _claim_once(self, namespace: str, request: ClaimRequest) -> list[ClaimedRun]:
        if not request.workflows or request.limit <= 0:
            return []
        # The store moves the runs itself (one statement on PostgreSQL): the edge is checked here.
        check_transition("(claimed runs)", RunStatus.QUEUED, CLAIMED.status, CLAIMED.reason)
        token = new_secret()
        async with self.core.write(single_statement=True) as (connection, changes):
            claimed = await connection.claim_queued(
                namespace,
                request.workflows,
                request.shards,
                request.limit,
                claim_token=token,
                worker_id=request.worker_id,
                now_ms=self.core.clock.now_ms(),
                claim_timeout_ms=self.core.settings.claim_timeout_ms,
            )
            for item in claimed:
                # The claim expiry is the run's own deadline, far ahead: the timer loop need not wake for it.
                changes.moved(item.run, None)
            # The histories of the claimed runs that have one, in one read on the same connection (after
            # the claim's statement, which PostgreSQL has committed by then): a burst of wake-ups is
            # resumed without a round trip per run, and a lone wake-up without a second transaction.
            with_history = [item.run.id for item in claimed if item.has_history]
            histories: dict[str, RunHistory] = {}
            if with_history:
                histories = await connection.load_histories(with_history)
        return [ClaimedRun(item.run, histories.get(item.run.id) or RunHistory(), token) for item in claimed]

    async def refresh_claims(self, namespace: str, claims: list[tuple[str, str]]) -> list[str]:
        """Extend the claims ``(run_id, claim_token)``; returns the run ids whose claim is no longer held."""
        check_refresh(claims)
        lost = []
        async with self.core.write() as (connection, _changes):
            due_at_ms = self.core.clock.now_ms() + self.core.settings.claim_timeout_ms
            for run_id, token in claims:
                if await connection.refresh_claim(namespace, run_id, token, due_at_ms):
                    continue
                if not await connection.claim_held(namespace, run_id, token):
                    lost.append(run_id)
        return lost

    async def record_task(self, namespace: str, write: TaskWrite) -> str:
        """Record a task result under the run's claim; returns the run's status (a paused run stops there).

        This is the hot path of every workflow: one statement on PostgreSQL (checks the claim, inserts or
        completes an ``awaiting_retry`` entry, reads the run's status).
        """
        check_task_write(write)
        input_text, output_text, error_text = task_write_texts(write)
        now_ms = self.core.clock.now_ms()
        record = TaskRecord(
            run_id=write.run_id,
            claim_token=write.claim_token,
            name=write.name,
            address=write.address,
            occurrence=write.occurrence,
            status=write.status,
            attempts=write.attempts,
            input_json=input_text,
            output_json=output_text,
            error_json=error_text,
            next_attempt_at_ms=now_ms + write.retry_delay_ms if write.retry_delay_ms is not None else None,
            attempt_times=encode_attempt_times(write.attempt_times),
        )
        async with self.core.write(single_statement=True) as (connection, changes):
            status = await connection.record_task(namespace, record, now_ms)
            if status is not None:
                changes.tasks.append((write.name, write.status, write.attempt_times))
                return status
            if not await connection.claim_held(namespace, write.run_id, write.claim_token):
                raise RevisionConflictError(
                    write.run_id, None, "this worker's claim on the run was taken back"
                )
            # The claim is still this writer's, and the entry exists: only this writer can have written it
            # under this claim (its history came with the claim, and it writes each entry once). A write
            # sent again after its answer was lost finds its own earlier success: the same result is that
            # success, answered again; a different one is a conflict.
            existing = await connection.recorded_task(write.run_id, write.address, write.occurrence)
            if existing is not None and _same_result(existing, record):
                return str(existing["run_status"])
        raise RevisionConflictError(
            write.run_id, None, f"task {write.address} #{write.occurrence} was already recorded"
        )

    async def finish(self, namespace: str, outcome: RunOutcome) -> WorkflowRun:
        """End one execution: park the run on a wait, schedule its retry, or complete/fail it."""
        check_outcome(outcome)
        # A sleep, a retry delay or a wait's timeout counts from the moment the run asked for it, not from
        # the moment its write got the database (behind a burst of other writes, that can be much later).
        asked_ms = self.core.clock.now_ms()
        # A child finishing while its parent is cancelled may deadlock on PostgreSQL: run again if aborted.
        return await self.core.retrying(lambda: self._finish(namespace, outcome, asked_ms))

    async def _finish(self, namespace: str, outcome: RunOutcome, asked_ms: int) -> WorkflowRun:
        if outcome.kind in ("complete", "fail"):
            finished = await self._finish_unlinked(namespace, outcome)
            if finished is not None:
                return finished
        async with self.core.write() as (connection, changes):
            run = await connection.get_claimed_run(
                namespace, outcome.run_id, outcome.claim_token, for_update=True
            )
            if run is None:
                raise RevisionConflictError(
                    outcome.run_id, outcome.expected_revision, "the claim was taken back"
                )
            if run.revision != outcome.expected_revision:
                raise RevisionConflictError(outcome.run_id, outcome.expected_revision)
            now_ms = self.core.clock.now_ms()
            target = await self._target_state(connection, run, outcome, min(asked_ms, now_ms))
            return await enter_state(connection, run, target, changes, now_ms, self.core.settings)

    async def _finish_unlinked(self, namespace: str, outcome: RunOutcome) -> WorkflowRun | None:
        """Complete or fail a run that no parent can wait on (one statement on PostgreSQL); ``None`` when the
        run has a parent or a reference id, or the writer is stale: the general path then decides."""
        state = _final_state(outcome)
        check_transition(outcome.run_id, RunStatus.RUNNING, state.status, state.reason)
        async with self.core.write(single_statement=True) as (connection, changes):
            now_ms = self.core.clock.now_ms()
            retention = self.core.settings.retention_for(namespace)
            due_at_ms = None if retention is None else now_ms + retention
            run = await connection.finish_unlinked_run(
                namespace,
                outcome.run_id,
                outcome.expected_revision,
                outcome.claim_token,
                state,
                due_at_ms=due_at_ms,
                now_ms=now_ms,
            )
            if run is not None:
                changes.moved(run, None)
            return run

    async def release(self, namespace: str, run_id: str, claim_token: str) -> None:
        """Give a claimed run back to the queue (a worker stopping before it could start it)."""
        async with self.core.write() as (connection, changes):
            run = await connection.get_claimed_run(namespace, run_id, claim_token, for_update=True)
            if run is None or run.status is not RunStatus.RUNNING:
                return
            target = RunState(RunStatus.QUEUED, reason="released")
            await apply_transition(
                connection, run, target, changes, self.core.clock.now_ms(), self.core.settings
            )

    async def _target_state(
        self, connection: Connection, run: WorkflowRun, outcome: RunOutcome, asked_ms: int
    ) -> RunState:
        """The state ``outcome`` asks for; its deadlines count from ``asked_ms``, when the request came."""
        kind = outcome.kind
        if kind in ("complete", "fail"):
            return _final_state(outcome)
        if kind == "retry":
            assert outcome.duration_ms is not None
            return RunState(
                RunStatus.AWAITING_RETRY,
                reason=f"{outcome.retry_kind}_retry",
                retry_kind=outcome.retry_kind,
                next_attempt_at_ms=asked_ms + outcome.duration_ms,
                error=outcome.error,
            )
        if kind == "sleep":
            assert outcome.name is not None and outcome.duration_ms is not None and outcome.index is not None
            wake_at_ms = await self._record_sleep(
                connection, run, outcome.name, outcome.index, outcome.duration_ms, asked_ms
            )
            return RunState(
                RunStatus.SLEEPING, sleep_name=outcome.name, wake_at_ms=wake_at_ms, index=outcome.index
            )
        if kind == "event_wait":
            timeout_at = asked_ms + outcome.timeout_ms if outcome.timeout_ms is not None else None
            return RunState(
                RunStatus.AWAITING_EVENT,
                event_name=outcome.name,
                timeout_at_ms=timeout_at,
                index=outcome.index,
            )
        if kind == "child_wait":
            timeout_at = asked_ms + outcome.timeout_ms if outcome.timeout_ms is not None else None
            return RunState(
                RunStatus.AWAITING_CHILD_WORKFLOW,
                child_run_id=outcome.child_run_id,
                child_status=outcome.child_status,
                timeout_at_ms=timeout_at,
                index=outcome.index,
            )
        raise ValueError(f"unknown outcome kind {kind!r}")

    async def _record_sleep(
        self, connection: Connection, run: WorkflowRun, name: str, index: int, duration_ms: int, asked_ms: int
    ) -> int:
        """Start sleep ``name`` #``index``; a finished one made longer in code sleeps only the difference."""
        row = await connection.get_sleep(run.id, name, index)
        if row is None:
            wake_at_ms = asked_ms + duration_ms
            await connection.start_sleep(run.id, name, index, duration_ms, asked_ms, wake_at_ms)
            return wake_at_ms
        elapsed = int(row["ended_at_ms"] or asked_ms) - int(row["started_at_ms"])
        wake_at_ms = asked_ms + max(1, duration_ms - elapsed)
        await connection.restart_sleep(run.id, name, index, duration_ms, wake_at_ms)
        return wake_at_ms


def _same_result(existing: Row, record: TaskRecord) -> bool:
    """Whether a stored entry holds exactly the result ``record`` would write."""
    return (
        existing["status"] == record.status
        and int(existing["attempts"]) == record.attempts
        and existing["output"] == record.output_json
        and existing["error"] == record.error_json
    )


def _final_state(outcome: RunOutcome) -> RunState:
    if outcome.kind == "complete":
        return RunState(RunStatus.COMPLETED, output=outcome.output)
    return RunState(RunStatus.FAILED, reason="error", error=outcome.error)
