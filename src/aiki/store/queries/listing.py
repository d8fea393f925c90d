"""Lists, counts and statistics of runs for people and tools.

A page is read by keyset, newest (or oldest) first, from one ordered index range per branch: per status
from ``runs_by_status``, per version and status from ``runs_by_workflow``, or from the index of the one
parent, schedule or reference id asked for. Branches are merged (``UNION ALL`` of LIMITed heads), so a page
never sorts more rows than it returns, wherever it starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiki.contract.listing import Cursor, Order, RunFilter
from aiki.store.queries.base import SAME_NAMESPACE, QueryBase
from aiki.store.rows import RUN_COLUMNS, SUMMARY_COLUMNS, run_from_row, summary_from_row, values_size
from aiki.types import RunStatus, WorkflowRun

#: above this many branches a page falls back to one range and sorts it (a workflow with very many versions)
MAX_BRANCHES = 120

Clause = tuple[str, list[Any]]


@dataclass(frozen=True, slots=True)
class Listed:
    """A run of a page, as a summary, and how large its values (input and state) are as stored."""

    run: WorkflowRun
    values_size: int


class ListingQueries(QueryBase):
    async def list_runs(
        self, namespace: str, run_filter: RunFilter, *, order: Order, limit: int, after: Cursor | None
    ) -> list[Listed]:
        """Up to ``limit`` runs matching ``run_filter`` in ``order``, after the cursor position, as summaries
        (their values are not read: see ``WorkflowRun.values_omitted``) with the size of their values."""
        direction = "DESC" if order == "newest" else "ASC"
        keyset: list[Clause] = []
        if after is not None:
            operator = "<" if order == "newest" else ">"
            keyset.append((f"(created_at_ms, id) {operator} (?, ?)", [after.created_at_ms, after.run_id]))
        branches = await self._branches(namespace, run_filter)
        heads = []
        params: list[Any] = []
        for equalities in branches:
            clauses = [*equalities, *_residual(namespace, run_filter, equalities), *keyset]
            heads.append(
                f"SELECT {SUMMARY_COLUMNS} FROM runs WHERE {' AND '.join(sql for sql, _ in clauses)} "
                f"ORDER BY created_at_ms {direction}, id {direction} LIMIT ?"
            )
            params += [value for _, values in clauses for value in values] + [limit]
        if len(heads) == 1:
            sql = heads[0]
        else:
            sql = " UNION ALL ".join(f"SELECT * FROM ({head}) AS head_{i}" for i, head in enumerate(heads))
            sql += f" ORDER BY created_at_ms {direction}, id {direction} LIMIT ?"
            params.append(limit)
        rows = await self._fetch_all(sql, params, plan_each_time=True)
        return [Listed(summary_from_row(row), values_size(row)) for row in rows]

    async def get_runs(self, namespace: str, run_ids: Sequence[str]) -> dict[str, WorkflowRun]:
        """The runs of ``run_ids`` (of ``namespace``) with all their values, by id."""
        if not run_ids:
            return {}
        marks = ", ".join("?" for _ in run_ids)
        rows = await self._fetch_all(f"SELECT {RUN_COLUMNS} FROM runs WHERE id IN ({marks})", list(run_ids))
        return {row["id"]: run_from_row(row) for row in rows if row["namespace"] == namespace}

    async def count_runs(self, namespace: str, run_filter: RunFilter) -> int:
        """How many runs match ``run_filter`` (an index-only range count)."""
        clauses = _residual(namespace, run_filter, [])
        row = await self._fetch_one(
            f"SELECT COUNT(*) AS matching FROM runs WHERE {' AND '.join(sql for sql, _ in clauses)}",
            [value for _, values in clauses for value in values],
            plan_each_time=True,
        )
        return 0 if row is None else int(row["matching"])

    async def run_counts(self, namespace: str) -> list[tuple[str, str, str, int]]:
        """``(workflow, version, status, runs)`` of every version of the namespace (one pass over
        ``runs_by_workflow``, which holds these columns: the table itself is not read)."""
        rows = await self._fetch_all(
            "SELECT workflow_name, version_id, status, COUNT(*) AS runs FROM runs WHERE namespace = ? "
            "GROUP BY workflow_name, version_id, status ORDER BY workflow_name, version_id, status",
            (namespace,),
            plan_each_time=True,
        )
        return [
            (str(row["workflow_name"]), str(row["version_id"]), str(row["status"]), int(row["runs"]))
            for row in rows
        ]

    async def workflow_versions(self, namespace: str, workflow: str) -> list[str]:
        """The versions of ``workflow`` that have runs: one index probe per version (a skip scan)."""
        rows = await self._fetch_all(
            "WITH RECURSIVE versions(version_id) AS (SELECT (SELECT version_id FROM runs WHERE namespace = ? "
            "AND workflow_name = ? ORDER BY version_id LIMIT 1) UNION ALL SELECT (SELECT version_id FROM runs "
            "WHERE namespace = ? AND workflow_name = ? AND version_id > versions.version_id ORDER BY version_id "
            "LIMIT 1) FROM versions WHERE versions.version_id IS NOT NULL) "
            "SELECT version_id FROM versions WHERE version_id IS NOT NULL",
            (namespace, workflow, namespace, workflow),
            plan_each_time=True,
        )
        return [str(row["version_id"]) for row in rows]

    async def ping(self) -> None:
        """One round trip: the database answers."""
        await self._fetch_one("SELECT 1 AS alive")

    async def _branches(self, namespace: str, run_filter: RunFilter) -> list[list[Clause]]:
        """The equality prefixes of the ordered index ranges a page reads (one per branch)."""
        if run_filter.parent_run_id is not None:
            return [[("parent_run_id = ?", [run_filter.parent_run_id])]]
        if run_filter.schedule_id is not None:
            return [[("schedule_id = ?", [run_filter.schedule_id])]]
        if run_filter.reference_id is not None:
            return [[("namespace = ?", [namespace]), ("reference_id = ?", [run_filter.reference_id])]]
        statuses: Sequence[RunStatus] = run_filter.statuses or list(RunStatus)
        if run_filter.workflow is None:
            return [[("namespace = ?", [namespace]), ("status = ?", [status.value])] for status in statuses]
        versions = (
            [run_filter.version]
            if run_filter.version is not None
            else await self.workflow_versions(namespace, run_filter.workflow)
        )
        if not versions:
            versions = [""]  # no run of that workflow: one empty range
        prefix = [("namespace = ?", [namespace]), ("workflow_name = ?", [run_filter.workflow])]
        if len(versions) * len(statuses) > MAX_BRANCHES:
            return [prefix]
        return [
            [*prefix, ("version_id = ?", [version]), ("status = ?", [status.value])]
            for version in versions
            for status in statuses
        ]


def _residual(namespace: str, run_filter: RunFilter, equalities: list[Clause]) -> list[Clause]:
    """The conditions of ``run_filter`` that the branch's equalities do not already state."""
    stated = {sql for sql, _ in equalities}
    clauses: list[Clause] = []

    def add(sql: str, values: list[Any]) -> None:
        if sql not in stated:
            clauses.append((sql, values))

    if not equalities or equalities[0][0] == "namespace = ?":
        add("namespace = ?", [namespace])
    else:
        # The branch's index starts with the parent, schedule or reference: the namespace must not be usable
        # as an index condition that a planner could prefer.
        clauses.append((SAME_NAMESPACE, [namespace]))
    if run_filter.statuses is not None and "status = ?" not in stated:
        marks = ", ".join("?" for _ in run_filter.statuses)
        clauses.append((f"status IN ({marks})", [status.value for status in run_filter.statuses]))
    if run_filter.workflow is not None:
        add("workflow_name = ?", [run_filter.workflow])
    if run_filter.version is not None:
        add("version_id = ?", [run_filter.version])
    if run_filter.reference_id is not None:
        add("reference_id = ?", [run_filter.reference_id])
    if run_filter.parent_run_id is not None:
        add("parent_run_id = ?", [run_filter.parent_run_id])
    if run_filter.schedule_id is not None:
        add("schedule_id = ?", [run_filter.schedule_id])
    if run_filter.created_after_ms is not None:
        clauses.append(("created_at_ms >= ?", [run_filter.created_after_ms]))
    if run_filter.created_before_ms is not None:
        clauses.append(("created_at_ms < ?", [run_filter.created_before_ms]))
    return clauses
