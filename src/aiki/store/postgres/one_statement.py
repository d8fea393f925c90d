"""The hot paths PostgreSQL does in one statement (one round trip), with data-modifying CTEs: a new run with
its first timeline row, a state change with its timeline row, a claim, a checkpoint and a finish.

Each does what the portable method it overrides does (see ``aiki.store.queries``), and writes its timeline
rows through ``transition_insert``, the one shape every timeline row is written with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from aiki.canonical_json import dumps
from aiki.store.queries.base import SAME_NAMESPACE, residual
from aiki.store.queries.claims import (
    CLAIM_DUE,
    CLAIMED,
    Claimed,
    ClaimQueries,
    queue_branch_params,
    queue_branch_sql,
    queue_branches,
)
from aiki.store.queries.runs import INSERT_RUN, UNLINKED_RUNNING, StateChange, claimed_run_rows, run_values
from aiki.store.queries.tasks import HELD_RUN, TaskQueries, TaskRecord, record_task_sql
from aiki.store.queries.transitions import transition_insert
from aiki.store.rows import RUN_COLUMNS, run_from_row
from aiki.types import RunState, WorkflowRun

#: the picked run is still queued (checked on the row found by its key)
STILL_QUEUED = residual("status = 'queued'")

#: a new run and its first timeline row
INSERT_RUN_LOGGED = f"WITH created AS ({INSERT_RUN} RETURNING id) " + transition_insert(
    "SELECT id, ?, ?, NULL, ?, ?, ?, ? FROM created"
)
#: a run created claimed, with its two timeline rows (created queued, then claimed), in revision order
INSERT_CLAIMED_RUN_LOGGED = f"WITH created AS ({INSERT_RUN} RETURNING id) " + transition_insert(
    "SELECT id, v.revision, v.attempt, v.from_status, v.to_status, v.reason, v.state, v.created_at_ms "
    "FROM created CROSS JOIN (VALUES (CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), "
    "CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT)), (?, ?, ?, ?, ?, ?, ?)) "
    "AS v (revision, attempt, from_status, to_status, reason, state, created_at_ms) ORDER BY v.revision"
)
#: the checkpoint, share-locking the run whose claim it checks; the run's status read by the inserted row's
#: run id (on PostgreSQL that correlated subquery is one probe of the primary key; SQLite would scan)
RECORD_TASK = (
    record_task_sql(HELD_RUN + " FOR SHARE")
    + " RETURNING (SELECT status FROM runs WHERE runs.id = tasks.run_id) AS run_status"
)
#: complete or fail a running run no parent can wait on, with its timeline row
FINISH_UNLINKED = (
    "WITH moved AS (UPDATE runs SET status = ?, state = ?, revision = revision + 1, due_at_ms = ?, "
    "waiting_on = NULL, claim_token = NULL, worker_id = NULL, updated_at_ms = ? WHERE id = ? "
    f"AND claim_token = ? AND revision = ? AND {SAME_NAMESPACE} AND {UNLINKED_RUNNING} "
    f"RETURNING {RUN_COLUMNS}), "
    "logged AS ("
    + transition_insert("SELECT id, revision, attempts, 'running', ?, ?, ?, ? FROM moved")
    + f") SELECT {RUN_COLUMNS} FROM moved"
)


#: several runs' state changes (compare-and-set each on its revision) with their timeline rows, whatever
#: their number: the values come as one array per column
UPDATE_RUN_STATES = (
    "WITH v AS (SELECT * FROM unnest(CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS TEXT[]), "
    "CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS BIGINT[]), "
    "CAST(? AS TEXT[]), CAST(? AS TEXT[])) "
    "AS v (id, revision, from_status, status, reason, state, attempts, due_at_ms, claim_token, worker_id)), "
    "moved AS (UPDATE runs SET status = v.status, state = v.state, revision = runs.revision + 1, "
    "attempts = v.attempts, due_at_ms = v.due_at_ms, waiting_on = NULL, claim_token = v.claim_token, "
    "worker_id = v.worker_id, updated_at_ms = ? FROM v WHERE runs.id = v.id AND runs.revision = v.revision "
    "RETURNING runs.id, runs.revision, runs.attempts, v.from_status, v.status, v.reason, v.state) "
    + transition_insert("SELECT id, revision, attempts, from_status, status, reason, state, ? FROM moved")
)


class OneStatementQueries(ClaimQueries, TaskQueries):
    async def insert_run(
        self,
        run: WorkflowRun,
        due_at_ms: int | None,
        *,
        input_text: str | None = None,
        options_text: str | None = None,
    ) -> bool:
        state_text = dumps(run.state.to_dict())
        inserted = await self._execute(
            INSERT_RUN_LOGGED,
            [
                *run_values(run, due_at_ms, state_text, input_text, options_text),
                run.revision,
                run.attempts,
                run.status.value,
                run.state.reason,
                state_text,
                run.created_at_ms,
            ],
        )
        return inserted == 1

    async def insert_claimed_run(
        self,
        queued: WorkflowRun,
        claimed: WorkflowRun,
        due_at_ms: int | None,
        *,
        claim_token: str,
        worker_id: str,
        input_text: str | None = None,
        options_text: str | None = None,
    ) -> bool:
        values, timeline = claimed_run_rows(
            queued, claimed, due_at_ms, claim_token, worker_id, input_text, options_text
        )
        rows = [value for row in timeline for value in row[1:]]  # the run's id comes from the inserted row
        return await self._execute(INSERT_CLAIMED_RUN_LOGGED, [*values, *rows]) == 2

    async def update_run_state(
        self,
        run: WorkflowRun,
        state: RunState,
        *,
        attempts: int,
        due_at_ms: int | None,
        waiting_on: str | None,
        claim_token: str | None,
        worker_id: str | None,
        now_ms: int,
        keep_claim: bool = False,
    ) -> bool:
        update, params = self._state_update(
            run, state, attempts, due_at_ms, waiting_on, claim_token, worker_id, now_ms, keep_claim
        )
        changed = await self._execute(
            f"WITH moved AS ({update} RETURNING id, revision, attempts) "
            + transition_insert("SELECT id, revision, attempts, ?, ?, ?, ?, ? FROM moved"),
            [*params, run.status.value, state.status.value, state.reason, params[1], now_ms],
        )
        return changed == 1

    async def update_run_states(self, changes: Sequence[StateChange], now_ms: int) -> int:
        if len(changes) < 2:
            return await super().update_run_states(changes, now_ms)
        columns: list[list[Any]] = [[] for _ in range(10)]
        for change in changes:
            row = (
                change.run.id,
                change.run.revision,
                change.run.status.value,
                change.state.status.value,
                change.state.reason,
                dumps(change.state.to_dict()),
                change.attempts,
                change.due_at_ms,
                change.claim_token,
                change.worker_id,
            )
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        return await self._execute(UPDATE_RUN_STATES, [*columns, now_ms, now_ms])

    async def claim_queued(
        self,
        namespace: str,
        workflows: Sequence[tuple[str, str]],
        shards: Sequence[str] | None,
        limit: int,
        *,
        claim_token: str,
        worker_id: str,
        now_ms: int,
        claim_timeout_ms: int,
    ) -> list[Claimed]:
        """Pick (``SKIP LOCKED``), mark running and log the transitions in one statement."""
        branches = queue_branches(workflows, shards)
        if not branches or limit <= 0:
            return []
        params: list[Any] = []
        for branch in branches:
            params += queue_branch_params(namespace, branch, limit)
        if len(branches) == 1:
            picked = queue_branch_sql("id", branches[0][2], self.SKIP_LOCKED)
        else:
            # One ordered, locked head per queue, merged: no sort of the queues themselves.
            heads = " UNION ALL ".join(
                f"SELECT * FROM ({queue_branch_sql('id, created_at_ms', shard, self.SKIP_LOCKED)}) AS head_{i}"
                for i, (_name, _version, shard) in enumerate(branches)
            )
            picked = f"SELECT id FROM ({heads}) AS heads ORDER BY created_at_ms, id LIMIT ?"
            params.append(limit)
        state_json = dumps(CLAIMED.to_dict())
        rows = await self._fetch_all(
            f"WITH picked AS ({picked}), "
            # ``id = ANY(ARRAY(...))``: the picked ids, then one primary-key probe each (a join could be planned
            # as a scan of the whole table).
            "claimed AS (UPDATE runs SET status = 'running', state = ?, revision = runs.revision + 1, "
            f"due_at_ms = {CLAIM_DUE}, waiting_on = NULL, claim_token = ?, worker_id = ?, updated_at_ms = ? "
            f"WHERE runs.id = ANY(ARRAY(SELECT id FROM picked)) AND {STILL_QUEUED} "
            "RETURNING runs.*), "
            "logged AS ("
            + transition_insert("SELECT id, revision, attempts, ?, ?, ?, ?, ? FROM claimed")
            + ") "
            # A run claimed for the first time (revision 0 -> 1) has executed nothing: only events sent
            # before its start can make its history non-empty.
            f"SELECT {RUN_COLUMNS}, (revision > 1 OR EXISTS (SELECT 1 FROM events "
            "WHERE events.run_id = claimed.id)) AS has_history FROM claimed ORDER BY created_at_ms, id",
            [
                *params,
                state_json,
                now_ms + claim_timeout_ms,
                now_ms + claim_timeout_ms,
                claim_token,
                worker_id,
                now_ms,
                "queued",
                CLAIMED.status.value,
                CLAIMED.reason,
                state_json,
                now_ms,
            ],
        )
        return [Claimed(run_from_row(row), bool(row["has_history"])) for row in rows]

    async def record_task(self, namespace: str, record: TaskRecord, now_ms: int) -> str | None:
        """Check the claim (share-locking the run), record the task and read the run's status at once. The
        status is read by the inserted row's run id: on PostgreSQL that correlated subquery is one probe of
        the primary key (SQLite would scan, hence its bound id)."""
        row = await self._fetch_one(
            RECORD_TASK,
            [*record.values(now_ms), record.run_id, record.claim_token, namespace],
        )
        return None if row is None else str(row["run_status"])

    async def finish_unlinked_run(
        self,
        namespace: str,
        run_id: str,
        expected_revision: int,
        claim_token: str,
        state: RunState,
        *,
        due_at_ms: int | None,
        now_ms: int,
    ) -> WorkflowRun | None:
        state_json = dumps(state.to_dict())
        row = await self._fetch_one(
            FINISH_UNLINKED,
            (
                state.status.value,
                state_json,
                due_at_ms,
                now_ms,
                run_id,
                claim_token,
                expected_revision,
                namespace,
                state.status.value,
                state.reason,
                state_json,
                now_ms,
            ),
        )
        return None if row is None else replace(run_from_row(row), state=state)
