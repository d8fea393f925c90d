"""Delivering events to runs: to one run, to many at once, or to the run a reference id names."""

from __future__ import annotations

from typing import Any

from aiki.contract.checks import check_value
from aiki.contract.steering import check_run_ids
from aiki.errors import NotFoundError
from aiki.server.commands.runs import get_run_in
from aiki.server.engine.changes import Changes
from aiki.server.engine.core import ServerCore
from aiki.server.engine.transitions import apply_transition
from aiki.store.connection import Connection
from aiki.types import RunState, RunStatus, WorkflowRun


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
            return await self._deliver(connection, changes, run, name, data_text, reference_id)

    async def send_many(
        self, namespace: str, run_ids: list[str], name: str, data: Any, reference_id: str | None = None
    ) -> list[bool]:
        """Send one event to each run of ``run_ids``, in one transaction: if any run is unknown, nothing is
        sent (``NotFoundError`` names them). An id given twice gets the event once. Returns, per id given,
        False where ``reference_id`` was used."""
        ids = check_run_ids(run_ids)
        data_json = check_value(data, f"data of event {name!r}")
        async with self.core.write() as (connection, changes):
            runs: dict[str, WorkflowRun] = {}
            # Locked in one order, so that two concurrent multicasts cannot wait for each other.
            for run_id in sorted(ids):
                run = await connection.get_run(namespace, run_id, for_update=True)
                if run is not None:
                    runs[run_id] = run
            missing = [run_id for run_id in ids if run_id not in runs]
            if missing:
                raise NotFoundError(
                    "workflow runs",
                    ", ".join(missing),
                    "No event was sent. Check the ids (and the namespace of your API key).",
                )
            delivered: dict[str, bool] = {}
            for run_id in run_ids:
                if run_id not in delivered:
                    run = runs[run_id]
                    delivered[run_id] = await self._deliver(
                        connection, changes, run, name, data_json, reference_id
                    )
            return [delivered[run_id] for run_id in run_ids]

    async def _deliver(
        self,
        connection: Connection,
        changes: Changes,
        run: WorkflowRun,
        name: str,
        data_json: str | None,
        reference_id: str | None,
    ) -> bool:
        now_ms = self.core.clock.now_ms()
        if not await connection.insert_event(run.id, name, data_json, reference_id, now_ms):
            return False
        if run.status is RunStatus.AWAITING_EVENT and run.state.event_name == name:
            target = RunState(RunStatus.QUEUED, reason="event")
            await apply_transition(connection, run, target, changes, now_ms, self.core.settings)
        return True
