"""The ``workers`` table: the workers seen by the server, and which queues have runs waiting."""

from __future__ import annotations

import json

from aiki.contract.workers import WorkerAnnouncement, WorkerInfo
from aiki.store.queries.base import QueryBase, Row

WORKER_COLUMNS = (
    "id, name, host, pid, workflows, shards, concurrency, active_runs, started_at_ms, last_seen_at_ms"
)

#: the next (namespace, workflow, version) with a queued run, after the given one, for each queue index
_NEXT_QUEUE = (
    "SELECT {column} FROM runs WHERE status = 'queued' AND shard IS {shard} "
    "AND (namespace, workflow_name, version_id) > (queues.namespace, queues.workflow_name, queues.version_id) "
    "ORDER BY namespace, workflow_name, version_id LIMIT 1"
)


def _worker(row: Row) -> WorkerInfo:
    shards = json.loads(row["shards"]) if row["shards"] is not None else None
    return WorkerInfo(
        id=str(row["id"]),
        name=str(row["name"]),
        host=str(row["host"]),
        pid=int(row["pid"]),
        workflows=[(str(name), str(version)) for name, version in json.loads(row["workflows"])],
        shards=shards,
        concurrency=int(row["concurrency"]),
        active_runs=int(row["active_runs"]),
        started_at_ms=int(row["started_at_ms"]),
        last_seen_at_ms=int(row["last_seen_at_ms"]),
    )


class WorkerQueries(QueryBase):
    async def upsert_worker(self, namespace: str, worker: WorkerAnnouncement, now_ms: int) -> None:
        """Record that the worker is alive now (its first announcement also sets when it started)."""
        await self._execute(
            f"INSERT INTO workers (namespace, {WORKER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (namespace, id) DO UPDATE SET name = excluded.name, host = excluded.host, "
            "pid = excluded.pid, workflows = excluded.workflows, shards = excluded.shards, "
            "concurrency = excluded.concurrency, active_runs = excluded.active_runs, "
            "last_seen_at_ms = excluded.last_seen_at_ms",
            (
                namespace,
                worker.id,
                worker.name,
                worker.host,
                worker.pid,
                json.dumps([list(pair) for pair in worker.workflows]),
                None if worker.shards is None else json.dumps(worker.shards),
                worker.concurrency,
                worker.active_runs,
                now_ms,
                now_ms,
            ),
        )

    async def delete_worker(self, namespace: str, worker_id: str) -> None:
        await self._execute("DELETE FROM workers WHERE namespace = ? AND id = ?", (namespace, worker_id))

    async def delete_workers_seen_before(self, seen_before_ms: int) -> None:
        """Forget workers that went silent long ago (served by ``workers_by_last_seen``)."""
        await self._execute("DELETE FROM workers WHERE last_seen_at_ms < ?", (seen_before_ms,))

    async def live_workers(self, namespace: str, seen_since_ms: int) -> list[WorkerInfo]:
        """The namespace's workers seen since ``seen_since_ms``, longest-running first."""
        rows = await self._fetch_all(
            f"SELECT {WORKER_COLUMNS} FROM workers WHERE namespace = ? AND last_seen_at_ms >= ? "
            "ORDER BY started_at_ms, id",
            (namespace, seen_since_ms),
        )
        return [_worker(row) for row in rows]

    async def served_versions(self, seen_since_ms: int) -> set[tuple[str, str, str]]:
        """``(namespace, workflow, version)`` registered by a worker seen since ``seen_since_ms``."""
        rows = await self._fetch_all(
            "SELECT namespace, workflows FROM workers WHERE last_seen_at_ms >= ?", (seen_since_ms,)
        )
        return {
            (str(row["namespace"]), str(name), str(version))
            for row in rows
            for name, version in json.loads(row["workflows"])
        }

    async def queued_versions(self) -> set[tuple[str, str, str]]:
        """``(namespace, workflow, version)`` with runs waiting in the queue: a skip scan of the queue indexes,
        one probe per version (never a read of the whole queue)."""
        found: set[tuple[str, str, str]] = set()
        for shard in ("NULL", "NOT NULL"):
            columns = ("namespace", "workflow_name", "version_id")
            nexts = ", ".join(f"({_NEXT_QUEUE.format(column=column, shard=shard)})" for column in columns)
            rows = await self._fetch_all(
                "WITH RECURSIVE queues(namespace, workflow_name, version_id) AS ("
                f"SELECT * FROM (SELECT namespace, workflow_name, version_id FROM runs WHERE status = 'queued' "
                f"AND shard IS {shard} ORDER BY namespace, workflow_name, version_id LIMIT 1) AS first "
                f"UNION ALL SELECT {nexts} FROM queues WHERE queues.namespace IS NOT NULL) "
                "SELECT namespace, workflow_name, version_id FROM queues WHERE namespace IS NOT NULL",
                plan_each_time=True,
            )
            found |= {(str(r["namespace"]), str(r["workflow_name"]), str(r["version_id"])) for r in rows}
        return found
