"""Schedule handles, and the schedule operations by id that tools such as the CLI use.

Every call goes through ``client.transport.call_extension("schedules", ...)``: the same code works on an
embedded server and over HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiki.schedule_contract import EXTENSION_NAME, ScheduleInfo
from aiki.types import WorkflowRun

if TYPE_CHECKING:
    from aiki.client.client import Client


async def _call(client: Client, operation: str, payload: dict[str, Any]) -> Any:
    return await client.transport.call_extension(EXTENSION_NAME, operation, payload)


async def get_schedule(client: Client, schedule_id: str) -> ScheduleInfo:
    """The schedule ``schedule_id``; ``NotFoundError`` if there is none."""
    return ScheduleInfo.from_dict(await _call(client, "get", {"id": schedule_id}))


async def list_schedules(
    client: Client,
    *,
    status: str | None = None,
    workflow: str | None = None,
    limit: int = 50,
    before_id: str | None = None,
) -> list[ScheduleInfo]:
    """Schedules of the client's namespace, newest first.

    Args:
        status: only ``"active"``, ``"paused"`` or ``"inactive"`` ones.
        workflow: only schedules of this workflow name.
        limit: at most this many (up to 1000).
        before_id: page backwards: only schedules older than this id.
    """
    payload = {"status": status, "workflow": workflow, "limit": limit, "before_id": before_id}
    result = await _call(client, "list", {key: value for key, value in payload.items() if value is not None})
    return [ScheduleInfo.from_dict(item) for item in result["schedules"]]


async def pause_schedule(client: Client, schedule_id: str) -> ScheduleInfo:
    """Stop the schedule firing until it is resumed; runs already started are not touched."""
    return ScheduleInfo.from_dict(await _call(client, "pause", {"id": schedule_id}))


async def resume_schedule(client: Client, schedule_id: str) -> ScheduleInfo:
    """Fire again; occurrences missed while paused are caught up per the overlap policy."""
    return ScheduleInfo.from_dict(await _call(client, "resume", {"id": schedule_id}))


async def deactivate_schedule(client: Client, schedule_id: str) -> ScheduleInfo:
    """Stop the schedule; activating the same definition again restarts it from that moment."""
    return ScheduleInfo.from_dict(await _call(client, "deactivate", {"id": schedule_id}))


async def list_schedule_runs(client: Client, schedule_id: str, *, limit: int = 50) -> list[WorkflowRun]:
    """The runs the schedule started, latest occurrence first."""
    result = await _call(client, "list_runs", {"id": schedule_id, "limit": limit})
    return [WorkflowRun.from_dict(item) for item in result["runs"]]


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
        self.info = await get_schedule(self.client, self.id)
        return self.info

    async def pause(self) -> ScheduleInfo:
        """Stop firing until ``resume``."""
        self.info = await pause_schedule(self.client, self.id)
        return self.info

    async def resume(self) -> ScheduleInfo:
        """Fire again, catching up on occurrences missed while paused (per the overlap policy)."""
        self.info = await resume_schedule(self.client, self.id)
        return self.info

    async def deactivate(self) -> ScheduleInfo:
        """Stop firing; activating the same definition again restarts it."""
        self.info = await deactivate_schedule(self.client, self.id)
        return self.info

    async def runs(self, *, limit: int = 50) -> list[WorkflowRun]:
        """The runs this schedule started, latest occurrence first."""
        return await list_schedule_runs(self.client, self.id, limit=limit)

    def __repr__(self) -> str:
        return f"<ScheduleHandle {self.id} {self.info.status.value}>"
