"""Deleting finished runs: whole trees (a run and the children it created), with everything recorded of
them, by their primary keys and ``run_id`` indexes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiki.store.queries.base import QueryBase, Row, marks, padded_batches

#: the tables that hold rows of a run, and the column that names it
RUN_TABLES = (
    ("tasks", "run_id"),
    ("sleeps", "run_id"),
    ("events", "run_id"),
    ("transitions", "run_id"),
    ("child_runs", "parent_run_id"),
    ("child_waits", "parent_run_id"),
)


@dataclass(frozen=True, slots=True)
class TreeNode:
    """One run of a tree: enough to decide whether the tree may go."""

    id: str
    namespace: str
    status: str
    updated_at_ms: int


TREE_COLUMNS = "id, namespace, status, updated_at_ms"


def _node(row: Row) -> TreeNode:
    return TreeNode(str(row["id"]), str(row["namespace"]), str(row["status"]), int(row["updated_at_ms"]))


class RetentionQueries(QueryBase):
    async def set_due(self, run_id: str, due_at_ms: int | None) -> None:
        await self._execute("UPDATE runs SET due_at_ms = ? WHERE id = ?", (due_at_ms, run_id))

    async def existing_runs(self, run_ids: Sequence[str]) -> set[str]:
        """Which of ``run_ids`` still exist (primary-key reads)."""
        found: set[str] = set()
        for batch in padded_batches(run_ids):
            rows = await self._fetch_all(f"SELECT id FROM runs WHERE id IN ({marks(len(batch))})", batch)
            found.update(str(row["id"]) for row in rows)
        return found

    async def run_trees(self, root_ids: Sequence[str]) -> dict[str, list[TreeNode]]:
        """Each existing root's tree: the run and every run it created, at any depth, root first. One
        primary-key read of the roots, then one ``runs_by_parent`` read per generation, for all trees."""
        trees: dict[str, list[TreeNode]] = {}
        root_of: dict[str, str] = {}
        for batch in padded_batches(root_ids):
            rows = await self._fetch_all(
                f"SELECT {TREE_COLUMNS} FROM runs WHERE id IN ({marks(len(batch))})", batch
            )
            for row in rows:
                node = _node(row)
                if node.id not in trees:
                    trees[node.id] = [node]
                    root_of[node.id] = node.id
        generation = list(trees)
        while generation:
            children: list[str] = []
            for batch in padded_batches(generation):
                rows = await self._fetch_all(
                    f"SELECT {TREE_COLUMNS}, parent_run_id FROM runs WHERE parent_run_id IN ({marks(len(batch))})",
                    batch,
                )
                for row in rows:
                    node = _node(row)
                    if node.id in root_of:
                        continue  # a padded list names a parent twice: its children come back twice
                    root = root_of[str(row["parent_run_id"])]
                    root_of[node.id] = root
                    trees[root].append(node)
                    children.append(node.id)
            generation = children
        return trees

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Delete the runs and every row recorded of them; returns how many runs were deleted."""
        deleted = 0
        for batch in padded_batches(run_ids):
            ids = marks(len(batch))
            for table, column in RUN_TABLES:
                await self._execute(f"DELETE FROM {table} WHERE {column} IN ({ids})", batch)
            deleted += await self._execute(f"DELETE FROM runs WHERE id IN ({ids})", batch)
        return deleted

    async def finished_runs_created_before(
        self,
        namespace: str,
        status: str,
        before_ms: int,
        after: tuple[int, str] | None,
        limit: int,
    ) -> list[tuple[str, int, int, str | None]]:
        """``(id, created_at_ms, updated_at_ms, parent_run_id)`` of finished runs of one status created
        before ``before_ms``, oldest first, after the keyset position ``after`` (served by
        ``runs_by_status``)."""
        params: list[Any] = [namespace, status, before_ms]
        keyset = ""
        if after is not None:
            # A row value, so that both databases start the index range at the keyset position (spelled out
            # with OR, SQLite started each page at the beginning of the status: 3.2 against 0.8 ms a page).
            keyset = " AND (created_at_ms, id) > (?, ?)"
            params += [after[0], after[1]]
        rows = await self._fetch_all(
            "SELECT id, created_at_ms, updated_at_ms, parent_run_id FROM runs WHERE namespace = ? AND status = ? "
            f"AND created_at_ms < ?{keyset} ORDER BY created_at_ms, id LIMIT ?",
            [*params, limit],
        )
        return [
            (str(row["id"]), int(row["created_at_ms"]), int(row["updated_at_ms"]), row["parent_run_id"])
            for row in rows
        ]
