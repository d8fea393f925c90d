"""Creating a run: a plain start, a start under a reference id (idempotent), a child's start (linked to its
parent at an address), a scheduled start. Used by the start command and by schedules."""

from __future__ import annotations

from dataclasses import dataclass, replace

from aiki.contract.checks import StartTexts
from aiki.contract.messages import StartRequest
from aiki.errors import NotFoundError, RevisionConflictError, WorkflowRunConflictError
from aiki.ids import new_id
from aiki.server.engine.changes import Changes
from aiki.server.engine.run_deadline import deadline_at
from aiki.server.engine.settings import ServerSettings
from aiki.server.engine.state_machine import check_transition
from aiki.server.engine.transitions import due_at_ms_of
from aiki.store.connection import Connection
from aiki.store.queries.claims import CLAIMED
from aiki.types import RunState, RunStatus, WorkflowRun


class StartConflict(Exception):
    """Another start created the same reference id or child address first: look again."""


@dataclass(frozen=True, slots=True)
class HandedClaim:
    """Create the run claimed by this worker (``engine/handoff.py``), under this token."""

    worker_id: str
    claim_token: str


async def create_run(
    connection: Connection,
    changes: Changes,
    namespace: str,
    request: StartRequest,
    now_ms: int,
    settings: ServerSettings,
    texts: StartTexts | None = None,
    claim: HandedClaim | None = None,
) -> WorkflowRun:
    """Create a run, or return the one its reference id (or its parent's address) already names.

    ``texts``: the storage texts of the input and options, when the caller's checks made them. ``claim``: a
    run queued at once is created claimed for that worker instead (``running``, both timeline rows).

    Raises ``StartConflict`` when a concurrent start took the reference id or the address first; the
    caller runs the start again, which then finds that run.
    """
    parent = request.parent
    parent_run = None
    if parent is not None:
        parent_run = await connection.get_claimed_run(
            namespace, parent.run_id, parent.claim_token, for_update=True
        )
        if parent_run is None:
            if await connection.get_run(namespace, parent.run_id) is None:
                raise NotFoundError("workflow run", parent.run_id)
            raise RevisionConflictError(
                parent.run_id, None, "the parent run is no longer claimed by this worker"
            )
        linked = await connection.child_at(parent.run_id, parent.address, parent.occurrence)
        if linked is not None:
            child = await connection.get_run(namespace, linked)
            if child is None:
                raise NotFoundError("workflow run", linked)
            return child
    if request.reference_id is not None:
        existing = await connection.get_run_by_reference(
            namespace, request.name, request.version_id, request.reference_id
        )
        if existing is not None:
            if existing.input_hash != request.input_hash and request.conflict_policy != "return_existing":
                raise WorkflowRunConflictError(
                    request.name, request.version_id, request.reference_id, existing.id
                )
            if parent is not None:
                await _link(connection, request, existing.id, now_ms)
            return existing
    start_at_ms = request.at_ms if request.at_ms is not None else now_ms + (request.delay_ms or 0)
    if start_at_ms > now_ms:
        state = RunState(RunStatus.SCHEDULED, reason="new", scheduled_at_ms=start_at_ms)
    else:
        state = RunState(RunStatus.QUEUED, reason="new")
    run = WorkflowRun(
        id=new_id(),
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
        deadline_at_ms=deadline_at(request, now_ms, parent_run),
        trace_context=request.trace_context,
    )
    input_text, options_text = (None, None) if texts is None else (texts.input, texts.options)
    if claim is not None and state.status is RunStatus.QUEUED:
        check_transition("(handed run)", RunStatus.QUEUED, CLAIMED.status, CLAIMED.reason)
        queued = run
        run = replace(run, state=CLAIMED, revision=1)
        due_at_ms = run.due_within_deadline(now_ms + settings.claim_timeout_ms)
        inserted = await connection.insert_claimed_run(
            queued,
            run,
            due_at_ms,
            claim_token=claim.claim_token,
            worker_id=claim.worker_id,
            input_text=input_text,
            options_text=options_text,
        )
    else:
        due_at_ms = run.due_within_deadline(due_at_ms_of(run, state, now_ms, settings))
        inserted = await connection.insert_run(
            run, due_at_ms, input_text=input_text, options_text=options_text
        )
    if not inserted:
        raise StartConflict()
    if parent is not None:
        await _link(connection, request, run.id, now_ms)
    changes.created(run, due_at_ms)
    return run


async def _link(connection: Connection, request: StartRequest, child_run_id: str, now_ms: int) -> None:
    parent = request.parent
    assert parent is not None
    if not await connection.link_child(
        parent.run_id, parent.address, parent.occurrence, child_run_id, now_ms
    ):
        raise StartConflict()
