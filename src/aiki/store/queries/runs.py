"""The ``runs`` table: reading, creating and moving runs.

Lookups of one run use the primary key alone (``WHERE id = ?``): no other index can serve them, so no plan
can read more than that one row. The namespace is checked on the row that comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiki.canonical_json import dumps
from aiki.store.queries.base import SAME_NAMESPACE, QueryBase, residual
from aiki.store.queries.transitions import INSERT_TRANSITION
from aiki.store.rows import RUN_COLUMNS, run_from_row
from aiki.types import RunState, RunStatus, WorkflowRun

FINISHED = "('completed', 'failed', 'cancelled')"
#: a running run no parent can wait on (no parent, no reference id), checked on a row found by its key
AWAITING_CHILD = residual("status = 'awaiting_child_workflow'")
UNLINKED_RUNNING = residual("status = 'running' AND parent_run_id IS NULL AND reference_id IS NULL")


def run_values(
    run: WorkflowRun,
    due_at_ms: int | None,
    state_text: str,
    input_text: str | None = None,
    options_text: str | None = None,
    claim_token: str | None = None,
    worker_id: str | None = None,
) -> list[Any]:
    """The column values of a new ``runs`` row, in the order of ``RUN_COLUMNS`` (``state_text``: its state's
    storage text, which its first timeline row stores too; the input's and options' texts when the caller
    has them already)."""
    return [
        run.id,
        run.namespace,
        run.name,
        run.version_id,
        run.status.value,
        state_text,
        dumps(run.input) if input_text is None else input_text,
        run.input_hash,
        dumps(run.options) if options_text is None else options_text,
        run.shard,
        run.reference_id,
        run.parent_run_id,
        run.schedule_id,
        None,
        run.revision,
        run.attempts,
        due_at_ms,
        claim_token,
        worker_id,
        run.created_at_ms,
        run.updated_at_ms,
        run.deadline_at_ms,
        None if run.trace_context is None else dumps(dict(run.trace_context.items())),
    ]


#: a new run; nothing when its id or its reference id is taken (a concurrent start won: the caller looks again)
INSERT_RUN = (
    f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({', '.join('?' for _ in RUN_COLUMNS.split(', '))}) "
    "ON CONFLICT DO NOTHING"
)


def claimed_run_rows(
    queued: WorkflowRun,
    claimed: WorkflowRun,
    due_at_ms: int | None,
    claim_token: str,
    worker_id: str,
    input_text: str | None,
    options_text: str | None,
) -> tuple[list[Any], list[list[Any]]]:
    """The ``runs`` row of a run created claimed, and its two first timeline rows: created queued, then
    claimed (each in the column order of ``INSERT_TRANSITION``)."""
    queued_text, claimed_text = dumps(queued.state.to_dict()), dumps(claimed.state.to_dict())
    values = run_values(claimed, due_at_ms, claimed_text, input_text, options_text, claim_token, worker_id)
    created = queued.created_at_ms
    timeline = [
        [queued.id, 0, queued.attempts, None, queued.status.value, queued.state.reason, queued_text, created],
        [
            claimed.id,
            1,
            claimed.attempts,
            queued.status.value,
            claimed.status.value,
            claimed.state.reason,
            claimed_text,
            created,
        ],
    ]
    return values, timeline


@dataclass(frozen=True, slots=True)
class StateChange:
    """One run's move in ``update_run_states``: compare-and-set on ``run.revision``, like ``update_run_state``."""

    run: WorkflowRun
    state: RunState
    attempts: int
    due_at_ms: int | None
    claim_token: str | None = None
    worker_id: str | None = None


class RunQueries(QueryBase):
    async def get_run(self, namespace: str, run_id: str, *, for_update: bool = False) -> WorkflowRun | None:
        """Run ``run_id`` of ``namespace`` (locked for update on PostgreSQL if asked), or ``None``."""
        row = await self._fetch_one(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?{self._lock(for_update)}", (run_id,)
        )
        if row is None or row["namespace"] != namespace:
            return None
        return run_from_row(row)

    async def get_claimed_run(
        self, namespace: str, run_id: str, claim_token: str, *, for_update: bool = False
    ) -> WorkflowRun | None:
        """The run if ``claim_token`` holds its claim, else ``None``."""
        row = await self._fetch_one(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ? AND claim_token = ?{self._lock(for_update)}",
            (run_id, claim_token),
        )
        if row is None or row["namespace"] != namespace:
            return None
        return run_from_row(row)

    async def get_run_by_reference(
        self, namespace: str, name: str, version_id: str, reference_id: str
    ) -> WorkflowRun | None:
        """The run a reference id names within a workflow version (served by ``runs_by_reference_id``)."""
        row = await self._fetch_one(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE namespace = ? AND reference_id = ? "
            f"AND {residual('workflow_name = ? AND version_id = ?')}",
            (namespace, reference_id, name, version_id),
        )
        return None if row is None else run_from_row(row)

    async def insert_run(
        self,
        run: WorkflowRun,
        due_at_ms: int | None,
        *,
        input_text: str | None = None,
        options_text: str | None = None,
    ) -> bool:
        """Insert a new run and the first row of its timeline; False (nothing written) when another run took
        its reference id first. ``input_text``, ``options_text``: the storage texts, if already made."""
        state_text = dumps(run.state.to_dict())
        values = run_values(run, due_at_ms, state_text, input_text, options_text)
        if await self._execute(INSERT_RUN, values) != 1:
            return False
        await self._execute(
            INSERT_TRANSITION,
            (
                run.id,
                run.revision,
                run.attempts,
                None,
                run.status.value,
                run.state.reason,
                state_text,
                run.created_at_ms,
            ),
        )
        return True

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
        """Insert a new run already claimed (``claimed``: running, revision 1) under ``claim_token``, with
        both rows of its timeline: created ``queued`` (as ``queued``, revision 0), then claimed."""
        values, timeline = claimed_run_rows(
            queued, claimed, due_at_ms, claim_token, worker_id, input_text, options_text
        )
        if await self._execute(INSERT_RUN, values) != 1:
            return False
        for row in timeline:
            await self._execute(INSERT_TRANSITION, row)
        return True

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
        """Compare-and-set the run's state on its revision, bump the revision and append the timeline row.

        False if someone else moved the run. ``keep_claim`` leaves the claim columns as they are (a paused
        run's in-flight task still records).
        """
        update, params = self._state_update(
            run, state, attempts, due_at_ms, waiting_on, claim_token, worker_id, now_ms, keep_claim
        )
        if await self._execute(update, params) != 1:
            return False
        await self._execute(
            INSERT_TRANSITION,
            (
                run.id,
                run.revision + 1,
                attempts,
                run.status.value,
                state.status.value,
                state.reason,
                params[1],
                now_ms,
            ),
        )
        return True

    async def update_run_states(self, changes: Sequence[StateChange], now_ms: int) -> int:
        """``update_run_state`` for several runs (none waiting on a child, none keeping a claim it loses);
        returns how many moved (PostgreSQL: one statement for them all)."""
        moved = 0
        for change in changes:
            moved += await self.update_run_state(
                change.run,
                change.state,
                attempts=change.attempts,
                due_at_ms=change.due_at_ms,
                waiting_on=None,
                claim_token=change.claim_token,
                worker_id=change.worker_id,
                now_ms=now_ms,
            )
        return moved

    @staticmethod
    def _state_update(
        run: WorkflowRun,
        state: RunState,
        attempts: int,
        due_at_ms: int | None,
        waiting_on: str | None,
        claim_token: str | None,
        worker_id: str | None,
        now_ms: int,
        keep_claim: bool,
    ) -> tuple[str, list[Any]]:
        """The compare-and-set UPDATE of a state change, and its parameters (the state JSON is second)."""
        claim_sql = "" if keep_claim else ", claim_token = ?, worker_id = ?"
        claim_params: list[Any] = [] if keep_claim else [claim_token, worker_id]
        update = (
            "UPDATE runs SET status = ?, state = ?, revision = revision + 1, attempts = ?, due_at_ms = ?, "
            f"waiting_on = ?{claim_sql}, updated_at_ms = ? WHERE id = ? AND revision = ?"
        )
        params = [
            state.status.value,
            dumps(state.to_dict()),
            attempts,
            due_at_ms,
            waiting_on,
            *claim_params,
            now_ms,
            run.id,
            run.revision,
        ]
        return update, params

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
        """Complete or fail a running run that no parent can wait on (no parent, no reference id), fenced by
        its claim and revision. ``None`` when that does not describe the run: the caller takes the general
        path, which also wakes parents (and raises the right error for a stale writer)."""
        run = await self.get_claimed_run(namespace, run_id, claim_token, for_update=True)
        if (
            run is None
            or run.revision != expected_revision
            or run.status is not RunStatus.RUNNING
            or run.parent_run_id is not None
            or run.reference_id is not None
        ):
            return None
        moved = await self.update_run_state(
            run,
            state,
            attempts=run.attempts,
            due_at_ms=due_at_ms,
            waiting_on=None,
            claim_token=None,
            worker_id=None,
            now_ms=now_ms,
        )
        if not moved:
            return None
        return replace(run, state=state, revision=run.revision + 1, updated_at_ms=now_ms)

    async def unfinished_children(self, parent_run_id: str) -> list[WorkflowRun]:
        """The runs this parent created that have not finished, locked (a cancel cascades to them).

        Only runs the parent created: a run it merely adopted through a reference id lives on.
        """
        rows = await self._fetch_all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE parent_run_id = ? AND status NOT IN {FINISHED} "
            f"ORDER BY created_at_ms, id{self.FOR_UPDATE}",
            (parent_run_id,),
        )
        return [run_from_row(row) for row in rows]

    async def parents_waiting_on(self, child_run_id: str) -> list[WorkflowRun]:
        """The runs parked on ``child_run_id`` (``awaiting_child_workflow``), locked."""
        rows = await self._fetch_all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE waiting_on = ? "
            f"AND {AWAITING_CHILD} ORDER BY id{self.FOR_UPDATE}",
            (child_run_id,),
        )
        return [run_from_row(row) for row in rows]

    async def unfinished_runs_of_schedule(
        self, namespace: str, schedule_id: str, *, for_update: bool
    ) -> list[WorkflowRun]:
        """The schedule's runs that have not finished (served by ``runs_active_by_schedule``)."""
        rows = await self._fetch_all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE schedule_id = ? AND {SAME_NAMESPACE} "
            f"AND status NOT IN {FINISHED} ORDER BY id{self._lock(for_update)}",
            (schedule_id, namespace),
        )
        return [run_from_row(row) for row in rows]

    async def runs_of_schedule(self, namespace: str, schedule_id: str, limit: int) -> list[WorkflowRun]:
        """The runs a schedule started, latest occurrence first (served by ``runs_by_schedule_occurrence``)."""
        rows = await self._fetch_all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE schedule_id = ? AND {SAME_NAMESPACE} "
            "ORDER BY reference_id DESC LIMIT ?",
            (schedule_id, namespace, limit),
        )
        return [run_from_row(row) for row in rows]

    async def clear_due(self, run_id: str) -> None:
        """Forget a deadline left on a status that has none: only the run's own deadline remains."""
        await self._execute("UPDATE runs SET due_at_ms = deadline_at_ms WHERE id = ?", (run_id,))
