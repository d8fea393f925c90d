"""Filling a migrated database with many rows fast (``INSERT ... SELECT`` over a generated series), and
seeing the plans of the statements the engine runs: the support of the plan tests.

The rows look like a long-lived database: 20 workflows, every status, shards, reference ids, children,
schedules, and for each run its tasks, transitions, events, sleeps and child rows. Their deadlines lie far
in the future, so a test's own runs are the only ones the timer loop fires.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg

#: the tables no hot statement may scan
CORE_TABLES = frozenset({"runs", "tasks", "events", "sleeps", "transitions", "child_runs", "child_waits"})

#: statuses cycle independently of workflows (``i / 20``), so every workflow has runs in every status
_STATUS = (
    "CASE (i / 20) % 20 WHEN 0 THEN 'queued' WHEN 1 THEN 'running' WHEN 2 THEN 'sleeping' WHEN 3 THEN 'awaiting_event' "
    "WHEN 4 THEN 'failed' WHEN 5 THEN 'cancelled' WHEN 6 THEN 'paused' WHEN 7 THEN 'awaiting_child_workflow' "
    "WHEN 8 THEN 'scheduled' ELSE 'completed' END"
)


def _statements(series: str, run_id: str, parent_id: str, next_id: str) -> list[str]:
    """The fill, written once; ``series`` yields ``i``, and the ids are expressions of ``i``. Runs 1 to 30 of
    every hundred are children of run 0 of that hundred."""
    runs = (
        "INSERT INTO runs (id, namespace, workflow_name, version_id, status, state, input, input_hash, options, "
        "shard, reference_id, parent_run_id, schedule_id, waiting_on, revision, attempts, due_at_ms, claim_token, "
        "worker_id, created_at_ms, updated_at_ms) "
        f"SELECT {run_id}, 'default', 'fill-' || (i % 20), 'v' || (i % 2), {_STATUS}, "
        "'{\"status\":\"completed\"}', '{}', 'h', '{}', CASE WHEN i % 3 = 0 THEN 'east' END, "
        f"CASE WHEN i % 7 = 0 THEN 'ref-' || i END, CASE WHEN i % 100 BETWEEN 1 AND 30 THEN {parent_id} END, "
        "CASE WHEN i % 50 = 0 THEN 'sched-' || (i % 5) END, "
        f"CASE WHEN (i / 20) % 20 = 7 THEN {next_id} END, 3, 1, "
        "CASE WHEN (i / 20) % 20 IN (1, 2, 3, 7, 8) THEN 1800000000000 + i END, "
        "CASE WHEN (i / 20) % 20 = 1 THEN 'token-' || i END, NULL, 1600000000000 + i * 1000, "
        "1600000000000 + i * 1000 "
        f"FROM {series}"
    )
    tasks = (
        "INSERT INTO tasks (run_id, name, address, occurrence, status, attempts, input, output, error, "
        "next_attempt_at_ms, created_at_ms, updated_at_ms) "
        f"SELECT {run_id}, 'fill', 'fill:' || (i % 2), i % 2, 'completed', 1, '1', '1', NULL, NULL, i, i "
        f"FROM {series}"
    )
    transitions = (
        "INSERT INTO transitions (run_id, revision, attempt, from_status, to_status, reason, state, "
        f"created_at_ms) SELECT {run_id}, i % 3, 1, 'queued', 'running', NULL, '{{}}', i FROM {series}"
    )
    events = (
        "INSERT INTO events (run_id, name, status, data, reference_id, created_at_ms) "
        f"SELECT {run_id}, 'go', 'received', '1', NULL, i FROM {series} WHERE i % 3 = 0"
    )
    sleeps = (
        "INSERT INTO sleeps (run_id, name, occurrence, status, duration_ms, started_at_ms, wake_at_ms, "
        f"ended_at_ms) SELECT {run_id}, 'nap', 0, 'completed', 10, i, i + 10, i + 10 FROM {series} WHERE i % 5 = 0"
    )
    children = (
        "INSERT INTO child_runs (parent_run_id, address, occurrence, child_run_id, created_at_ms) "
        f"SELECT {parent_id}, 'child:' || i, 0, {run_id}, i FROM {series} WHERE i % 100 BETWEEN 1 AND 30"
    )
    waits = (
        "INSERT INTO child_waits (parent_run_id, child_run_id, awaited_status, status, child_state, "
        f"created_at_ms) SELECT {parent_id}, {run_id}, 'completed', 'completed', NULL, i FROM {series} "
        "WHERE i % 100 BETWEEN 1 AND 30"
    )
    return [runs, tasks, transitions, events, sleeps, children, waits]


def fill_sqlite(path: str, runs: int) -> None:
    """Add ``runs`` runs (and their rows) to the migrated SQLite file at ``path``, then ``ANALYZE``."""
    series = f"(WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {runs - 1}) SELECT i FROM n)"
    with sqlite3.connect(path) as connection:
        for statement in _statements(
            series, "printf('f%025d', i)", "printf('f%025d', (i / 100) * 100)", "printf('f%025d', i + 1)"
        ):
            connection.execute(statement)
        connection.execute("ANALYZE")


def fill_postgres(url: str, runs: int, *, analyze: bool = True) -> None:
    """Add ``runs`` runs (and their rows) to the migrated PostgreSQL database at ``url``."""
    series = f"generate_series(0, {runs - 1}) AS n(i)"
    with psycopg.connect(url, autocommit=True) as connection:
        for statement in _statements(
            series,
            "'f' || lpad(i::text, 25, '0')",
            "'f' || lpad(((i / 100) * 100)::text, 25, '0')",
            "'f' || lpad((i + 1)::text, 25, '0')",
        ):
            connection.execute(statement)
        if analyze:
            connection.execute("ANALYZE")


@dataclass
class Plans:
    """The statements the engine ran, by the store method that ran them, with the problems of their plans."""

    by_method: dict[str, list[tuple[str, list[str]]]] = field(default_factory=dict)

    def add(self, method: str, sql: str, problems: list[str]) -> None:
        self.by_method.setdefault(method, []).append((sql, problems))

    def problems(self) -> Iterator[str]:
        for method, statements in sorted(self.by_method.items()):
            for sql, problems in statements:
                for problem in problems:
                    yield f"{method}: {problem}\n    {sql[:300]}"


def sqlite_plan_problems(sql: str, rows: list[dict[str, Any]]) -> list[str]:
    """A full scan of a core table, or a sort of more rows than a LIMITed statement returns."""
    details = [str(row["detail"]) for row in rows]
    problems = []
    for index, detail in enumerate(details):
        scanned = re.match(r"SCAN (\w+)", detail)
        if scanned and scanned.group(1) in CORE_TABLES:
            problems.append(f"full scan: {detail}")
        if detail.startswith("USE TEMP B-TREE") and _has_limit(sql):
            before = details[index - 1] if index else ""
            # Sorting the output of a LIMITed subquery (not of a table) sorts at most that limit.
            sorted_scan = re.match(r"(SCAN|SEARCH) (\S+)", before)
            if sorted_scan is None or sorted_scan.group(2) in CORE_TABLES:
                problems.append(f"sort before the limit: {detail} (after {before!r})")
    return problems


def postgres_plan_problems(sql: str, plan: dict[str, Any]) -> list[str]:
    """The same rules on a PostgreSQL JSON plan."""
    problems: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        kind = node.get("Node Type")
        if kind == "Seq Scan" and node.get("Relation Name") in CORE_TABLES:
            problems.append(f"full scan: Seq Scan on {node['Relation Name']}")
        if kind in ("Sort", "Incremental Sort") and _has_limit(sql) and not _bounded(node):
            problems.append(f"sort before the limit: {kind} on {node.get('Sort Key')}")
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    for init in plan.get("Plans", []):
        walk(init)
    return problems


def _bounded(node: dict[str, Any]) -> bool:
    """Whether every input of ``node`` meets a Limit before it reaches a core table (the CTEs and sub-plans
    a node carries are checked on their own)."""
    inputs = [child for child in node.get("Plans", []) if child.get("Parent Relationship") not in _SIDE_PLANS]
    if not inputs:
        return node.get("Relation Name") not in CORE_TABLES
    return all(child.get("Node Type") == "Limit" or _bounded(child) for child in inputs)


_SIDE_PLANS = ("InitPlan", "SubPlan")


def _has_limit(sql: str) -> bool:
    return re.search(r"\bLIMIT\b", sql, re.IGNORECASE) is not None
