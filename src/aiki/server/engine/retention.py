"""Retention: a finished run is deleted, with everything recorded of it, once its retention has passed.

A finished run's deadline (``due_at_ms``) is the end of its retention, kept in its own index
(``runs_expiring``): the deadline loop fires every due timer first, then deletes expired runs in small,
paced batches (the runs of a batch are deleted together, a few statements for the whole batch). A run goes
with its tree: the children it created go with their parent, once every run of the tree has finished and is
past its own retention.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiki.server.engine.changes import Changes
from aiki.server.engine.settings import ServerSettings
from aiki.store.connection import Connection
from aiki.store.queries.retention import TreeNode
from aiki.types import TERMINAL_STATUSES, WorkflowRun

#: a tree with a run still going is looked at again after at most this long
RECHECK_MS = 24 * 3600 * 1000


class RunExpiries:
    """The timer source of finished runs: deletes those past their retention, a batch at a time.

    The runtime paces it (see ``Runtime.add_source``): deletions never hold the database or the event loop
    for more than a third of the time, however many runs expire at once.
    """

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings

    async def fire_due(self, connection: Connection, changes: Changes, now_ms: int, limit: int) -> int:
        """Delete up to ``limit`` expired runs (with their trees); returns how many were looked at."""
        runs = [run for _due_at_ms, run in await connection.expired_runs(now_ms, limit)]
        if runs:
            await purge_due(connection, runs, now_ms, self.settings)
        return len(runs)

    async def next_deadline(self, connection: Connection) -> int | None:
        return await connection.next_expiry()


async def purge_due(
    connection: Connection, runs: Sequence[WorkflowRun], now_ms: int, settings: ServerSettings
) -> int:
    """Delete each finished run of ``runs`` (with the tree it roots) whose retention has passed; returns how
    many runs were deleted. The deadline of a run that stays moves to when it should be looked at again.
    A statement covers many runs (a batch of the deadline loop), not one."""
    candidates = []
    for run in runs:
        retention_ms = settings.retention_for(run.namespace)
        if retention_ms is None:
            await connection.set_due(run.id, None)
            continue
        expires_at_ms = run.updated_at_ms + retention_ms
        if expires_at_ms > now_ms:
            # The retention was made longer since the run finished.
            await connection.set_due(run.id, expires_at_ms)
            continue
        candidates.append(run)
    parents = [run.parent_run_id for run in candidates if run.parent_run_id is not None]
    kept_parents = await connection.existing_runs(parents) if parents else set()
    roots = []
    for run in candidates:
        if run.parent_run_id in kept_parents:
            # Its parent's tree takes it, when the parent goes.
            await connection.set_due(run.id, None)
            continue
        roots.append(run.id)
    return await purge_trees(connection, roots, now_ms, settings)


async def purge_trees(
    connection: Connection, root_ids: Sequence[str], cutoff_ms: int, settings: ServerSettings
) -> int:
    """Delete each tree rooted at one of ``root_ids`` if every run of it finished and is past its retention
    at ``cutoff_ms``; else move the root's deadline to when that may be true. Returns the runs deleted."""

    def expires_at_ms(node: TreeNode) -> int | None:
        retention_ms = settings.retention_for(node.namespace)
        if node.status not in TERMINAL_STATUSES:
            return cutoff_ms + min(retention_ms or RECHECK_MS, RECHECK_MS)
        return None if retention_ms is None else node.updated_at_ms + retention_ms

    deleted, kept = await delete_trees_if(connection, root_ids, cutoff_ms, expires_at_ms)
    for root_id, later_ms in kept.items():
        # Look again when the whole tree may have expired (never, if a run of it is kept for ever).
        await connection.set_due(root_id, later_ms)
    return deleted


async def purge_finished_before(connection: Connection, root_ids: Sequence[str], before_ms: int) -> int:
    """Delete each tree rooted at one of ``root_ids`` if every run of it finished before ``before_ms``."""

    def finished_at_ms(node: TreeNode) -> int | None:
        return (
            node.updated_at_ms
            if node.status in TERMINAL_STATUSES and node.updated_at_ms < before_ms
            else None
        )

    deleted, _kept = await delete_trees_if(connection, root_ids, before_ms, finished_at_ms)
    return deleted


async def delete_trees_if(
    connection: Connection,
    root_ids: Sequence[str],
    cutoff_ms: int,
    expires_at_ms: Callable[[TreeNode], int | None],
) -> tuple[int, dict[str, int | None]]:
    """Delete each tree rooted at one of ``root_ids`` whose every run expired by ``cutoff_ms``, all in one
    set of statements.

    Returns the runs deleted, and for each tree that stays the time it may all have expired (None: never).
    """
    doomed: list[str] = []
    kept: dict[str, int | None] = {}
    for root_id, tree in (await connection.run_trees(root_ids)).items():
        expiries = [expires_at_ms(node) for node in tree]
        if all(expiry is not None and expiry <= cutoff_ms for expiry in expiries):
            doomed += [node.id for node in tree]
        elif any(expiry is None for expiry in expiries):
            kept[root_id] = None
        else:
            kept[root_id] = max(expiry for expiry in expiries if expiry is not None)
    return (await connection.delete_runs(doomed) if doomed else 0), kept
