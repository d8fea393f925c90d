"""Delivering events to runs."""

from __future__ import annotations

from typing import Any

from aiki.contract.checks import check_value
from aiki.server.commands.runs import get_run_in
from aiki.server.engine.core import ServerCore
from aiki.server.engine.transitions import apply_transition
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
        data_text = check_value(data, f"data of event {name!r}")
        async with self.core.write() as (connection, changes):
            run = await get_run_in(connection, namespace, run_id, for_update=True)
            now_ms = self.core.clock.now_ms()
            if not await connection.insert_event(run.id, name, data_text, reference_id, now_ms):
                return False
            if run.status is RunStatus.AWAITING_EVENT and run.state.event_name == name:
                target = RunState(RunStatus.QUEUED, reason="event")
                await apply_transition(connection, run, target, changes, now_ms, self.core.settings)
            return True
