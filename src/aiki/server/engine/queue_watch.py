"""Queues nobody serves: every ``WATCH_INTERVAL_MS`` the running timer loop finds the workflow versions with
queued runs that no live worker registers and logs a warning for each (at most once per version per
``WARN_INTERVAL_MS``), so that runs waiting for a worker that does not exist do not wait in silence. It also
forgets workers silent for long (their rows serve nothing).

It is housekeeping of a running loop, not a timer of the runs: ``runtime.tick()`` and ``next_deadline()``
(which tests and time skipping drive) do not see it."""

from __future__ import annotations

import logging

from aiki.server.engine.settings import ServerSettings
from aiki.store.connection import Connection

logger = logging.getLogger("aiki.server")

WATCH_INTERVAL_MS = 30_000
WARN_INTERVAL_MS = 10 * 60 * 1000
#: a worker silent this long is deleted (it is out of every list after the claim timeout anyway)
FORGET_WORKERS_AFTER_MS = 24 * 3600 * 1000


class QueueWatch:
    """Run by the runtime's loop; ``due`` says when it is time to look again."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self._next_watch_ms: int | None = None
        self._warned_at_ms: dict[tuple[str, str, str], int] = {}

    def due(self, now_ms: int) -> bool:
        if self._next_watch_ms is None:
            # The first look waits a full interval: workers started with the server announce themselves first.
            self._next_watch_ms = now_ms + WATCH_INTERVAL_MS
        return now_ms >= self._next_watch_ms

    async def watch(self, connection: Connection, now_ms: int) -> None:
        self._next_watch_ms = now_ms + WATCH_INTERVAL_MS
        served = await connection.served_versions(now_ms - self.settings.claim_timeout_ms)
        for version in sorted(await connection.queued_versions() - served):
            if now_ms - self._warned_at_ms.get(version, -WARN_INTERVAL_MS) >= WARN_INTERVAL_MS:
                self._warned_at_ms[version] = now_ms
                namespace, workflow, version_id = version
                logger.warning(
                    "aiki: runs of workflow %r version %r (namespace %r) are queued and no live worker registers "
                    "that version: they wait until a worker with worker(workflows=[...]) of it starts (and stall "
                    "after %d ms).",
                    workflow,
                    version_id,
                    namespace,
                    self.settings.stall_after_ms,
                )
        await connection.delete_workers_seen_before(now_ms - FORGET_WORKERS_AFTER_MS)
