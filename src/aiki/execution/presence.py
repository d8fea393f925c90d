"""A worker's presence at the server: announced when it starts and at every claim refresh (idle or not),
withdrawn when it stops gracefully. Best effort: a failed announcement is logged and tried again at the next
refresh; claims do not depend on it."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence

from aiki.client.transport import Transport
from aiki.contract.workers import WorkerAnnouncement

logger = logging.getLogger("aiki.worker")


class Presence:
    """Announces one worker."""

    def __init__(
        self,
        transport: Transport,
        worker_id: str,
        name: str | None,
        workflows: Sequence[tuple[str, str]],
        shards: Sequence[str] | None,
        concurrency: int,
    ) -> None:
        self._transport = transport
        self._worker_id = worker_id
        self._name = name or worker_id
        self._workflows = list(workflows)
        self._shards = None if shards is None else list(shards)
        self._concurrency = concurrency
        self._failing = False

    async def announce(self, active_runs: int) -> None:
        """Tell the server this worker is alive, running ``active_runs`` runs."""
        try:
            await self._transport.announce_worker(
                WorkerAnnouncement(
                    id=self._worker_id,
                    name=self._name,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    workflows=self._workflows,
                    shards=self._shards,
                    concurrency=self._concurrency,
                    active_runs=active_runs,
                )
            )
        except Exception as error:
            if not self._failing:
                logger.warning(
                    "worker %s: announcing itself failed (%s); trying again later", self._worker_id, error
                )
            self._failing = True
            return
        self._failing = False

    async def withdraw(self) -> None:
        """Tell the server this worker stopped, so that it leaves the list of workers at once."""
        try:
            await self._transport.worker_stopped(self._worker_id)
        except Exception as error:
            logger.info(
                "worker %s: could not say it stopped (%s); it drops out of the list by itself",
                self._worker_id,
                error,
            )
