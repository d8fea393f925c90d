"""Handing a new run straight to a worker that waits for work, claimed as it is created.

A worker's claim that found its queues empty waits (long-polls) for work. A plain start of a run for one of
its versions, in this server process, then creates the run already claimed by that worker, in the start's
own statement: the run's row is written as ``running`` under a new claim token, with both timeline rows
(``new`` -> ``queued``, ``queued`` -> ``running`` claimed), and the waiting claim returns it. The worker
skips a claim round trip; nothing else changes: the claim token fences its writes as any claim's does, and a
claim nobody received (the waiting worker stopped at that moment) is given back to the queue, or at worst
expires like any other.

The timer loop does the same with the runs it queues (a sleep's wake-up, a retry, a timeout, a delayed
start, a recovery): in its own transaction it moves such a run on to ``running`` for a waiting claim of its
version, up to the claim's limit, reads the histories of the runs it handed, and the claim returns them once
that transaction commits (``HandoffRound``).

Only a claim that saw its queues empty, with no work announced since, takes a run this way: older queued
runs always go first.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiki.contract import ClaimedRun, ClaimRequest
from aiki.ids import new_secret
from aiki.server.engine.changes import Changes
from aiki.server.engine.notifier import Notifier
from aiki.types import RunHistory, WorkflowRun


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


@dataclass(eq=False, slots=True)
class TakenClaim:
    """A waiting claim taken in a ``HandoffRound``: the token of its claim, and the runs claimed for it."""

    waiter: ClaimWaiter
    claim_token: str = field(default_factory=new_secret)
    #: how many runs ``HandoffRound.claim_for`` gave it
    reserved: int = 0
    #: the runs claimed for it, as stored now
    runs: list[WorkflowRun] = field(default_factory=list)

    @property
    def worker_id(self) -> str:
        return self.waiter.request.worker_id

    @property
    def full(self) -> bool:
        return self.reserved >= self.waiter.request.limit


class HandoffRound:
    """Runs handed to waiting claims within one write transaction, several per claim (up to its limit).

    Each claim taken gets its runs once the transaction commits, and none if it does not (the claim then
    waits on, or looks again).
    """

    def __init__(self, handoff: Handoff, changes: Changes) -> None:
        self.handoff = handoff
        self.changes = changes
        self._taken: list[TakenClaim] = []
        self._histories: dict[str, RunHistory] = {}

    def claim_for(self, run: WorkflowRun) -> TakenClaim | None:
        """The claim that takes ``run`` (queued in this transaction): one taken already with room left, or
        a waiting one; None if no claim of this process waits for a run of its version. The caller claims
        the run for it and adds it to its ``runs``."""
        for taken in self._taken:
            if not taken.full and taken.waiter.wants(run.namespace, run.name, run.version_id, run.shard):
                taken.reserved += 1
                return taken
        waiter = self.handoff.take(run.namespace, run.name, run.version_id, run.shard)
        if waiter is None:
            return None
        if not self._taken:
            self.changes.on_end.append(self._deliver)
        taken = TakenClaim(waiter, reserved=1)
        self._taken.append(taken)
        return taken

    def histories(self, histories: dict[str, RunHistory]) -> None:
        """The histories of the handed runs (read in the same transaction), delivered with them."""
        self._histories = histories

    def _deliver(self, committed: bool) -> None:
        for taken in self._taken:
            handed = [
                ClaimedRun(run, self._histories.get(run.id) or RunHistory(), taken.claim_token)
                for run in taken.runs
            ]
            if not taken.waiter.delivered.done():
                # (Done already only if the claim was cancelled while it collected them: their claims
                # then expire, and the runs are recovered like any other.)
                taken.waiter.delivered.set_result(handed if committed else [])
