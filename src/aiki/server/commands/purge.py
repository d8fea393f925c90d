"""``aiki runs purge``: delete finished runs before a date, at once (retention does it by itself)."""

from __future__ import annotations

from aiki.errors import InvalidOptionError
from aiki.server.engine.core import ServerCore
from aiki.server.engine.retention import purge_finished_before
from aiki.types import TERMINAL_STATUSES, RunStatus

#: finished runs looked at per transaction (each transaction is short: claims never wait long for it)
PURGE_BATCH = 200


class PurgeCommands:
    """Delete finished runs (with everything recorded of them) in small transactions."""

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
                async with self.core.write() as (connection, _changes):
                    rows = await connection.finished_runs_created_before(
                        namespace, status.value, before_ms, after, PURGE_BATCH
                    )
                    for run_id, _created_at_ms, updated_at_ms, parent_run_id in rows:
                        if updated_at_ms >= before_ms:
                            continue
                        if parent_run_id is not None and await connection.run_exists(parent_run_id):
                            continue
                        deleted += await purge_finished_before(connection, run_id, before_ms)
                if len(rows) < PURGE_BATCH:
                    break
                after = (rows[-1][1], rows[-1][0])
        return deleted
