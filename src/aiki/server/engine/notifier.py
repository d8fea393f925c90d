"""In-process wake-ups: idle workers, ``wait_for_status`` callers and the timer loop are woken the moment
a transaction that concerns them commits. Polling remains the fallback for other processes' writes."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiki.server.engine.changes import Changes

#: how many runs' latest records a notifier remembers
RECENT_RUNS = 4096


class Notifier:
    """Futures keyed by what they wait for, resolved when a matching change is published."""

    def __init__(self) -> None:
        self._work_waiters: set[asyncio.Future[Any]] = set()
        self._run_waiters: dict[str, set[asyncio.Future[Any]]] = {}
        self._deadline_listeners: list[Callable[[int], None]] = []
        #: bumped by every "work available": a claimer notes it before looking, so that work queued while it
        #: looked (another connection's commit, on PostgreSQL) is not missed while no waiter is registered
        self.work_generation = 0
        #: the latest record of each run this process changed (the ``RECENT_RUNS`` last ones), dropped when
        #: another process announces a change of the run: see ``latest``
        self._recent: OrderedDict[str, Any] = OrderedDict()

    def publish(self, changes: Changes) -> None:
        """Wake everyone whom ``changes`` concerns."""
        if changes.queued:
            self.work_available()
        for run_id in changes.runs:
            run = changes.run_records.get(run_id)
            if run is not None:
                self._remember(run_id, run)
            self.run_changed(run_id, run)
        if changes.earliest_deadline_ms is not None:
            self.deadline_set(changes.earliest_deadline_ms)

    def work_available(self) -> None:
        self.work_generation += 1
        waiters, self._work_waiters = self._work_waiters, set()
        for future in waiters:
            if not future.done():
                future.set_result(None)

    def run_changed(self, run_id: str, run: Any = None) -> None:
        """Wake the waiters of ``run_id``; they receive the run as stored now when it is known (else None:
        another process changed it, and what this process remembers of it is forgotten)."""
        if run is None:
            self._recent.pop(run_id, None)
        for future in self._run_waiters.pop(run_id, ()):
            if not future.done():
                future.set_result(run)

    def latest(self, run_id: str) -> Any:
        """The run as this process last committed it, if it did lately and no other process announced a
        change of it since (``None`` otherwise). Another process announces the runs it finishes (PostgreSQL's
        notifications, Redis), so a run remembered here as not finished was not finished elsewhere, unless
        that announcement was lost; waiters poll for that case anyway."""
        return self._recent.get(run_id)

    def _remember(self, run_id: str, run: Any) -> None:
        recent = self._recent
        known = recent.get(run_id)
        if known is not None and known.revision > run.revision:
            return  # two commits of one batch published out of order: keep the newer
        recent[run_id] = run
        recent.move_to_end(run_id)
        if len(recent) > RECENT_RUNS:
            recent.popitem(last=False)

    def deadline_set(self, due_at_ms: int) -> None:
        for listener in self._deadline_listeners:
            listener(due_at_ms)

    def on_deadline(self, listener: Callable[[int], None]) -> Callable[[], None]:
        """Call ``listener(due_at_ms)`` whenever a deadline is written; returns the unsubscribe function."""
        self._deadline_listeners.append(listener)
        return lambda: self._deadline_listeners.remove(listener)

    async def wait_for_work(
        self, timeout_s: float, seen_generation: int | None = None, also: asyncio.Future[Any] | None = None
    ) -> None:
        """Return when a run is queued, or after ``timeout_s``; at once if work came since ``seen_generation``
        (a ``work_generation`` read before looking for work). ``also``: return when that future is done too."""
        if seen_generation is not None and seen_generation != self.work_generation:
            return
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if also is not None:

            def wake(_done: asyncio.Future[Any]) -> None:
                if not future.done():
                    future.set_result(None)

            also.add_done_callback(wake)
        self._work_waiters.add(future)
        try:
            await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            pass
        finally:
            self._work_waiters.discard(future)

    def watch_run(self, run_id: str) -> asyncio.Future[Any]:
        """A future resolved by the next change of run ``run_id``; release it with :meth:`unwatch_run`.

        Taken before reading the run, it also catches a change committed between that read and the wait
        (on PostgreSQL another connection can commit in between).
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._run_waiters.setdefault(run_id, set()).add(future)
        return future

    def unwatch_run(self, run_id: str, future: asyncio.Future[Any]) -> None:
        waiters = self._run_waiters.get(run_id)
        if waiters is not None:
            waiters.discard(future)
            if not waiters:
                self._run_waiters.pop(run_id, None)

    async def wait_for_run(
        self, run_id: str, timeout_s: float, watch: asyncio.Future[Any] | None = None
    ) -> Any:
        """Return when run ``run_id`` changes (or changed since ``watch`` was taken), or after ``timeout_s``.

        Returns the changed run when this process made the change (``None`` otherwise, or on timeout).
        The ``watch`` is released in any case.
        """
        future = watch if watch is not None else self.watch_run(run_id)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return None
        finally:
            self.unwatch_run(run_id, future)
