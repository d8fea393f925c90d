"""Whether a test environment's worker has anything left to do, and waiting, without polling, until it has
nothing.

The environment is *idle* when

- no queued run is one its worker can claim (a run of a workflow it does not register would stay queued
  for ever, and must not hold time still),
- every running run is blocked on the fake clock (an inline task retry delay: a worker waits those itself,
  so the clock must move for it to go on), which the clock's sleepers count, and
- no timer is due at the current time (the environment is about to fire it).

Waiting for that is event-driven: the runs still busy are watched through the server's notifier (woken the
moment their row changes), and a :class:`Signal` is fired by everything else that can end a wait: a
deadline written, a sleeper added to the clock, a timer fired, a test starting to wait for a run's end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass

from aiki.client.client import Client
from aiki.clock import FakeClock
from aiki.server.server import Server
from aiki.types import RunStatus, WorkflowRun


class Signal:
    """A count of "something changed": :meth:`wait` returns once the count moved past what a caller saw.

    Callers read :attr:`generation` *before* looking at the state, then ``await wait(seen)``: a change made
    while they looked is not missed. Any number of callers may wait at once.
    """

    def __init__(self) -> None:
        self.generation = 0
        self._waiters: set[asyncio.Future[None]] = set()

    def fire(self, *_ignored: object) -> None:
        """Count a change and wake every waiter (callable as a future's done-callback)."""
        self.generation += 1
        waiters, self._waiters = self._waiters, set()
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def wait(self, seen: int) -> None:
        """Return once :attr:`generation` differs from ``seen`` (at once if it already does)."""
        if self.generation != seen:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(future)
        try:
            await future
        finally:
            self._waiters.discard(future)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the worker had to do when the database was read.

    Attributes:
        busy: ``(run id, revision)`` of every running run and every queued run the worker can claim.
        running: how many of them are running.
        next_due_ms: the earliest pending deadline (a timer, or a sleeper on the clock), read last.
        due_now: that deadline has come (a timer due at the current time has not fired yet).
    """

    busy: tuple[tuple[str, int], ...]
    running: int
    next_due_ms: int | None
    due_now: bool


class Activity:
    """Reads and waits for the idleness of one environment (see the module docstring)."""

    def __init__(
        self,
        server: Server,
        client: Client,
        clock: FakeClock,
        workflows: Collection[tuple[str, str]],
        shards: list[str] | None,
        changed: Signal,
    ) -> None:
        self._server = server
        self._client = client
        self._clock = clock
        self._workflows = frozenset(workflows)
        self._shards = shards
        #: fired by whatever can end a wait that is not a busy run's change
        self.changed = changed

    async def next_due_ms(self) -> int | None:
        """The earliest pending deadline: a timer of the server, or a sleeper on the clock."""
        deadlines = [await self._server.runtime.next_deadline(), self._clock.next_wake_ms]
        return min((deadline for deadline in deadlines if deadline is not None), default=None)

    async def snapshot(self) -> Snapshot:
        """Read what the worker has to do now."""
        busy: list[WorkflowRun] = []
        async for run in self._client.iter_runs(status=["queued", "running"], order="oldest", page_size=1000):
            if run.status is RunStatus.RUNNING or self._claimable(run):
                busy.append(run)
        # Read after the runs, and with nothing awaited between it and the caller's ``is_idle``: the clock's
        # sleepers it includes are the ones ``is_idle`` counts.
        due = await self.next_due_ms()
        return Snapshot(
            busy=tuple((run.id, run.revision) for run in busy),
            running=sum(1 for run in busy if run.status is RunStatus.RUNNING),
            next_due_ms=due,
            due_now=due is not None and due <= self._clock.now_ms(),
        )

    def is_settled(self, snapshot: Snapshot) -> bool:
        """Nothing to claim, and each running run waits for the clock."""
        queued = len(snapshot.busy) - snapshot.running
        return queued == 0 and snapshot.running <= self._clock.sleeper_count

    def is_idle(self, snapshot: Snapshot) -> bool:
        """Settled, and no timer due now."""
        return self.is_settled(snapshot) and not snapshot.due_now

    def _claimable(self, run: WorkflowRun) -> bool:
        if (run.name, run.version_id) not in self._workflows:
            return False
        return run.shard is None if self._shards is None else run.shard in self._shards

    async def until_idle(self, check: Callable[[], None], *, settled: bool = False) -> None:
        """Return once the environment is idle (with ``settled``: settled, timers due now left to the
        caller). ``check`` runs before each look, and raises to end the wait (the driver failed)."""
        while True:
            seen = self.changed.generation
            check()
            snapshot = await self.snapshot()
            if self.is_settled(snapshot) if settled else self.is_idle(snapshot):
                return
            await self.wait_for_change(snapshot, seen)

    async def wait_for_change(self, snapshot: Snapshot | None, seen: int) -> None:
        """Return when a busy run of ``snapshot`` changes, or :attr:`changed` fires after ``seen``."""
        notifier = self._server.core.notifier
        watches = []
        for run_id, _revision in snapshot.busy if snapshot is not None else ():
            watch = notifier.watch_run(run_id)
            watch.add_done_callback(self.changed.fire)
            watches.append((run_id, watch))
        try:
            # A run may have moved between the read and the watch: then look again at once.
            if watches and snapshot is not None and (await self.snapshot()).busy != snapshot.busy:
                return
            await self.changed.wait(seen)
        finally:
            for run_id, watch in watches:
                notifier.unwatch_run(run_id, watch)
