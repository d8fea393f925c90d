"""Schedule handles: a reference to one schedule, to read and steer it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiki.contract.schedules import ScheduleInfo
from aiki.types import WorkflowRun

if TYPE_CHECKING:
    from aiki.client.client import Client


class ScheduleHandle:
    """A reference to one schedule: what ``await sched.activate(...)`` returns.

    ``handle.info`` holds the schedule as last read; every method updates it.
    """

    def __init__(self, client: Client, info: ScheduleInfo) -> None:
        self.client = client
        self.info = info

    @property
    def id(self) -> str:
        return self.info.id

    async def refresh(self) -> ScheduleInfo:
        """Reload the schedule from the server."""
        self.info = await self.client.transport.get_schedule(self.id)
        return self.info

    async def pause(self) -> ScheduleInfo:
        """Stop firing until ``resume``."""
        self.info = await self.client.transport.pause_schedule(self.id)
        return self.info

    async def resume(self) -> ScheduleInfo:
        """Fire again, catching up on occurrences missed while paused (per the overlap policy)."""
        self.info = await self.client.transport.resume_schedule(self.id)
        return self.info

    async def deactivate(self) -> ScheduleInfo:
        """Stop firing; activating the same definition again restarts it."""
        self.info = await self.client.transport.deactivate_schedule(self.id)
        return self.info

    async def runs(self, *, limit: int = 50) -> list[WorkflowRun]:
        """The runs this schedule started, latest occurrence first."""
        return await self.client.transport.list_schedule_runs(self.id, limit=limit)

    def __repr__(self) -> str:
        return f"<ScheduleHandle {self.id} {self.info.status.value}>"
