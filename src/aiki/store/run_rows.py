"""SQL for the ``runs`` and ``transitions`` tables, and the mapping of a row to a ``WorkflowRun``."""

from __future__ import annotations

from typing import Any

from aiki.canonical_json import dumps, loads
from aiki.store.database import Connection, Row
from aiki.types import RunState, Transition, WorkflowRun

RUN_COLUMNS = (
    "id, namespace, workflow_name, version_id, status, state, input, input_hash, options, shard, "
    "reference_id, parent_run_id, schedule_id, waiting_on, revision, attempts, due_at_ms, claim_token, "
    "worker_id, created_at_ms, updated_at_ms"
)


def run_from_row(row: Row) -> WorkflowRun:
    """The ``WorkflowRun`` a ``runs`` row describes."""
    return WorkflowRun(
        id=row["id"],
        namespace=row["namespace"],
        name=row["workflow_name"],
        version_id=row["version_id"],
        input=loads(row["input"]),
        input_hash=row["input_hash"],
        state=RunState.from_dict(loads(row["state"])),  # type: ignore[arg-type]
        revision=int(row["revision"]),
        attempts=int(row["attempts"]),
        options=loads(row["options"]) or {},  # type: ignore[arg-type]
        shard=row["shard"],
        reference_id=row["reference_id"],
        parent_run_id=row["parent_run_id"],
        schedule_id=row["schedule_id"],
        created_at_ms=int(row["created_at_ms"]),
        updated_at_ms=int(row["updated_at_ms"]),
    )


async def fetch_run_row(
    connection: Connection, namespace: str, run_id: str, *, for_update: bool = False
) -> Row | None:
    """The row of run ``run_id`` in ``namespace`` (locked for update on PostgreSQL if asked)."""
    lock = " FOR UPDATE" if for_update and connection.dialect == "postgres" else ""
    return await connection.fetch_one(
        f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ? AND namespace = ?{lock}", (run_id, namespace)
    )


async def insert_run(connection: Connection, values: dict[str, Any], state: RunState) -> None:
    """Insert a new run row (``values`` has every column of ``RUN_COLUMNS``) and its first timeline row.

    On PostgreSQL both writes are one statement (one round trip).
    """
    columns = RUN_COLUMNS.split(", ")
    placeholders = ", ".join("?" for _ in columns)
    insert = f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({placeholders})"
    params = [values[c] for c in columns]
    if connection.dialect == "postgres":
        await connection.execute(
            f"WITH created AS ({insert} RETURNING id) INSERT INTO transitions (run_id, revision, attempt, "
            "from_status, to_status, reason, state, created_at_ms) SELECT id, 0, 1, NULL, ?, ?, ?, ? FROM created",
            (*params, state.status.value, state.reason, values["state"], values["created_at_ms"]),
        )
        return
    await connection.execute(insert, params)
    await insert_transition(connection, values["id"], 0, 1, None, state, values["created_at_ms"])


async def update_run_state(
    connection: Connection,
    run_id: str,
    expected_revision: int,
    state: RunState,
    *,
    attempts: int,
    due_at_ms: int | None,
    waiting_on: str | None,
    claim_token: str | None,
    worker_id: str | None,
    now_ms: int,
    keep_claim: bool = False,
    from_status: str,
) -> bool:
    """Compare-and-set a run's state on its revision, bump the revision and append the timeline row.

    False if someone else moved the run. ``keep_claim`` leaves the claim columns as they are (a paused
    run's in-flight task still records). On PostgreSQL both writes are one statement (one round trip).
    """
    claim_sql = "" if keep_claim else ", claim_token = ?, worker_id = ?"
    claim_params: tuple[str | None, ...] = () if keep_claim else (claim_token, worker_id)
    state_json = dumps(state.to_dict())
    update = (
        "UPDATE runs SET status = ?, state = ?, revision = revision + 1, attempts = ?, due_at_ms = ?, "
        f"waiting_on = ?{claim_sql}, updated_at_ms = ? WHERE id = ? AND revision = ?"
    )
    update_params = (
        state.status.value,
        state_json,
        attempts,
        due_at_ms,
        waiting_on,
        *claim_params,
        now_ms,
        run_id,
        expected_revision,
    )
    transition_values = (from_status, state.status.value, state.reason, state_json, now_ms)
    if connection.dialect == "postgres":
        changed = await connection.execute(
            f"WITH moved AS ({update} RETURNING id, revision, attempts) "
            "INSERT INTO transitions (run_id, revision, attempt, from_status, to_status, reason, state, "
            "created_at_ms) SELECT id, revision, attempts, ?, ?, ?, ?, ? FROM moved",
            (*update_params, *transition_values),
        )
        return changed == 1
    if await connection.execute(update, update_params) != 1:
        return False
    await connection.execute(
        "INSERT INTO transitions (run_id, revision, attempt, from_status, to_status, reason, state, "
        "created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (run_id, expected_revision + 1, attempts, *transition_values),
    )
    return True


async def insert_transition(
    connection: Connection,
    run_id: str,
    revision: int,
    attempt: int,
    from_status: str | None,
    state: RunState,
    now_ms: int,
) -> None:
    """Append one row to the run's timeline."""
    await connection.execute(
        "INSERT INTO transitions (run_id, revision, attempt, from_status, to_status, reason, state, "
        "created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            revision,
            attempt,
            from_status,
            state.status.value,
            state.reason,
            dumps(state.to_dict()),
            now_ms,
        ),
    )


async def list_transitions(connection: Connection, run_id: str) -> list[Transition]:
    """The run's timeline, oldest first."""
    rows = await connection.fetch_all(
        "SELECT revision, attempt, from_status, to_status, reason, state, created_at_ms FROM transitions "
        "WHERE run_id = ? ORDER BY id",
        (run_id,),
    )
    return [
        Transition(
            revision=int(row["revision"]),
            attempt=int(row["attempt"]),
            from_status=row["from_status"],
            to_status=row["to_status"],
            reason=row["reason"],
            state=loads(row["state"]),  # type: ignore[arg-type]
            created_at_ms=int(row["created_at_ms"]),
        )
        for row in rows
    ]
