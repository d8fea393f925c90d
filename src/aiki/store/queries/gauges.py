"""What the metrics read at each scrape: queued runs per workflow version, and stalled runs, in one query.

Each branch reads a partial index that holds only the runs it counts (``runs_queued``,
``runs_queued_by_shard``, ``runs_stalled``), so a scrape costs what is queued or stalled, never the table.
"""

from __future__ import annotations

from aiki.store.queries.base import QueryBase

# The status is written as a literal: read from the row, it would send each branch from its index to the
# table.
RUN_GAUGES_SQL = (
    "SELECT status, workflow_name, version_id, COUNT(*) AS runs FROM ("
    "SELECT 'queued' AS status, workflow_name, version_id FROM runs WHERE status = 'queued' AND shard IS NULL "
    "UNION ALL SELECT 'queued', workflow_name, version_id FROM runs WHERE status = 'queued' AND shard IS NOT NULL "
    "UNION ALL SELECT 'stalled', workflow_name, version_id FROM runs WHERE status = 'stalled'"
    ") AS counted GROUP BY status, workflow_name, version_id"
)


class GaugeQueries(QueryBase):
    async def run_gauges(self) -> list[tuple[str, str, str, int]]:
        """``(status, workflow, version, runs)`` for queued and stalled runs, over every namespace."""
        rows = await self._fetch_all(RUN_GAUGES_SQL)
        return [
            (str(row["status"]), str(row["workflow_name"]), str(row["version_id"]), int(row["runs"]))
            for row in rows
        ]
