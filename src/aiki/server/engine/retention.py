"""Retention: a finished run is deleted, with everything recorded of it, once its retention has passed.

A finished run's deadline (``due_at_ms``) is the end of its retention, so the one deadline loop purges
runs as it fires every other timer, in its small batches. A run goes with its tree: the children it created
go with their parent, once every run of the tree has finished and is past its own retention.
"""

from __future__ import annotations

from collections.abc import Callable

from aiki.server.engine.settings import ServerSettings
from aiki.store.connection import Connection
from aiki.store.queries.retention import TreeNode
from aiki.types import TERMINAL_STATUSES, WorkflowRun

#: a tree with a run still going is looked at again after at most this long
RECHECK_MS = 24 * 3600 * 1000


async def purge_if_due(
    connection: Connection, run: WorkflowRun, now_ms: int, settings: ServerSettings
) -> int:
    """Delete the finished ``run`` (and the tree it roots) if its retention has passed; returns how many
    runs were deleted. Otherwise the run's deadline moves to when it should be looked at again."""
    retention_ms = settings.retention_for(run.namespace)
    if retention_ms is None:
        await connection.set_due(run.id, None)
        return 0
    expires_at_ms = run.updated_at_ms + retention_ms
    if expires_at_ms > now_ms:
        # The retention was made longer since the run finished.
        await connection.set_due(run.id, expires_at_ms)
        return 0
    if run.parent_run_id is not None and await connection.run_exists(run.parent_run_id):
        # Its parent's tree takes it, when the parent goes.
        await connection.set_due(run.id, None)
        return 0
    return await purge_tree(connection, run.id, now_ms, settings)


async def purge_tree(connection: Connection, root_id: str, cutoff_ms: int, settings: ServerSettings) -> int:
    """Delete the tree rooted at ``root_id`` if every run of it finished and is past its retention at
    ``cutoff_ms``; else move the root's deadline to when that may be true. Returns the runs deleted."""

    def expires_at_ms(node: TreeNode) -> int | None:
        retention_ms = settings.retention_for(node.namespace)
        if node.status not in TERMINAL_STATUSES:
            return cutoff_ms + min(retention_ms or RECHECK_MS, RECHECK_MS)
        return None if retention_ms is None else node.updated_at_ms + retention_ms

    deleted, later_ms = await delete_tree_if(connection, root_id, cutoff_ms, expires_at_ms)
    if not deleted:
        # Look again when the whole tree may have expired (never, if a run of it is kept for ever).
        await connection.set_due(root_id, later_ms)
    return deleted


async def purge_finished_before(connection: Connection, root_id: str, before_ms: int) -> int:
    """Delete the tree rooted at ``root_id`` if every run of it finished before ``before_ms``."""

    def finished_at_ms(node: TreeNode) -> int | None:
        return (
            node.updated_at_ms
            if node.status in TERMINAL_STATUSES and node.updated_at_ms < before_ms
            else None
        )

    deleted, _later_ms = await delete_tree_if(connection, root_id, before_ms, finished_at_ms)
    return deleted


async def delete_tree_if(
    connection: Connection, root_id: str, cutoff_ms: int, expires_at_ms: Callable[[TreeNode], int | None]
) -> tuple[int, int | None]:
    """Delete the tree rooted at ``root_id`` if every run of it expired by ``cutoff_ms``.

    Returns the runs deleted, and (when the tree stays) the time it may all have expired, if ever.
    """
    tree = await connection.run_tree(root_id)
    expiries = [expires_at_ms(node) for node in tree]
    if all(expiry is not None and expiry <= cutoff_ms for expiry in expiries):
        return await connection.delete_runs([node.id for node in tree]), None
    if any(expiry is None for expiry in expiries):
        return 0, None
    return 0, max(expiry for expiry in expiries if expiry is not None)
