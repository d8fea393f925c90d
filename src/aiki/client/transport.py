"""The operations a client can ask of a server; the embedded and HTTP transports implement them alike."""

from __future__ import annotations

from typing import Any, Protocol

from aiki.contract import ClaimedRun, ClaimRequest, RunOutcome, StartRequest, TaskWrite
from aiki.contract.schedules import ActivateScheduleRequest, ScheduleInfo, ScheduleStatus
from aiki.types import RunHistory, Transition, WorkflowRun


class Transport(Protocol):
    """Every call is scoped to the transport's namespace."""

    namespace: str

    async def start_run(self, request: StartRequest) -> WorkflowRun: ...

    async def get_run(self, run_id: str) -> WorkflowRun: ...

    async def list_runs(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
    ) -> list[WorkflowRun]: ...

    async def get_history(self, run_id: str) -> RunHistory: ...

    async def get_timeline(self, run_id: str) -> list[Transition]: ...

    async def cancel_run(self, run_id: str, reason: str | None) -> WorkflowRun: ...

    async def pause_run(self, run_id: str) -> WorkflowRun: ...

    async def resume_run(self, run_id: str) -> WorkflowRun: ...

    async def awake_run(self, run_id: str) -> WorkflowRun: ...

    async def send_event(self, run_id: str, name: str, data: Any, reference_id: str | None) -> bool: ...

    async def wait_for_change(
        self, run_id: str, known_revision: int, timeout_ms: int, *, until_terminal: bool = False
    ) -> WorkflowRun:
        """The run once its revision differs from ``known_revision`` (with ``until_terminal``: once it is
        terminal), or as it is at the timeout."""
        ...

    async def claim(self, request: ClaimRequest) -> list[ClaimedRun]: ...

    async def refresh_claims(self, claims: list[tuple[str, str]]) -> list[str]: ...

    async def record_task(self, write: TaskWrite) -> str: ...

    async def finish(self, outcome: RunOutcome) -> WorkflowRun: ...

    async def release(self, run_id: str, claim_token: str) -> None: ...

    async def activate_schedule(self, request: ActivateScheduleRequest) -> ScheduleInfo: ...

    async def get_schedule(self, schedule_id: str) -> ScheduleInfo: ...

    async def list_schedules(
        self,
        *,
        status: ScheduleStatus | None = None,
        workflow: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
    ) -> list[ScheduleInfo]: ...

    async def pause_schedule(self, schedule_id: str) -> ScheduleInfo: ...

    async def resume_schedule(self, schedule_id: str) -> ScheduleInfo: ...

    async def deactivate_schedule(self, schedule_id: str) -> ScheduleInfo: ...

    async def list_schedule_runs(self, schedule_id: str, *, limit: int = 50) -> list[WorkflowRun]: ...

    async def close(self) -> None: ...
