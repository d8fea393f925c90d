"""``client(...)``: the one API to an aiki server, embedded or over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from aiki.client.handle import WorkflowRunHandle
from aiki.client.schedule_handle import ScheduleHandle
from aiki.client.tracing import note_started, start_span
from aiki.client.transport import Transport
from aiki.clock import Clock, SystemClock
from aiki.contract import StartRequest
from aiki.contract.limits import check_limit
from aiki.contract.listing import (
    Order,
    RunFilterArguments,
    RunPage,
    WorkflowStats,
    build_filter,
    epoch_ms,
    parse_order,
    parse_statuses,
)
from aiki.contract.schedules import ActivateScheduleRequest, ScheduleInfo, ScheduleStatus
from aiki.contract.steering import BulkResult, check_run_ids
from aiki.contract.workers import WorkerInfo
from aiki.definitions.type_variables import OutputT
from aiki.definitions.workflow_version import WorkflowVersion
from aiki.errors import ConfigurationError, InvalidOptionError, NotFoundError
from aiki.types import RunHistory, RunStatus, Transition, WorkflowRun

if TYPE_CHECKING:
    from aiki.client.embedded import Server


class Client:
    """Starts runs, gets handles, and carries workers' calls to the server.

    Args:
        transport: how calls reach the server (embedded or HTTP).
        clock: the clock of the server this client talks to, which workers using the client read; the
            system clock unless the server runs in this process on another one (``client(server=srv)``
            passes the server's).
    """

    def __init__(self, transport: Transport, *, clock: Clock | None = None) -> None:
        self.transport = transport
        self.clock: Clock = clock if clock is not None else SystemClock()

    @property
    def namespace(self) -> str:
        """The namespace every call of this client works in."""
        return self.transport.namespace

    async def start_workflow(
        self, version: WorkflowVersion[Any, OutputT], request: StartRequest
    ) -> WorkflowRunHandle[OutputT]:
        """Start a run as ``request`` says; what ``version.start(client, input)`` calls.

        ``request`` comes from ``version.with_().request(input)`` (input validated and hashed); ``version``
        gives the handle its events and output schema. With OpenTelemetry, the start is an ``aiki.start``
        span whose trace context the run keeps.
        """
        with start_span(request) as (traced, span):
            run = await self.transport.start_run(traced)
            note_started(span, run)
        return WorkflowRunHandle(self, run, version)

    async def get_run_handle(
        self, version: WorkflowVersion[Any, OutputT], run_id: str
    ) -> WorkflowRunHandle[OutputT]:
        """The handle of run ``run_id`` of ``version``; what ``version.get_handle(client, run_id)`` calls.

        Raises:
            NotFoundError: there is no such run, or it is a run of another workflow or version.
        """
        run = await self.transport.get_run(run_id)
        if run.name != version.name or run.version_id != version.version_id:
            raise NotFoundError(
                f"run of {version.label}",
                run_id,
                f"That run belongs to workflow {run.name!r} version {run.version_id!r}.",
            )
        return WorkflowRunHandle(self, run, version)

    async def get_run_handle_by_reference(
        self, version: WorkflowVersion[Any, OutputT], reference_id: str
    ) -> WorkflowRunHandle[OutputT]:
        """The handle of the run of ``version`` that ``reference_id`` names; what
        ``version.get_handle_by_reference_id(client, reference_id)`` calls."""
        run = await self.transport.get_run_by_reference(version.name, version.version_id, reference_id)
        return WorkflowRunHandle(self, run, version)

    async def send_events(
        self, run_ids: Sequence[str], name: str, data: Any, reference_id: str | None = None
    ) -> list[bool]:
        """Send event ``name`` (``data`` already JSON) to every run of ``run_ids`` in one transaction;
        unknown ids raise ``NotFoundError`` and nothing is sent. What ``version.events.NAME.send`` calls."""
        return await self.transport.send_events(check_run_ids(run_ids), name, data, reference_id)

    async def send_event_by_reference(
        self,
        workflow: str,
        version: str,
        run_reference_id: str,
        name: str,
        data: Any,
        reference_id: str | None,
    ) -> bool:
        """Send event ``name`` to the run a reference id names; what ``send_by_reference_id`` calls."""
        run = await self.transport.get_run_by_reference(workflow, version, run_reference_id)
        return await self.transport.send_event(run.id, name, data, reference_id)

    async def cancel_runs(self, run_ids: Sequence[str], reason: str | None = None) -> BulkResult:
        """Cancel up to 1,000 runs (and their children), each atomically and independently.

        ``result.done`` lists the runs cancelled; ``result.skipped`` says why the others were left alone
        (unknown, or already finished)."""
        if reason is not None and (not isinstance(reason, str) or not reason):
            raise InvalidOptionError(
                f"cancel_runs(reason=...) takes a non-empty string or None, got {reason!r}."
            )
        return await self.transport.steer_runs("cancel", check_run_ids(run_ids), reason)

    async def pause_runs(self, run_ids: Sequence[str]) -> BulkResult:
        """Pause up to 1,000 runs, each atomically and independently (see ``cancel_runs``)."""
        return await self.transport.steer_runs("pause", check_run_ids(run_ids))

    async def resume_runs(self, run_ids: Sequence[str]) -> BulkResult:
        """Resume up to 1,000 paused runs, each atomically and independently (see ``cancel_runs``)."""
        return await self.transport.steer_runs("resume", check_run_ids(run_ids))

    async def requeue_runs(self, run_ids: Sequence[str]) -> BulkResult:
        """Put up to 1,000 stalled runs back in the queue, each independently (see ``cancel_runs``)."""
        return await self.transport.steer_runs("requeue", check_run_ids(run_ids))

    async def purge_runs(
        self, *, before: datetime | int, status: str | RunStatus | Sequence[str | RunStatus] | None = None
    ) -> int:
        """Delete the runs that finished before ``before`` (an aware datetime or epoch milliseconds), of
        ``status`` if given (completed, failed, cancelled), with everything recorded of them; returns how many.
        A run goes with the children it created, once they all finished before ``before`` too. The server
        deletes finished runs by itself after its retention (30 days by default): this is for a one-off."""
        before_ms = epoch_ms(before, "before")
        assert before_ms is not None
        return await self.transport.purge_runs(before_ms, parse_statuses(status))

    async def list_workers(self) -> list[WorkerInfo]:
        """The workers seen by the server within its claim timeout (they announce themselves at every claim
        refresh): id, name, host, pid, registered versions, shards, concurrency and active runs."""
        return await self.transport.list_workers()

    async def activate_schedule(self, request: ActivateScheduleRequest) -> ScheduleHandle:
        """Activate a schedule (idempotently); what ``schedule.activate(client, version, input)`` calls."""
        return ScheduleHandle(self, await self.transport.activate_schedule(request))

    async def get_run(self, run_id: str) -> WorkflowRun:
        """The run ``run_id`` as stored; ``NotFoundError`` if there is none."""
        return await self.transport.get_run(run_id)

    async def get_timeline(self, run_id: str) -> list[Transition]:
        """Every status change of run ``run_id``, oldest first (one row per revision)."""
        return await self.transport.get_timeline(run_id)

    async def get_history(self, run_id: str) -> RunHistory:
        """What run ``run_id`` recorded: its tasks, sleeps, events, children and child waits."""
        return await self.transport.get_history(run_id)

    async def list_runs(
        self,
        *,
        order: Order = "newest",
        limit: int = 50,
        cursor: str | None = None,
        include_values: bool = False,
        **filters: Unpack[RunFilterArguments],
    ) -> RunPage:
        """One page of runs, newest first (or ``order="oldest"``); ``page.next_cursor`` continues the list.

        Filters (all optional, combined with AND): ``status`` (one status or a list), ``workflow``,
        ``version``, ``reference_id``, ``parent_run_id``, ``schedule_id``, and
        ``created_after <= created_at < created_before`` (aware datetimes or epoch milliseconds).

        The runs are summaries (``run.values_omitted``: no input or output, the error cut to its type and
        message); ``include_values=True`` gives whole runs, as many as fit in 4 MB of values per page.

        Example:
            page = await c.list_runs(status=["failed", "cancelled"], workflow="order-processing", limit=100)
            more = await c.list_runs(status=["failed", "cancelled"], workflow="order-processing",
                                     limit=100, cursor=page.next_cursor)
        """
        return await self.transport.list_runs(
            build_filter(**filters),
            order=parse_order(order),
            limit=check_limit(limit),
            cursor=cursor,
            include_values=include_values,
        )

    async def iter_runs(
        self,
        *,
        order: Order = "newest",
        page_size: int = 200,
        include_values: bool = False,
        **filters: Unpack[RunFilterArguments],
    ) -> AsyncIterator[WorkflowRun]:
        """Every matching run, page by page (the filters of ``list_runs``)."""
        run_filter = build_filter(**filters)
        order = parse_order(order)
        page_size = check_limit(page_size, "page_size")
        cursor: str | None = None
        while True:
            page = await self.transport.list_runs(
                run_filter, order=order, limit=page_size, cursor=cursor, include_values=include_values
            )
            for run in page.runs:
                yield run
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def count_runs(self, **filters: Unpack[RunFilterArguments]) -> int:
        """How many runs match (the filters of ``list_runs``)."""
        return await self.transport.count_runs(build_filter(**filters))

    async def workflow_stats(self) -> list[WorkflowStats]:
        """Per workflow version: runs by status, and whether a live worker serves it."""
        return await self.transport.workflow_stats()

    async def list_schedules(
        self,
        *,
        status: ScheduleStatus | str | None = None,
        workflow: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
    ) -> list[ScheduleInfo]:
        """Schedules of the client's namespace, newest first.

        Args:
            status: only ``"active"``, ``"paused"`` or ``"inactive"`` ones.
            workflow: only schedules of this workflow name.
            limit: at most this many (1 to 1000).
            before_id: page backwards: only schedules older than this id.
        """
        return await self.transport.list_schedules(
            status=None if status is None else _schedule_status(status),
            workflow=workflow,
            limit=limit,
            before_id=before_id,
        )

    async def get_schedule_handle(self, schedule_id: str) -> ScheduleHandle:
        """The handle of schedule ``schedule_id``; ``NotFoundError`` if there is none."""
        return ScheduleHandle(self, await self.transport.get_schedule(schedule_id))

    async def close(self) -> None:
        """Release the transport (the HTTP connections); an embedded server stays with its owner."""
        await self.transport.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _schedule_status(value: ScheduleStatus | str) -> ScheduleStatus:
    try:
        return ScheduleStatus(value)
    except ValueError:
        valid = ", ".join(status.value for status in ScheduleStatus)
        raise InvalidOptionError(f"Schedule status {value!r} is unknown; use one of: {valid}.") from None


def client(
    *,
    server: Server | None = None,
    url: str | None = None,
    api_key: str | None = None,
    namespace: str | None = None,
    timeout_s: float = 60.0,
) -> Client:
    """A client of ``server`` (embedded, in this process) or of the server at ``url`` (HTTP).

    ``namespace`` defaults to ``"default"``; over HTTP with an ``api_key`` it defaults to the key's own.

    Example:
        c = client(server=srv)
        c = client(url="http://localhost:9850", api_key=KEY)
    """
    if (server is None) == (url is None):
        raise ConfigurationError("client() needs exactly one of server=... (embedded) or url=... (HTTP).")
    if server is not None:
        from aiki.client.embedded import EmbeddedTransport

        transport = EmbeddedTransport(server, namespace or "default")
        # Workers of an embedded client read the server's clock: a fake one in tests moves both.
        return Client(transport, clock=transport.server.clock)
    from aiki.client.http import HttpTransport

    assert url is not None
    return Client(HttpTransport(url, api_key=api_key, timeout_s=timeout_s, namespace=namespace))
