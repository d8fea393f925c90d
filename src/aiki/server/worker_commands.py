"""Commands a worker sends while it executes runs: claim, refresh claims, record tasks, report outcomes.

Every write is fenced by the claim token the worker got with the run (and, for status changes, by the
revision it last saw): a worker whose claim was taken back gets ``RevisionConflictError``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiki.canonical_json import dumps
from aiki.contract import ClaimedRun, ClaimRequest, RunOutcome, TaskWrite
from aiki.errors import RevisionConflictError
from aiki.ids import new_id
from aiki.server.core import ServerCore
from aiki.server.transitions import apply_transition
from aiki.server.waits import enter_state
from aiki.store.database import Connection
from aiki.store.history_rows import load_history
from aiki.store.run_rows import RUN_COLUMNS, fetch_run_row, run_from_row
from aiki.types import RunHistory, RunState, RunStatus, WorkflowRun


class WorkerCommands:
    """What workers ask of the server."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core
        #: (namespace, worker id) -> the work generation at which that worker's last claim found fewer
        #: runs than it asked for
        self._found_less_at: dict[tuple[str, str], int] = {}

    async def claim(self, namespace: str, request: ClaimRequest) -> list[ClaimedRun]:
        """Claim up to ``request.limit`` queued runs; waits up to ``wait_ms`` for one if none is ready."""
        loop_deadline = None
        key = (namespace, request.worker_id)
        notifier = self.core.notifier
        while True:
            generation = notifier.work_generation
            if request.wait_ms > 0 and self._found_less_at.get(key) == generation:
                # This worker's last claim left the queue empty and nothing was queued since (in this
                # process, or announced by another): wait for work before asking the database again.
                self._found_less_at.pop(key, None)
                await notifier.wait_for_work(
                    min(request.wait_ms, self.core.settings.poll_interval_ms) / 1000, generation
                )
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
            await self.core.notifier.wait_for_work(
                min(remaining, self.core.settings.poll_interval_ms / 1000), generation
            )

    async def _claim_once(self, namespace: str, request: ClaimRequest) -> list[ClaimedRun]:
        if not request.workflows or request.limit <= 0:
            return []
        pairs = " OR ".join("(workflow_name = ? AND version_id = ?)" for _ in request.workflows)
        params: list[Any] = [namespace]
        for name, version in request.workflows:
            params += [name, version]
        if request.shards:
            shard_sql = f"shard IN ({', '.join('?' for _ in request.shards)})"
            params += list(request.shards)
        else:
            shard_sql = "shard IS NULL"
        params.append(request.limit)
        token = new_id()
        if self.core.db.dialect == "postgres":
            return await self._claim_in_one_statement(namespace, request, pairs, shard_sql, params, token)
        async with self.core.write() as (connection, changes):
            now_ms = self.core.clock.now_ms()
            rows = await connection.fetch_all(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE namespace = ? AND status = 'queued' AND ({pairs}) "
                f"AND {shard_sql} ORDER BY updated_at_ms, id LIMIT ?{self.core.db.skip_locked}",
                params,
            )
            result = []
            for row in rows:
                run = run_from_row(row)
                running = await apply_transition(
                    connection,
                    run,
                    RunState(RunStatus.RUNNING, reason="claimed"),
                    changes,
                    now_ms,
                    claim_token=token,
                    worker_id=request.worker_id,
                    claim_timeout_ms=self.core.settings.claim_timeout_ms,
                )
                result.append(ClaimedRun(running, await load_history(connection, run.id), token))
            # The claim expiry is the runs' own deadline, far ahead: the timer loop need not wake for it.
            changes.earliest_deadline_ms = None
            return result

    async def _claim_in_one_statement(
        self,
        namespace: str,
        request: ClaimRequest,
        pairs: str,
        shard_sql: str,
        params: list[Any],
        token: str,
    ) -> list[ClaimedRun]:
        """PostgreSQL: pick (``SKIP LOCKED``), mark running and log the transitions in one statement, then
        read the histories. A claimed run's history can only grow meanwhile (events), never change."""
        state = RunState(RunStatus.RUNNING, reason="claimed")
        state_json = dumps(state.to_dict())
        async with self.core.write(single_statement=True) as (connection, changes):
            now_ms = self.core.clock.now_ms()
            rows = await connection.fetch_all(
                "WITH picked AS (SELECT id FROM runs WHERE namespace = ? AND status = 'queued' "
                f"AND ({pairs}) AND {shard_sql} ORDER BY updated_at_ms, id LIMIT ? FOR UPDATE SKIP LOCKED), "
                "claimed AS (UPDATE runs SET status = 'running', state = ?, revision = runs.revision + 1, "
                "due_at_ms = ?, waiting_on = NULL, claim_token = ?, worker_id = ?, updated_at_ms = ? "
                f"FROM picked WHERE runs.id = picked.id AND runs.status = 'queued' RETURNING runs.*), "
                "logged AS (INSERT INTO transitions (run_id, revision, attempt, from_status, to_status, reason, "
                "state, created_at_ms) SELECT id, revision, attempts, 'queued', 'running', 'claimed', ?, ? "
                # A run claimed for the first time (revision 0 -> 1) has executed nothing: only events sent
                # before its start can make its history non-empty.
                f"FROM claimed) SELECT {RUN_COLUMNS}, (revision > 1 OR EXISTS (SELECT 1 FROM events "
                "WHERE events.run_id = claimed.id)) AS has_history FROM claimed ORDER BY updated_at_ms, id",
                [
                    *params,
                    state_json,
                    now_ms + self.core.settings.claim_timeout_ms,
                    token,
                    request.worker_id,
                    now_ms,
                    state_json,
                    now_ms,
                ],
            )
            runs = [(run_from_row(row), bool(row["has_history"])) for row in rows]
            for run, _has_history in runs:
                changes.runs.add(run.id)
                changes.run_records[run.id] = run
        result = []
        for run, has_history in runs:
            if not has_history:
                result.append(ClaimedRun(run, RunHistory(), token))
                continue
            async with self.core.read() as connection:
                result.append(ClaimedRun(run, await load_history(connection, run.id), token))
        return result

    async def refresh_claims(self, namespace: str, claims: list[tuple[str, str]]) -> list[str]:
        """Extend the claims ``(run_id, claim_token)``; returns the run ids whose claim is no longer held."""
        lost = []
        async with self.core.write() as (connection, _changes):
            due_at_ms = self.core.clock.now_ms() + self.core.settings.claim_timeout_ms
            for run_id, token in claims:
                changed = await connection.execute(
                    "UPDATE runs SET due_at_ms = ? WHERE id = ? AND namespace = ? AND claim_token = ? "
                    "AND status = 'running'",
                    (due_at_ms, run_id, namespace, token),
                )
                if changed == 0:
                    held = await connection.fetch_one(
                        "SELECT 1 AS held FROM runs WHERE id = ? AND claim_token = ?", (run_id, token)
                    )
                    if held is None:
                        lost.append(run_id)
        return lost

    async def record_task(self, namespace: str, write: TaskWrite) -> str:
        """Record a task result under the run's claim; returns the run's status (a paused run stops there).

        One statement checks the claim, inserts (or completes an ``awaiting_retry`` entry) and reads the
        run's status: this is the hot path of every workflow (one round trip on PostgreSQL).
        """
        async with self.core.statement() as connection:
            now_ms = self.core.clock.now_ms()
            next_attempt = now_ms + write.retry_delay_ms if write.retry_delay_ms is not None else None
            lock = " FOR SHARE" if connection.dialect == "postgres" else ""
            row = await connection.fetch_one(
                "INSERT INTO tasks (run_id, name, address, occurrence, status, attempts, input, output, error, "
                "next_attempt_at_ms, created_at_ms, updated_at_ms) "
                "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM runs WHERE id = ? AND namespace = ? "
                f"AND claim_token = ?{lock} "
                "ON CONFLICT (run_id, address, occurrence) WHERE status <> 'discarded' DO UPDATE SET "
                "status = excluded.status, attempts = excluded.attempts, output = excluded.output, "
                "error = excluded.error, next_attempt_at_ms = excluded.next_attempt_at_ms, "
                "updated_at_ms = excluded.updated_at_ms WHERE tasks.status = 'awaiting_retry' "
                "RETURNING (SELECT status FROM runs WHERE runs.id = tasks.run_id) AS run_status",
                (
                    write.run_id,
                    write.name,
                    write.address,
                    write.occurrence,
                    write.status,
                    write.attempts,
                    dumps(write.input),
                    dumps(write.output) if write.status == "completed" else None,
                    dumps(write.error) if write.error is not None else None,
                    next_attempt,
                    now_ms,
                    now_ms,
                    write.run_id,
                    namespace,
                    write.claim_token,
                ),
            )
            if row is None:
                await self._check_claim(connection, namespace, write.run_id, write.claim_token)
                raise RevisionConflictError(
                    write.run_id, None, f"task {write.address} #{write.occurrence} was already recorded"
                )
            return str(row["run_status"])

    async def _check_claim(self, connection: Connection, namespace: str, run_id: str, token: str) -> str:
        lock = " FOR SHARE" if connection.dialect == "postgres" else ""
        row = await connection.fetch_one(
            f"SELECT status, claim_token FROM runs WHERE id = ? AND namespace = ?{lock}", (run_id, namespace)
        )
        if row is None or row["claim_token"] != token:
            raise RevisionConflictError(run_id, None, "this worker's claim on the run was taken back")
        return str(row["status"])

    async def finish(self, namespace: str, outcome: RunOutcome) -> WorkflowRun:
        """End one execution: park the run on a wait, schedule its retry, or complete/fail it."""
        # A child finishing while its parent is cancelled may deadlock on PostgreSQL: run again if aborted.
        return await self.core.retrying(lambda: self._finish(namespace, outcome))

    async def _finish(self, namespace: str, outcome: RunOutcome) -> WorkflowRun:
        if outcome.kind in ("complete", "fail") and self.core.db.dialect == "postgres":
            finished = await self._finish_in_one_statement(namespace, outcome)
            if finished is not None:
                return finished
        async with self.core.write() as (connection, changes):
            row = await connection.fetch_one(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ? AND namespace = ?"
                + (" FOR UPDATE" if connection.dialect == "postgres" else ""),
                (outcome.run_id, namespace),
            )
            if row is None or row["claim_token"] != outcome.claim_token:
                raise RevisionConflictError(
                    outcome.run_id, outcome.expected_revision, "the claim was taken back"
                )
            run = run_from_row(row)
            if run.revision != outcome.expected_revision:
                raise RevisionConflictError(outcome.run_id, outcome.expected_revision)
            now_ms = self.core.clock.now_ms()
            target = await self._target_state(connection, run, outcome, now_ms)
            return await enter_state(connection, run, target, changes, now_ms)

    async def _finish_in_one_statement(self, namespace: str, outcome: RunOutcome) -> WorkflowRun | None:
        """PostgreSQL: complete or fail a run that no parent can wait on, fenced, in one statement.

        ``None`` when the statement matched nothing (stale writer, or a run with a parent or a reference id):
        the general path then does the work or raises the right error.
        """
        if outcome.kind == "complete":
            state = RunState(RunStatus.COMPLETED, output=outcome.output)
        else:
            state = RunState(RunStatus.FAILED, reason="error", error=outcome.error)
        state_json = dumps(state.to_dict())
        async with self.core.write(single_statement=True) as (connection, changes):
            now_ms = self.core.clock.now_ms()
            row = await connection.fetch_one(
                "WITH moved AS (UPDATE runs SET status = ?, state = ?, revision = revision + 1, due_at_ms = NULL, "
                "waiting_on = NULL, claim_token = NULL, worker_id = NULL, updated_at_ms = ? WHERE id = ? "
                "AND namespace = ? AND revision = ? AND claim_token = ? AND status = 'running' "
                f"AND parent_run_id IS NULL AND reference_id IS NULL RETURNING {RUN_COLUMNS}), "
                "logged AS (INSERT INTO transitions (run_id, revision, attempt, from_status, to_status, reason, "
                "state, created_at_ms) SELECT id, revision, attempts, 'running', ?, ?, ?, ? FROM moved) "
                f"SELECT {RUN_COLUMNS} FROM moved",
                (
                    state.status.value,
                    state_json,
                    now_ms,
                    outcome.run_id,
                    namespace,
                    outcome.expected_revision,
                    outcome.claim_token,
                    state.status.value,
                    state.reason,
                    state_json,
                    now_ms,
                ),
            )
            if row is None:
                return None
            run = run_from_row(row)
            changes.runs.add(run.id)
            changes.run_records[run.id] = run
            changes.finished.add(run.id)
            return run

    async def release(self, namespace: str, run_id: str, claim_token: str) -> None:
        """Give a claimed run back to the queue (a worker stopping before it could start it)."""
        async with self.core.write() as (connection, changes):
            row = await fetch_run_row(connection, namespace, run_id, for_update=True)
            if row is None or row["claim_token"] != claim_token or row["status"] != "running":
                return
            run = run_from_row(row)
            await apply_transition(
                connection,
                run,
                RunState(RunStatus.QUEUED, reason="released"),
                changes,
                self.core.clock.now_ms(),
            )

    async def _target_state(
        self, connection: Connection, run: WorkflowRun, outcome: RunOutcome, now_ms: int
    ) -> RunState:
        kind = outcome.kind
        if kind == "complete":
            return RunState(RunStatus.COMPLETED, output=outcome.output)
        if kind == "fail":
            return RunState(RunStatus.FAILED, reason="error", error=outcome.error)
        if kind == "retry":
            assert outcome.duration_ms is not None
            return RunState(
                RunStatus.AWAITING_RETRY,
                reason=f"{outcome.retry_kind}_retry",
                retry_kind=outcome.retry_kind,
                next_attempt_at_ms=now_ms + outcome.duration_ms,
                error=outcome.error,
            )
        if kind == "sleep":
            assert outcome.name is not None and outcome.duration_ms is not None and outcome.index is not None
            wake_at_ms = await self._record_sleep(
                connection, run, outcome.name, outcome.index, outcome.duration_ms, now_ms
            )
            return RunState(
                RunStatus.SLEEPING, sleep_name=outcome.name, wake_at_ms=wake_at_ms, index=outcome.index
            )
        if kind == "event_wait":
            timeout_at = now_ms + outcome.timeout_ms if outcome.timeout_ms is not None else None
            return RunState(
                RunStatus.AWAITING_EVENT,
                event_name=outcome.name,
                timeout_at_ms=timeout_at,
                index=outcome.index,
            )
        if kind == "child_wait":
            timeout_at = now_ms + outcome.timeout_ms if outcome.timeout_ms is not None else None
            return RunState(
                RunStatus.AWAITING_CHILD_WORKFLOW,
                child_run_id=outcome.child_run_id,
                child_status=outcome.child_status,
                timeout_at_ms=timeout_at,
                index=outcome.index,
            )
        raise ValueError(f"unknown outcome kind {kind!r}")

    async def _record_sleep(
        self, connection: Connection, run: WorkflowRun, name: str, index: int, duration_ms: int, now_ms: int
    ) -> int:
        """Start sleep ``name`` #``index``; a finished one made longer in code sleeps only the difference."""
        row = await connection.fetch_one(
            "SELECT status, started_at_ms, ended_at_ms FROM sleeps WHERE run_id = ? AND name = ? AND occurrence = ?",
            (run.id, name, index),
        )
        if row is None:
            wake_at_ms = now_ms + duration_ms
            await connection.execute(
                "INSERT INTO sleeps (run_id, name, occurrence, status, duration_ms, started_at_ms, wake_at_ms) "
                "VALUES (?, ?, ?, 'sleeping', ?, ?, ?)",
                (run.id, name, index, duration_ms, now_ms, wake_at_ms),
            )
            return wake_at_ms
        elapsed = int(row["ended_at_ms"] or now_ms) - int(row["started_at_ms"])
        wake_at_ms = now_ms + max(1, duration_ms - elapsed)
        await connection.execute(
            "UPDATE sleeps SET status = 'sleeping', duration_ms = ?, wake_at_ms = ?, ended_at_ms = NULL "
            "WHERE run_id = ? AND name = ? AND occurrence = ?",
            (duration_ms, wake_at_ms, run.id, name, index),
        )
        return wake_at_ms
