"""Claims: handing queued runs to a worker, keeping its claims fresh, checking a claim.

Queued runs are claimed oldest first, by creation: a run that resumes after a wait goes before newer runs.
The queue of one (namespace, workflow, version, shard) is read in that order from ``runs_queued`` (or
``runs_queued_by_shard``; ``runs_by_workflow`` holds the same order); a worker that registers several
versions (or shards) gets one ordered branch per queue, merged, so no claim sorts a queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiki.store.queries.base import SAME_NAMESPACE, Row, residual
from aiki.store.queries.runs import RunQueries
from aiki.store.rows import RUN_COLUMNS, run_from_row
from aiki.types import RunState, RunStatus, WorkflowRun

CLAIMED = RunState(RunStatus.RUNNING, reason="claimed")
#: a running run's timer: its claim expiry (the first parameter, given twice), or its own deadline if earlier
CLAIM_DUE = "CASE WHEN deadline_at_ms < ? THEN deadline_at_ms ELSE ? END"
#: the claimed run still runs (checked on the row found by its key)
STILL_RUNNING = residual("status = 'running'")


@dataclass(frozen=True, slots=True)
class Claimed:
    """A run just claimed, and whether it has a recorded history to read (a first claim of a run that no
    event reached has none)."""

    run: WorkflowRun
    has_history: bool


def queue_branches(
    workflows: Sequence[tuple[str, str]], shards: Sequence[str] | None
) -> list[tuple[str, str, str | None]]:
    """One (workflow, version, shard) per ordered queue a claim reads."""
    shard_list: list[str | None] = list(shards) if shards else [None]
    return [(name, version, shard) for name, version in workflows for shard in shard_list]


def queue_branch_sql(columns: str, shard: str | None, suffix: str = "") -> str:
    """The head of one queue, in claim order (``runs_queued``/``runs_queued_by_shard`` serve it unsorted)."""
    shard_sql = "shard IS NULL" if shard is None else "shard = ?"
    return (
        f"SELECT {columns} FROM runs WHERE namespace = ? AND workflow_name = ? AND version_id = ? "
        f"AND {shard_sql} AND status = 'queued' ORDER BY created_at_ms, id LIMIT ?{suffix}"
    )


def queue_branch_params(namespace: str, branch: tuple[str, str, str | None], limit: int) -> list[Any]:
    name, version, shard = branch
    return [namespace, name, version, *([] if shard is None else [shard]), limit]


class ClaimQueries(RunQueries):
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
        """Move up to ``limit`` queued runs (oldest first) to ``running`` under ``claim_token``.

        Each moves as ``update_run_state`` moves a run (revision, timeline row); the caller has checked the
        transition ``queued -> running`` (reason ``claimed``) against the state machine.
        """
        branches = queue_branches(workflows, shards)
        if not branches or limit <= 0:
            return []
        claimed = []
        for row in await self._queue_heads(namespace, branches, limit):
            run = run_from_row(row)
            moved = await self.update_run_state(
                run,
                CLAIMED,
                attempts=run.attempts,
                due_at_ms=run.due_within_deadline(now_ms + claim_timeout_ms),
                waiting_on=None,
                claim_token=claim_token,
                worker_id=worker_id,
                now_ms=now_ms,
            )
            if not moved:
                continue
            running = replace(run, state=CLAIMED, revision=run.revision + 1, updated_at_ms=now_ms)
            claimed.append(Claimed(running, running.revision > 1 or await self._has_events(run.id)))
        return claimed

    async def _queue_heads(
        self, namespace: str, branches: Sequence[tuple[str, str, str | None]], limit: int
    ) -> list[Row]:
        """The ``limit`` oldest queued runs of the ``branches`` queues (rows of ``RUN_COLUMNS``), oldest first:
        one statement that merges each queue's ordered head."""
        parts = [queue_branch_sql(RUN_COLUMNS, branch[2]) for branch in branches]
        params: list[Any] = []
        for branch in branches:
            params += queue_branch_params(namespace, branch, limit)
        if len(parts) == 1:
            return await self._fetch_all(parts[0], params)
        sql = " UNION ALL ".join(f"SELECT * FROM ({part})" for part in parts)
        return await self._fetch_all(sql + " ORDER BY created_at_ms, id LIMIT ?", [*params, limit])

    async def _has_events(self, run_id: str) -> bool:
        return (
            await self._fetch_one("SELECT 1 AS found FROM events WHERE run_id = ? LIMIT 1", (run_id,))
            is not None
        )

    async def refresh_claim(self, namespace: str, run_id: str, claim_token: str, due_at_ms: int) -> bool:
        """Push the claim's expiry to ``due_at_ms`` (the run's own deadline stays its timer if earlier); False
        if the claim is not held (or the run not running)."""
        changed = await self._execute(
            f"UPDATE runs SET due_at_ms = {CLAIM_DUE} WHERE id = ? AND claim_token = ? AND {SAME_NAMESPACE} "
            f"AND {STILL_RUNNING}",
            (due_at_ms, due_at_ms, run_id, claim_token, namespace),
        )
        return changed == 1

    async def claim_held(self, namespace: str, run_id: str, claim_token: str) -> bool:
        """Whether ``claim_token`` still holds the run (in any status: a paused run keeps its claim)."""
        row = await self._fetch_one(
            "SELECT namespace FROM runs WHERE id = ? AND claim_token = ?", (run_id, claim_token)
        )
        return row is not None and row["namespace"] == namespace
