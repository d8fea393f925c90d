"""Workers seen by the server: announced at start and at every claim refresh, forgotten when they stop
gracefully or stay silent longer than the claim timeout."""

from __future__ import annotations

from aiki.contract.workers import WorkerAnnouncement, WorkerInfo
from aiki.server.engine.core import ServerCore


class WorkerRegistry:
    """``announce``, ``stopped`` and ``list``: the live workers of a namespace."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core

    async def announce(self, namespace: str, worker: WorkerAnnouncement) -> None:
        """The worker is alive now."""
        async with self.core.write() as (connection, _changes):
            await connection.upsert_worker(namespace, worker, self.core.clock.now_ms())

    async def stopped(self, namespace: str, worker_id: str) -> None:
        """The worker stopped gracefully: it leaves the list at once."""
        async with self.core.write() as (connection, _changes):
            await connection.delete_worker(namespace, worker_id)

    async def list(self, namespace: str) -> list[WorkerInfo]:
        """The workers seen within the claim timeout."""
        async with self.core.read() as connection:
            return await connection.live_workers(namespace, self.live_since_ms())

    async def served_versions(self) -> set[tuple[str, str, str]]:
        """``(namespace, workflow, version)`` that a live worker registers."""
        async with self.core.read() as connection:
            return await connection.served_versions(self.live_since_ms())

    def live_since_ms(self) -> int:
        """A worker last seen before this is gone (it would have announced itself since)."""
        return self.core.clock.now_ms() - self.core.settings.claim_timeout_ms
