"""Delivering events to runs."""

from __future__ import annotations

from typing import Any

from aiki.canonical_json import dumps
from aiki.server.core import ServerCore
from aiki.server.run_commands import get_run_in
from aiki.server.transitions import apply_transition
from aiki.types import RunState, RunStatus


class EventCommands:
    """Send events; a run parked on that event name wakes, any other run keeps it for later."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core

    async def send(
        self, namespace: str, run_id: str, name: str, data: Any, reference_id: str | None = None
    ) -> bool:
        """Store the event; returns False when ``reference_id`` was already used (the send is dropped).

        An event sent to a finished run is stored and never consumed.
        """
        async with self.core.write() as (connection, changes):
            run = await get_run_in(connection, namespace, run_id, for_update=True)
            now_ms = self.core.clock.now_ms()
            inserted = await connection.execute(
                "INSERT INTO events (run_id, name, status, data, reference_id, created_at_ms) "
                "VALUES (?, ?, 'received', ?, ?, ?) ON CONFLICT DO NOTHING",
                (run.id, name, dumps(data), reference_id, now_ms),
            )
            if inserted == 0:
                return False
            if run.status is RunStatus.AWAITING_EVENT and run.state.event_name == name:
                await apply_transition(
                    connection, run, RunState(RunStatus.QUEUED, reason="event"), changes, now_ms
                )
            return True
