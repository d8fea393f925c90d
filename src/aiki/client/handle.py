"""Handles: a reference to one run, to watch and steer it from outside a workflow."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, cast

from aiki.canonical_json import to_jsonable
from aiki.definitions.event import EventDefinition
from aiki.definitions.type_variables import OutputT
from aiki.definitions.version_events import event_reference_id
from aiki.definitions.workflow_version import WorkflowVersion
from aiki.durations import Duration, to_milliseconds
from aiki.errors import InvalidOptionError, NotFoundError
from aiki.types import (
    TERMINAL_STATUSES,
    RunState,
    RunStatus,
    TerminalStatus,
    WorkflowRun,
    parse_terminal_status,
)

if TYPE_CHECKING:
    from aiki.client.client import Client


@dataclass(frozen=True, slots=True)
class WaitResult(Generic[OutputT]):
    """What ``wait_for_status`` found.

    ``output`` is the typed way to the result: ``(await handle.wait_for_status("completed")).output`` is an
    ``OutputT`` (the handler's return type) when the run completed, parsed by the version's output schema
    when it has one (a model instance for a pydantic model). ``state.output`` keeps the stored JSON value.

    Attributes:
        success: the run reached the requested status.
        state: the run's state when the wait ended (``None`` only for a child wait that timed out).
        cause: the terminal status reached instead, else ``None``.
        timeout: the timeout ran out first (then ``success`` is ``False``).
        output: the run's output if it completed, else ``None``. Without an output schema it is the value
            as stored, so a pydantic model returned by the handler comes back as a dict: give the version
            ``schema={"output": Model}`` to get the model.
    """

    success: bool
    state: RunState | None
    cause: str | None = None
    timeout: bool = False
    output: OutputT | None = None


class EventSender:
    """``handle.events.NAME``: send one event to the run (validated against the event's schema)."""

    def __init__(
        self,
        handle: WorkflowRunHandle,
        name: str,
        definition: EventDefinition | None,
        reference_id: str | None = None,
    ) -> None:
        self._handle = handle
        self.name = name
        self._definition = definition
        self._reference_id = reference_id

    def with_(self) -> EventSender:
        """A copy whose ``opt("reference.id", key)`` makes sends with that key deduplicated."""
        return EventSender(self._handle, self.name, self._definition, self._reference_id)

    def opt(self, path: str, value: Any) -> EventSender:
        reference_id = event_reference_id(path, value, self._reference_id)
        return EventSender(self._handle, self.name, self._definition, reference_id)

    async def send(self, data: Any = None) -> bool:
        """Deliver the event. Returns ``False`` when a send with the same reference id already happened.

        The data is validated first (``SchemaValidationError``: nothing is stored). A run that is not waiting
        for this event keeps it, in order, for its next wait of this name. An event sent to a finished run
        is accepted (``True``) and ignored: no run will consume it.
        """
        what = f"data of event {self.name!r} for run {self._handle.id}"
        if self._definition is not None:
            data = self._definition.validate(data, what)
        payload = to_jsonable(data, what)
        return await self._handle.client.transport.send_event(
            self._handle.id, self.name, payload, self._reference_id
        )


class EventSenders:
    """Attribute access to the run's events: ``handle.events.payment_received.send(...)``."""

    def __init__(self, handle: WorkflowRunHandle, definitions: Mapping[str, EventDefinition] | None) -> None:
        self._handle = handle
        self._definitions = definitions

    def __getattr__(self, name: str) -> EventSender:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> EventSender:
        if self._definitions is None:
            return EventSender(self._handle, name, None)
        if name not in self._definitions:
            known = ", ".join(sorted(self._definitions)) or "none"
            raise NotFoundError(
                "event",
                name,
                f"Workflow {self._handle.run.name!r} version {self._handle.run.version_id!r} "
                f"defines these events: {known}.",
            )
        return EventSender(self._handle, name, self._definitions[name])


class WorkflowRunHandle(Generic[OutputT]):
    """Watch and steer one run. ``run`` is the record as last fetched.

    Generic in the run's output: ``await order_v1.start(client, order)`` is a ``WorkflowRunHandle[Receipt]``
    when ``order_v1``'s handler returns a ``Receipt``, and its ``wait_for_status`` gives a
    ``WaitResult[Receipt]``.

    Args:
        client: the client that reads and steers the run.
        run: the run record.
        version: the run's workflow version, when known: its events can be sent by attribute
            (``handle.events.paid``) and checked, and its output schema parses ``WaitResult.output``.
    """

    def __init__(
        self, client: Client, run: WorkflowRun, version: WorkflowVersion[Any, OutputT] | None = None
    ) -> None:
        self.client = client
        self.run = run
        self.version = version
        self.events = EventSenders(self, None if version is None else version.events)

    @property
    def id(self) -> str:
        """The run's id."""
        return self.run.id

    async def refresh(self) -> WorkflowRun:
        """Reload the run from the server; updates ``handle.run`` and returns it."""
        self.run = await self.client.transport.get_run(self.run.id)
        return self.run

    async def wait_for_status(
        self, status: TerminalStatus | RunStatus, timeout: Duration | None = None
    ) -> WaitResult[OutputT]:
        """Wait until the run is terminal. Returns at once if it already is.

        Args:
            status: ``completed``, ``failed`` or ``cancelled``: the status you hope for.
            timeout: how long to wait at most (a duration); ``None`` waits for ever.
        """
        wanted = parse_terminal_status(status)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + to_milliseconds(timeout, "timeout") / 1000
        # No refresh first: ``wait_for_change`` reads the run and returns at once if it moved on.
        run = self.run
        while run.status not in TERMINAL_STATUSES:
            remaining_s = 3600.0 if deadline is None else deadline - loop.time()
            if remaining_s <= 0:
                return WaitResult(success=False, state=run.state, cause=None, timeout=True)
            run = await self.client.transport.wait_for_change(
                run.id, run.revision, int(min(remaining_s, 30.0) * 1000), until_terminal=True
            )
            self.run = run
        return self._result(run.state, wanted)

    async def wait_for_change(self, timeout: Duration = 30_000) -> WorkflowRun:
        """Wait until the run moves on from ``handle.run`` (a new status or state) and return it.

        Watches a run step by step without polling: ``while handle.run.status is not
        RunStatus.AWAITING_EVENT: await handle.wait_for_change()``. Updates ``handle.run``.

        Args:
            timeout: how long to wait at most (a duration; 30 seconds by default). When it runs out, the
                run is returned as it is then.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + to_milliseconds(timeout, "timeout") / 1000
        known = self.run
        run = known
        while run.revision == known.revision:
            remaining_ms = int((deadline - loop.time()) * 1000)
            if remaining_ms <= 0:
                break
            run = await self.client.transport.wait_for_change(run.id, known.revision, remaining_ms)
        self.run = run
        return run

    def _result(self, state: RunState, wanted: RunStatus) -> WaitResult[OutputT]:
        """The result of a wait that ended with the run in ``state`` (a terminal one)."""
        if state.status is not wanted:
            return WaitResult(success=False, state=state, cause=state.status.value)
        if state.status is not RunStatus.COMPLETED:
            return WaitResult(success=True, state=state)
        return WaitResult(success=True, state=state, output=self._parse_output(state.output))

    def _parse_output(self, output: Any) -> OutputT:
        """The stored output as the handler's type: parsed by the version's output schema, if any."""
        validator = None if self.version is None else self.version.schema.output
        parsed = output if validator is None else validator(output)
        # The handler's return type is the promise: the schema parsed to it, or it is plain JSON already.
        return cast(OutputT, parsed)

    async def cancel(self, reason: str | None = None) -> WorkflowRun:
        """Cancel the run (and its children that are still going)."""
        if reason is not None and (not isinstance(reason, str) or not reason):
            raise InvalidOptionError(f"cancel(reason) takes a non-empty string or None, got {reason!r}.")
        self.run = await self.client.transport.cancel_run(self.run.id, reason)
        return self.run

    async def pause(self) -> WorkflowRun:
        """Pause: no new task starts and no timer fires until ``resume``."""
        self.run = await self.client.transport.pause_run(self.run.id)
        return self.run

    async def resume(self) -> WorkflowRun:
        """Put a paused run back where it was."""
        self.run = await self.client.transport.resume_run(self.run.id)
        return self.run

    async def requeue(self) -> WorkflowRun:
        """Put a stalled run back in the queue, with a fresh stall clock (``InvalidTransitionError`` for a run
        that is not stalled)."""
        self.run = await self.client.transport.requeue_run(self.run.id)
        return self.run

    async def awake(self) -> WorkflowRun:
        """Wake a sleeping run early (its ``run.sleep`` returns ``cancelled=True``)."""
        self.run = await self.client.transport.awake_run(self.run.id)
        return self.run

    @property
    def status(self) -> RunStatus:
        """The run's status as last fetched."""
        return self.run.status

    def __repr__(self) -> str:
        return (
            f"<WorkflowRunHandle {self.run.name}@{self.run.version_id} {self.run.id} {self.run.status.value}>"
        )
