"""``aiki runs purge``: delete finished runs before a date, at once (retention does it by itself)."""

from __future__ import annotations

import asyncio
import time

from aiki.errors import InvalidOptionError
from aiki.server.engine.core import ServerCore
from aiki.server.engine.retention import purge_finished_before
from aiki.server.engine.runtime import PAUSE_PER_BATCH_TIME
from aiki.types import TERMINAL_STATUSES, RunStatus

#: finished runs looked at per transaction (each transaction is short: claims never wait long for it)
PURGE_BATCH = 200


class PurgeCommands:
    """Delete finished runs (with everything recorded of them) in small, paced transactions."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core

    async def purge(self, namespace: str, before_ms: int, statuses: list[RunStatus] | None = None) -> int:
        """Delete the runs that finished (in one of ``statuses``, default all three) before ``before_ms``,
        each with the children it created once they all did; returns how many runs were deleted. A run whose
        parent is kept is kept with it."""
        wanted = list(TERMINAL_STATUSES) if statuses is None else statuses
        unfinished = [status.value for status in wanted if status not in TERMINAL_STATUSES]
        if unfinished:
            raise InvalidOptionError(
                f"Only finished runs can be purged (completed, failed, cancelled), not {', '.join(unfinished)}."
            )
        deleted = 0
        for status in sorted(wanted):
            after: tuple[int, str] | None = None
            while True:
                started = time.perf_counter()
                async with self.core.write() as (connection, _changes):
                    rows = await connection.finished_runs_created_before(
                        namespace, status.value, before_ms, after, PURGE_BATCH
                    )
                    finished = [row for row in rows if row[2] < before_ms]
                    parents = [row[3] for row in finished if row[3] is not None]
                    kept_parents = await connection.existing_runs(parents) if parents else set()
                    roots = [run_id for run_id, _c, _u, parent in finished if parent not in kept_parents]
                    if roots:
                        deleted += await purge_finished_before(connection, roots, before_ms)
                if len(rows) < PURGE_BATCH:
                    break
                after = (rows[-1][1], rows[-1][0])
                # Paced like retention: the workers get the database (and the event loop) two thirds of the time.
                await asyncio.sleep((time.perf_counter() - started) * PAUSE_PER_BATCH_TIME)
        return deleted
