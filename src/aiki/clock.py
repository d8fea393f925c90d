"""The clock every aiki component asks for the time: a real one, and a fake one for tests.

Code in aiki never calls ``time.time()`` or ``asyncio.sleep()`` for timing decisions; it is handed a
:class:`Clock`. Production uses :class:`SystemClock`; tests use :class:`FakeClock` and move time by hand.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time in epoch milliseconds, and a way to wait for some of it to pass."""

    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...

    async def sleep_ms(self, ms: float) -> None:
        """Return once ``ms`` milliseconds have passed on this clock (at once for ``ms <= 0``)."""
        ...


class SystemClock:
    """The real clock: ``time.time_ns()`` and ``asyncio.sleep``."""

    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch, from the system clock."""
        return time.time_ns() // 1_000_000

    async def sleep_ms(self, ms: float) -> None:
        """Sleep ``ms`` milliseconds of real time (``ms <= 0`` only yields to the event loop)."""
        await asyncio.sleep(max(ms, 0) / 1000)

    async def sleep_until_ms(self, target_ms: int) -> None:
        """Sleep until the epoch time ``target_ms``, measured to the microsecond: ``sleep_ms(target_ms -
        now_ms())`` would overshoot by the fraction of the current millisecond that ``now_ms`` drops."""
        remaining_ns = target_ms * 1_000_000 - time.time_ns()
        if remaining_ns <= 0:
            await asyncio.sleep(0)
        # The event loop measures the sleep on the monotonic clock; should it end a hair early on the wall
        # clock (a slewed clock), the rest is slept too.
        while remaining_ns > 0:
            await asyncio.sleep(remaining_ns / 1e9)
            remaining_ns = target_ms * 1_000_000 - time.time_ns()


async def sleep_until(clock: Clock, target_ms: int) -> None:
    """Return once ``clock`` reads ``target_ms`` or later: to the microsecond on a clock that can (one with a
    ``sleep_until_ms`` method, as :class:`SystemClock` has), else to the millisecond."""
    precise = getattr(clock, "sleep_until_ms", None)
    if precise is not None:
        await precise(target_ms)
    else:
        await clock.sleep_ms(target_ms - clock.now_ms())


class FakeClock:
    """A clock that moves only when told to: deterministic tests without real waiting.

    Time starts at ``start_ms`` (epoch milliseconds, 2023-11-14 by default) and stays there until
    :meth:`advance` or :meth:`set` moves it. :meth:`sleep_ms` suspends the caller until the fake time
    reaches its wake-up time; moving the clock wakes every sleeper that is due. Sleepers are released in
    wake-up order, and run when the event loop next gets control (after the test's next ``await``).

    Example::

        clock = FakeClock()
        sleeper = asyncio.create_task(clock.sleep_ms(5_000))
        await asyncio.sleep(0)          # let the task start sleeping
        clock.advance(4_999)            # not yet due
        clock.advance(1)                # due: the sleeper is released
        await sleeper

    The clock holds no threads or timers; use it from one event loop.
    """

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now_ms = start_ms
        self._sequence = itertools.count()
        # (wake-up time, tie-breaker, future): a min-heap, so the earliest sleeper is first.
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def now_ms(self) -> int:
        """The current fake time in epoch milliseconds."""
        return self._now_ms

    @property
    def sleeper_count(self) -> int:
        """How many :meth:`sleep_ms` calls are waiting for the clock to move."""
        return len(self._sleepers)

    @property
    def next_wake_ms(self) -> int | None:
        """When the earliest :meth:`sleep_ms` caller is due to wake (epoch milliseconds), or ``None``."""
        return math.ceil(self._sleepers[0][0]) if self._sleepers else None

    def advance(self, ms: int) -> None:
        """Move time forward by ``ms`` milliseconds and wake the sleepers that are now due.

        Raises:
            ValueError: ``ms`` is negative (use :meth:`set` to move the clock back).
        """
        if ms < 0:
            raise ValueError(f"FakeClock.advance takes ms >= 0, got {ms}; use set() to move time back.")
        self.set(self._now_ms + ms)

    def set(self, ms: int) -> None:
        """Jump to the epoch time ``ms`` and wake the sleepers that are now due.

        Moving back is allowed (wall clocks do that); it wakes nobody, and pending sleepers keep their
        absolute wake-up times.
        """
        self._now_ms = ms
        while self._sleepers and self._sleepers[0][0] <= ms:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():  # cancelled, its task not yet resumed to remove it
                future.set_result(None)

    async def sleep_ms(self, ms: float) -> None:
        """Wait until the fake time has moved ``ms`` milliseconds past now.

        ``ms <= 0`` returns at once (after one yield to the event loop, as ``asyncio.sleep(0)`` does).
        """
        if ms <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now_ms + ms, next(self._sequence), future))
        try:
            await future
        finally:
            if future.cancelled():
                self._sleepers = [entry for entry in self._sleepers if entry[2] is not future]
                heapq.heapify(self._sleepers)
