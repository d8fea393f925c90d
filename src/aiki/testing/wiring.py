"""How a test environment hears what its test and its worker wait for: the runs whose end the test awaits
(time skips only for them), and the waits the worker blocks in on the fake clock."""

from __future__ import annotations

from collections import Counter

from aiki.client.embedded import EmbeddedTransport
from aiki.clock import FakeClock
from aiki.server.server import Server
from aiki.testing.activity import Signal
from aiki.types import WorkflowRun


class EnvironmentTransport(EmbeddedTransport):
    """The embedded transport of ``env.client``, which also keeps the runs a ``wait_for_status`` awaits."""

    def __init__(self, server: Server, changed: Signal) -> None:
        super().__init__(server)
        self._changed = changed
        #: run id -> how many ``wait_for_status`` calls wait for it to end now
        self.awaited: Counter[str] = Counter()

    async def wait_for_change(
        self, run_id: str, known_revision: int, timeout_ms: int, *, until_terminal: bool = False
    ) -> WorkflowRun:
        if not until_terminal:
            return await super().wait_for_change(run_id, known_revision, timeout_ms)
        self.awaited[run_id] += 1
        self._changed.fire()
        try:
            return await super().wait_for_change(run_id, known_revision, timeout_ms, until_terminal=True)
        finally:
            self.awaited[run_id] -= 1
            if not self.awaited[run_id]:
                del self.awaited[run_id]


class WorkerClock:
    """The fake clock as the environment's worker reads it: each wait on it fires ``changed``, since a run
    blocked in one (an inline task retry delay) may be all that keeps the environment from being idle."""

    def __init__(self, clock: FakeClock, changed: Signal) -> None:
        self._clock = clock
        self._changed = changed

    def now_ms(self) -> int:
        """The fake time."""
        return self._clock.now_ms()

    async def sleep_ms(self, ms: float) -> None:
        """Wait on the fake clock, announcing it."""
        # Whoever the signal wakes runs only once this task yields inside the clock's sleep: by then the
        # sleeper is in place, and counted.
        self._changed.fire()
        await self._clock.sleep_ms(ms)
