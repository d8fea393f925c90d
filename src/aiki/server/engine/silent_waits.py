"""Waits that nothing will end: a run left waiting for a timer (a sleep, a delayed start, a retry's delay, a
timeout) or a schedule armed, on a server whose runtime was never started and which says nothing else fires
its timers.

Only a runtime fires timers (``await srv.runtime.start()``, or ``aiki server``). A server that never started
its runtime may be a client of a database whose timers another process fires, which is fine; or it may be a
newcomer's only server, whose 100 ms sleep would then stay ``sleeping`` for ever in silence. So the first
such timer logs one warning per server (``logging``, like the queues no worker serves) that says why nothing
moves and how to fix it. ``srv.runtime.served_elsewhere()`` says the timers are fired elsewhere (another
process's runtime, or a test that calls ``tick()``) and keeps the server quiet.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiki.server.engine.changes import Changes

logger = logging.getLogger("aiki.server")

FIX = (
    "Start this server's runtime (`await srv.runtime.start()`), or serve the database with `aiki server` and "
    "point clients and workers at it with client(url=...). If another process does run the runtime, call "
    "srv.runtime.served_elsewhere() to silence this warning."
)


class SilentWaits:
    """Held by the server's core; told by the runtime when it starts, asked after each committed write."""

    def __init__(self) -> None:
        #: the runtime was started once, or something else was said to fire the timers
        self.timers_served = False
        self._warned = False

    def check(self, changes: Changes, now_ms: int) -> None:
        """Warn (once) if ``changes`` left a timer that no runtime of this server fires."""
        if self.timers_served or self._warned or not (changes.timer_waits or changes.schedule_waits):
            return
        self._warned = True
        if changes.timer_waits:
            run, due_at_ms = min(changes.timer_waits, key=lambda wait: wait[1])
            what = f"run {run.id} (workflow {run.name!r} version {run.version_id!r}) is {run.status.value}"
        else:
            schedule_id, workflow_name, due_at_ms = min(changes.schedule_waits, key=lambda wait: wait[2])
            what = f"schedule {schedule_id} (workflow {workflow_name!r}) is active"
        due = datetime.fromtimestamp(due_at_ms / 1000, UTC).isoformat(timespec="milliseconds")
        logger.warning(
            "aiki: %s with a timer due at %s (in %d ms), but this server's runtime was never started, so nothing "
            "will fire it unless another process runs a runtime on this database. %s",
            what,
            due,
            max(0, due_at_ms - now_ms),
            FIX,
        )
