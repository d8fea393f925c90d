"""The timer driver of a test environment: it stands in for the server's runtime loop, which would sleep on
the fake clock for ever.

It fires every timer as soon as it is due at the fake time (as the runtime does), and, with time skipping,
moves the clock itself: when the environment is idle (see ``activity``) and the test waits for a run to end
(``wait_for_status`` through ``env.client``) that has not ended, the clock jumps to the next deadline and
what is due there fires. Only then: a test that waits for anything else (``wait_for_change``, its own
code) sees time stand still, so a run waiting for an event with a timeout still waits when the test sends
the event, and an active schedule does not start runs that no one waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiki.clock import FakeClock
from aiki.errors import NotFoundError
from aiki.server.server import Server
from aiki.testing.activity import Activity, Snapshot
from aiki.testing.wiring import EnvironmentTransport
from aiki.types import TERMINAL_STATUSES

logger = logging.getLogger("aiki.testing")


class TimerDriver:
    """Fires due timers and, with ``time_skipping``, skips time; ``lock`` serialises every move of the
    clock (the driver's, and ``env.advance``'s)."""

    def __init__(
        self,
        server: Server,
        activity: Activity,
        clock: FakeClock,
        transport: EnvironmentTransport,
        *,
        time_skipping: bool,
    ) -> None:
        self._server = server
        self._activity = activity
        self._clock = clock
        self._transport = transport
        self._time_skipping = time_skipping
        self.lock = asyncio.Lock()
        #: what stopped the driver, if it failed: the environment raises it to the test
        self.failure: Exception | None = None
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        # A deadline written anywhere may be due at once (a passed one, on resume) or come before the
        # one the driver knew.
        self._unsubscribe = self._server.core.notifier.on_deadline(self._activity.changed.fire)
        self._task = asyncio.create_task(self._drive(), name="aiki-testing-timers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def tick(self) -> int:
        """Fire what is due at the clock's time, and tell whoever waits for a change if anything fired."""
        fired = await self._server.runtime.tick()
        if fired:
            self._activity.changed.fire()
        return fired

    def jump(self, to_ms: int) -> None:
        """Move the clock forward to ``to_ms`` (never back), releasing its sleepers due by then."""
        if to_ms > self._clock.now_ms():
            self._clock.set(to_ms)
            self._activity.changed.fire()

    async def _drive(self) -> None:
        activity = self._activity
        try:
            while True:
                seen = activity.changed.generation
                async with self.lock:
                    moved, snapshot = await self._step()
                if not moved:
                    await activity.wait_for_change(snapshot, seen)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.exception("aiki.testing: the environment's timer driver failed")
            self.failure = error
            # Waiters for idleness look at the failure when woken.
            activity.changed.fire()

    async def _step(self) -> tuple[bool, Snapshot | None]:
        """One decision: ``(True, None)`` when the clock moved or timers fired; else ``(False, snapshot)``
        with the busy runs to watch (``None``: only a signal can change the decision)."""
        due = await self._activity.next_due_ms()
        if due is not None and due <= self._clock.now_ms():
            # Something due that fires nothing (never expected) must not spin the loop: wait for a change.
            return await self.tick() > 0, None
        if not self._time_skipping or due is None or not await self._awaited_run_pending():
            return False, None
        snapshot = await self._activity.snapshot()
        if not self._activity.is_idle(snapshot) or snapshot.next_due_ms is None:
            return False, snapshot
        # The deadline read with the snapshot, not the one above: a run may have started to wait on the
        # clock since (its wake-up comes before the claim expiry that was the earliest deadline then).
        self.jump(snapshot.next_due_ms)
        await self.tick()
        return True, None

    async def _awaited_run_pending(self) -> bool:
        """Whether the test waits for the end of a run that has not ended."""
        for run_id in list(self._transport.awaited):
            try:
                run = await self._transport.get_run(run_id)
            except NotFoundError:
                continue  # the wait itself reports that
            if run.status not in TERMINAL_STATUSES:
                return True
        return False
