"""Handing a new run straight to a worker that waits for work, claimed as it is created.

A worker's claim that found its queues empty waits (long-polls) for work. A plain start of a run for one of
its versions, in this server process, then creates the run already claimed by that worker, in the start's
own statement: the run's row is written as ``running`` under a new claim token, with both timeline rows
(``new`` -> ``queued``, ``queued`` -> ``running`` claimed), and the waiting claim returns it. The worker
skips a claim round trip; nothing else changes: the claim token fences its writes as any claim's does, and a
claim nobody received (the waiting worker stopped at that moment) is given back to the queue, or at worst
expires like any other.

Only a claim that saw its queues empty, with no work announced since, takes a run this way: older queued
runs always go first.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiki.contract import ClaimedRun, ClaimRequest
from aiki.server.engine.notifier import Notifier


@dataclass(eq=False, slots=True)
class ClaimWaiter:
    """A claim waiting for work: what it asked for, and the runs handed to it (once ``taken``)."""

    namespace: str
    request: ClaimRequest
    #: the notifier's work generation when its queues were found empty
    generation: int
    delivered: asyncio.Future[list[ClaimedRun]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    taken: bool = False

    def wants(self, namespace: str, name: str, version_id: str, shard: str | None) -> bool:
        request = self.request
        if namespace != self.namespace or (name, version_id) not in request.workflows or request.limit < 1:
            return False
        return shard is None if not request.shards else shard in request.shards


class Handoff:
    """The claims of this process waiting for work."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self._waiters: list[ClaimWaiter] = []

    @property
    def waiting(self) -> int:
        """How many claims wait."""
        return len(self._waiters)

    def wait(self, namespace: str, request: ClaimRequest, generation: int) -> ClaimWaiter:
        """Say that this claim found its queues empty at ``generation`` and now waits for work."""
        waiter = ClaimWaiter(namespace, request, generation)
        self._waiters.append(waiter)
        return waiter

    def leave(self, waiter: ClaimWaiter) -> None:
        """The claim stopped waiting (it may have been taken meanwhile: see ``ClaimWaiter.taken``)."""
        if waiter in self._waiters:
            self._waiters.remove(waiter)

    def take(self, namespace: str, name: str, version_id: str, shard: str | None) -> ClaimWaiter | None:
        """A waiting claim for a new run of ``(name, version_id)`` on ``shard``, removed from the waiters; None
        if no claim waits for one, or if work was announced since a waiting claim looked (then older runs
        may be queued, and they go first)."""
        generation = self.notifier.work_generation
        for waiter in self._waiters:
            if waiter.generation == generation and waiter.wants(namespace, name, version_id, shard):
                self._waiters.remove(waiter)
                waiter.taken = True
                return waiter
        return None
