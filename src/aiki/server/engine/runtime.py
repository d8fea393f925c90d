"""The timer loop: one loop sleeps until the earliest deadline of any timer source, handles what is due in
batches, and is woken early when a write sets an earlier deadline (DESIGN decision 1)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Protocol

from aiki.clock import sleep_until
from aiki.server.engine.changes import Changes
from aiki.server.engine.core import ServerCore
from aiki.server.engine.queue_watch import QueueWatch
from aiki.server.engine.retention import RunExpiries
from aiki.server.engine.timers import RunDeadlines
from aiki.store.connection import Connection

logger = logging.getLogger("aiki.runtime")

#: how long ``stop()`` waits for the loop to end after cancelling it
STOP_TIMEOUT_S = 10.0
#: a deadline later than any clock reading
NEVER_MS = 2**62
#: a paced source, after a full batch, waits this many times as long as the batch took before the next one
PAUSE_PER_BATCH_TIME = 2


class TimerSource(Protocol):
    """Something with deadlines: runs (sleeps, retries, timeouts, claims) and schedules."""

    async def fire_due(self, connection: Connection, changes: Changes, now_ms: int, limit: int) -> int:
        """Handle up to ``limit`` due items; returns how many."""
        ...

    async def next_deadline(self, connection: Connection) -> int | None:
        """The earliest pending deadline."""
        ...


class Runtime:
    """``srv.runtime``: ``await start()`` runs the loop in the background; ``tick()`` fires what is due now."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core
        self.sources: list[TimerSource] = [RunDeadlines(core.settings, core.handoff)]
        #: paced sources, and when each may fire again (clock ms)
        self._resume_at_ms: dict[TimerSource, int] = {}
        #: each paced source's earliest deadline at the loop's last look (``NEVER_MS``: it had none)
        self._next_due_ms: dict[TimerSource, int] = {}
        self.add_source(RunExpiries(core.settings), paced=True)
        self._queue_watch = QueueWatch(core.settings)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._sleeping_until: int | None = None
        self._unsubscribe = None
        self._stopping = False

    def add_source(self, source: TimerSource, paced: bool = False) -> None:
        """Fire ``source``'s deadlines too. A ``paced`` source (work that may pile up and that nobody waits
        on, like deleting expired runs) fires one batch per tick, after every other source, and after a
        full batch waits ``PAUSE_PER_BATCH_TIME`` times as long as it took: it never holds the database
        (or, on SQLite, the event loop) more than a third of the time."""
        self.sources.append(source)
        if paced:
            self._resume_at_ms[source] = 0

    async def start(self) -> Runtime:
        """Start the loop (idempotent); returns the runtime so that ``await runtime.stop()`` reads well."""
        self.core.silent_waits.timers_served = True
        if self._task is None or self._task.done():
            await self.core.ensure_open()
            self._wake = asyncio.Event()
            self._stopping = False
            self._unsubscribe = self.core.notifier.on_deadline(self._on_deadline)  # type: ignore[assignment]
            self._task = asyncio.create_task(self._loop(), name="aiki-runtime")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            # The loop also checks this flag: a database driver may swallow the cancellation mid-statement
            # (psycopg does), and the loop would then go on to wait again with its cancellation spent.
            self._stopping = True
            self._wake.set()
            self._task.cancel()
            # Bounded: a driver that swallows cancellation must not hang shutdown for ever.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT_S)
            if not self._task.done():
                logger.warning("aiki timer loop did not stop within %.0f s; abandoning it", STOP_TIMEOUT_S)
            self._task = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def served_elsewhere(self) -> None:
        """Say that this server's timers are fired elsewhere, so that this runtime need not run: by another
        process's runtime on the same database (``aiki server``), or by ``tick()`` calls (tests).

        Without it, the first run left waiting for a timer (a sleep, a delayed start, a retry's delay, a
        timeout) on a server whose runtime was never started logs a warning that nothing will wake it.
        """
        self.core.silent_waits.timers_served = True

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _on_deadline(self, due_at_ms: int) -> None:
        if self._sleeping_until is None or due_at_ms < self._sleeping_until:
            self._wake.set()

    async def tick(self) -> int:
        """Handle everything due at the clock's current time; returns how many items fired."""
        return await self._fire_due(skip_not_due=False)

    async def _fire_due(self, skip_not_due: bool) -> int:
        """``tick``; ``skip_not_due``: leave out a paced source whose earliest deadline, at the loop's last
        look, had not come (the loop looks again after every round, and a commit that sets an earlier one
        wakes it)."""
        total = 0
        limit = self.core.settings.timer_batch_size
        clock = self.core.clock
        for source in sorted(self.sources, key=lambda source: source in self._resume_at_ms):
            paced = source in self._resume_at_ms
            known_due = self._next_due_ms.get(source)
            if skip_not_due and paced and known_due is not None and known_due > clock.now_ms():
                # Nothing of it is due (as of the last look): no transaction at all.
                continue
            self._next_due_ms.pop(source, None)
            while not paced or self._resume_at_ms[source] <= clock.now_ms():
                started = time.perf_counter()
                async with self.core.write() as (connection, changes):
                    fired = await source.fire_due(connection, changes, clock.now_ms(), limit)
                total += fired
                if fired:
                    # Let the workers this woke claim their runs before the loop reads on (on SQLite its
                    # statements never suspend, so nothing else would run until it sleeps again).
                    await asyncio.sleep(0)
                if fired < limit:
                    break
                if paced:
                    pause_ms = math.ceil((time.perf_counter() - started) * 1000 * PAUSE_PER_BATCH_TIME)
                    self._resume_at_ms[source] = clock.now_ms() + pause_ms
        return total

    async def next_deadline(self) -> int | None:
        deadlines = []
        async with self.core.read() as connection:
            for source in self.sources:
                due = await source.next_deadline(connection)
                if source in self._resume_at_ms:
                    self._next_due_ms[source] = NEVER_MS if due is None else due
                if due is not None:
                    deadlines.append(max(due, self._resume_at_ms.get(source, due)))
        return min(deadlines) if deadlines else None

    async def _sleep_until(self, target_ms: int) -> None:
        """Sleep until ``target_ms``, measured when the sleep starts: the clock may move between planning the
        sleep and its task's first step, and a duration computed earlier would overshoot by that much."""
        await sleep_until(self.core.clock, target_ms)

    async def _loop(self) -> None:
        clock = self.core.clock
        poll_ms = self.core.settings.poll_interval_ms
        while not self._stopping:
            try:
                self._wake.clear()
                await self._fire_due(skip_not_due=True)
                due = await self.next_deadline()
                if self._queue_watch.due(clock.now_ms()):
                    async with self.core.write() as (connection, _changes):
                        await self._queue_watch.watch(connection, clock.now_ms())
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("aiki timer loop: handling due timers failed; retrying")
                due = None
            now_ms = clock.now_ms()
            target = now_ms + poll_ms if due is None else min(due, now_ms + poll_ms)
            self._sleeping_until = target
            if target > now_ms and not self._wake.is_set():
                sleeper = asyncio.ensure_future(self._sleep_until(target))
                waker = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
                    waker.cancel()
            self._sleeping_until = None
