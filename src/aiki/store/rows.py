"""Rows as values: the column lists of ``runs``, ``schedules`` and ``api_keys`` and the mapping of a row to the
value it describes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiki.canonical_json import loads
from aiki.contract.schedules import ScheduleInfo, ScheduleStatus
from aiki.store.queries.base import Row
from aiki.types import ApiKey, RunState, RunStatus, WorkflowRun

RUN_COLUMNS = (
    "id, namespace, workflow_name, version_id, status, state, input, input_hash, options, shard, "
    "reference_id, parent_run_id, schedule_id, waiting_on, revision, attempts, due_at_ms, claim_token, "
    "worker_id, created_at_ms, updated_at_ms, deadline_at_ms, trace_context"
)

SCHEDULE_COLUMNS = (
    "id, namespace, workflow_name, version_id, timing, overlap_policy, input, input_hash, run_options, "
    "shard, definition_hash, reference_id, status, next_run_at_ms, last_occurrence_ms, created_at_ms, "
    "updated_at_ms"
)

KEY_COLUMNS = "id, namespace, name, created_at_ms, revoked_at_ms"

#: a state up to this many characters is read by lists (errors fit; large outputs are left out)
SMALL_STATE = 16_384


def run_from_row(row: Row) -> WorkflowRun:
    """The ``WorkflowRun`` a ``runs`` row describes."""
    return WorkflowRun(
        input=loads(row["input"]),
        state=RunState.from_dict(loads(row["state"])),  # type: ignore[arg-type]
        **_run_fields(row),
    )


#: what a list reads of a run: no input, and the state only while it is small (an error, not an output)
SUMMARY_COLUMNS = (
    "id, namespace, workflow_name, version_id, status, input_hash, options, shard, reference_id, parent_run_id, "
    "schedule_id, waiting_on, revision, attempts, due_at_ms, claim_token, worker_id, created_at_ms, "
    "updated_at_ms, deadline_at_ms, trace_context, "
    f"CASE WHEN length(state) <= {SMALL_STATE} THEN state END AS state, "
    "length(input) AS input_size, length(state) AS state_size"
)
#: the longest message of an error in a summary
SUMMARY_MESSAGE = 300


def summary_from_row(row: Row) -> WorkflowRun:
    """A run as a list shows it (see ``WorkflowRun.values_omitted``)."""
    status = RunStatus(row["status"])
    state = RunState(status)
    if row["state"] is not None:
        full = RunState.from_dict(loads(row["state"]))  # type: ignore[arg-type]
        error = full.error
        if error is not None:
            error = {key: error[key] for key in ("type", "task") if key in error}
            error["message"] = str((full.error or {}).get("message", ""))[:SUMMARY_MESSAGE]
        state = replace(full, output=None, error=error, previous=None)
    return WorkflowRun(input=None, state=state, values_omitted=True, **_run_fields(row))


def _run_fields(row: Row) -> dict[str, Any]:
    """The fields of a run that a summary and a whole run read alike."""
    return {
        "id": row["id"],
        "namespace": row["namespace"],
        "name": row["workflow_name"],
        "version_id": row["version_id"],
        "input_hash": row["input_hash"],
        "revision": int(row["revision"]),
        "attempts": int(row["attempts"]),
        "options": loads(row["options"]) or {},
        "shard": row["shard"],
        "reference_id": row["reference_id"],
        "parent_run_id": row["parent_run_id"],
        "schedule_id": row["schedule_id"],
        "created_at_ms": int(row["created_at_ms"]),
        "updated_at_ms": int(row["updated_at_ms"]),
        "deadline_at_ms": None if row["deadline_at_ms"] is None else int(row["deadline_at_ms"]),
        "trace_context": None if row["trace_context"] is None else loads(row["trace_context"]),
    }


def values_size(row: Row) -> int:
    """How large the input and state of a summarised run are, as stored."""
    return int(row["input_size"] or 0) + int(row["state_size"] or 0)


def schedule_from_row(row: Row) -> ScheduleInfo:
    """The ``ScheduleInfo`` a ``schedules`` row describes."""
    last = row["last_occurrence_ms"]
    return ScheduleInfo(
        id=row["id"],
        namespace=row["namespace"],
        workflow_name=row["workflow_name"],
        version_id=row["version_id"],
        status=ScheduleStatus(row["status"]),
        timing=loads(row["timing"]),  # type: ignore[arg-type]
        overlap_policy=row["overlap_policy"],
        input=loads(row["input"]),
        input_hash=row["input_hash"],
        run_options=loads(row["run_options"]) or {},  # type: ignore[arg-type]
        shard=row["shard"],
        definition_hash=row["definition_hash"],
        reference_id=row["reference_id"],
        next_run_at_ms=int(row["next_run_at_ms"]),
        last_occurrence_ms=None if last is None else int(last),
        created_at_ms=int(row["created_at_ms"]),
        updated_at_ms=int(row["updated_at_ms"]),
    )


def key_from_row(row: dict[str, Any]) -> ApiKey:
    """The ``ApiKey`` an ``api_keys`` row describes (its hash stays in the database)."""
    revoked = row["revoked_at_ms"]
    return ApiKey(
        id=str(row["id"]),
        namespace=str(row["namespace"]),
        name=str(row["name"]),
        created_at_ms=int(row["created_at_ms"]),
        revoked_at_ms=None if revoked is None else int(revoked),
    )
