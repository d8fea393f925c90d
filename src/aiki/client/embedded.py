"""The embedded transport: calls the server's commands in-process, no network, no serialisation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiki.client.retrying import retry_transient
from aiki.contract import ClaimedRun, ClaimRequest, RunOutcome, StartRequest, TaskWrite
from aiki.contract.limits import check_limit
from aiki.contract.listing import Order, RunFilter, RunPage, WorkflowStats
from aiki.contract.schedules import ActivateScheduleRequest, ScheduleInfo, ScheduleStatus
from aiki.contract.steering import BulkAction, BulkResult
from aiki.contract.workers import WorkerAnnouncement, WorkerInfo
from aiki.errors import ServerBusyError
from aiki.types import RunHistory, RunStatus, Transition, WorkflowRun

if TYPE_CHECKING:
    from aiki.server.server import Server as Server  # re-exported: client(server=...) is typed with it


class EmbeddedTransport:
    """A client of a server in this process."""

    def __init__(self, server: Server, namespace: str = "default") -> None:
        self.server = server
        self.namespace = namespace

    async def start_run(self, request: StartRequest) -> WorkflowRun:
        return await self.server.runs.start(self.namespace, request)

    async def get_run(self, run_id: str) -> WorkflowRun:
        return await self.server.runs.get(self.namespace, run_id)

    async def list_runs(
        self,
        run_filter: RunFilter,
        *,
        order: Order = "newest",
        limit: int = 50,
        cursor: str | None = None,
        include_values: bool = False,
    ) -> RunPage:
        return await self.server.runs.list(
            self.namespace, run_filter, order=order, limit=limit, cursor=cursor, include_values=include_values
        )

    async def count_runs(self, run_filter: RunFilter) -> int:
        return await self.server.runs.count(self.namespace, run_filter)

    async def workflow_stats(self) -> list[WorkflowStats]:
        return await self.server.runs.workflow_stats(self.namespace)

    async def get_run_by_reference(self, workflow: str, version: str, reference_id: str) -> WorkflowRun:
        return await self.server.runs.get_by_reference(self.namespace, workflow, version, reference_id)

    async def requeue_run(self, run_id: str) -> WorkflowRun:
        return await self.server.runs.requeue(self.namespace, run_id)

    async def purge_runs(self, before_ms: int, statuses: list[RunStatus] | None) -> int:
        return await self.server.commands.purge.purge(self.namespace, before_ms, statuses)

    async def steer_runs(
        self, action: BulkAction, run_ids: list[str], reason: str | None = None
    ) -> BulkResult:
        return await self.server.commands.steering.apply(self.namespace, action, run_ids, reason)

    async def send_events(
        self, run_ids: list[str], name: str, data: Any, reference_id: str | None
    ) -> list[bool]:
        return await self.server.events.send_many(self.namespace, run_ids, name, data, reference_id)

    async def announce_worker(self, worker: WorkerAnnouncement) -> None:
        await self.server.commands.registry.announce(self.namespace, worker)

    async def worker_stopped(self, worker_id: str) -> None:
        await self.server.commands.registry.stopped(self.namespace, worker_id)

    async def list_workers(self) -> list[WorkerInfo]:
        return await self.server.commands.registry.list(self.namespace)

    async def get_history(self, run_id: str) -> RunHistory:
        return await self.server.runs.history(self.namespace, run_id)

    async def get_timeline(self, run_id: str) -> list[Transition]:
        return await self.server.runs.timeline(self.namespace, run_id)

    async def cancel_run(self, run_id: str, reason: str | None) -> WorkflowRun:
        return await self.server.runs.cancel(self.namespace, run_id, reason)

    async def pause_run(self, run_id: str) -> WorkflowRun:
        return await self.server.runs.pause(self.namespace, run_id)

    async def resume_run(self, run_id: str) -> WorkflowRun:
        return await self.server.runs.resume(self.namespace, run_id)

    async def awake_run(self, run_id: str) -> WorkflowRun:
        return await self.server.runs.awake(self.namespace, run_id)

    async def send_event(self, run_id: str, name: str, data: Any, reference_id: str | None) -> bool:
        return await self.server.events.send(self.namespace, run_id, name, data, reference_id)

    async def wait_for_change(
        self, run_id: str, known_revision: int, timeout_ms: int, *, until_terminal: bool = False
    ) -> WorkflowRun:
        return await self.server.runs.wait_for_change(
            self.namespace, run_id, known_revision, timeout_ms, until_terminal=until_terminal
        )

    async def claim(self, request: ClaimRequest) -> list[ClaimedRun]:
        return await self.server.workers.claim(self.namespace, request)

    async def refresh_claims(self, claims: list[tuple[str, str]]) -> list[str]:
        return await retry_transient(
            lambda: self.server.workers.refresh_claims(self.namespace, claims), _busy, "refreshing claims"
        )

    async def record_task(self, write: TaskWrite) -> str:
        return await retry_transient(
            lambda: self.server.workers.record_task(self.namespace, write),
            _busy,
            lambda: f"recording task {write.address} #{write.occurrence} of run {write.run_id}",
        )

    async def finish(self, outcome: RunOutcome) -> WorkflowRun:
        return await retry_transient(
            lambda: self.server.workers.finish(self.namespace, outcome),
            _busy,
            lambda: f"recording the {outcome.kind} outcome of run {outcome.run_id}",
        )

    async def release(self, run_id: str, claim_token: str) -> None:
        await retry_transient(
            lambda: self.server.workers.release(self.namespace, run_id, claim_token),
            _busy,
            f"releasing run {run_id}",
        )

    async def activate_schedule(self, request: ActivateScheduleRequest) -> ScheduleInfo:
        return await self.server.schedules.activate(self.namespace, request)

    async def get_schedule(self, schedule_id: str) -> ScheduleInfo:
        return await self.server.schedules.get(self.namespace, schedule_id)

    async def list_schedules(
        self,
        *,
        status: ScheduleStatus | None = None,
        workflow: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
    ) -> list[ScheduleInfo]:
        return await self.server.schedules.list(
            self.namespace, status=status, workflow=workflow, limit=check_limit(limit), before_id=before_id
        )

    async def pause_schedule(self, schedule_id: str) -> ScheduleInfo:
        return await self.server.schedules.pause(self.namespace, schedule_id)

    async def resume_schedule(self, schedule_id: str) -> ScheduleInfo:
        return await self.server.schedules.resume(self.namespace, schedule_id)

    async def deactivate_schedule(self, schedule_id: str) -> ScheduleInfo:
        return await self.server.schedules.deactivate(self.namespace, schedule_id)

    async def list_schedule_runs(self, schedule_id: str, *, limit: int = 50) -> list[WorkflowRun]:
        return await self.server.schedules.list_runs(self.namespace, schedule_id, check_limit(limit))

    async def close(self) -> None:
        """Nothing to release: the server belongs to its owner."""


def _busy(error: BaseException) -> bool:
    """In-process, the one failure worth waiting out: every database connection was busy."""
    return isinstance(error, ServerBusyError)
