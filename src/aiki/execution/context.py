"""``run``: what a workflow handler receives. Its id and input, a logger, durable sleeps and events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from aiki.definitions.task import Task
from aiki.definitions.workflow_version import VersionStarter
from aiki.durations import MAX_SLEEP_MS, Duration, to_bounded_milliseconds, to_milliseconds
from aiki.errors import InvalidOptionError, NotFoundError, SchemaValidationError
from aiki.execution.child_handle import ChildRunHandle
from aiki.execution.child_runner import start_child
from aiki.execution.run_logger import RunLogger
from aiki.execution.signals import FailRun, Suspend
from aiki.execution.task_runner import run_task

if TYPE_CHECKING:
    from aiki.execution.execution import Execution

TaskInputT = TypeVar("TaskInputT")
TaskOutputT = TypeVar("TaskOutputT")
ChildOutputT = TypeVar("ChildOutputT")


@dataclass(frozen=True, slots=True)
class SleepResult:
    """``cancelled`` is ``True`` when the sleep was cut short by ``handle.awake()``."""

    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class EventResult:
    """A received event (``data``) or a wait that timed out (``timeout=True``, ``data`` is ``None``)."""

    data: Any = None
    timeout: bool = False


class EventWaiter:
    """``run.events.NAME``: ``await run.events.NAME.wait(timeout=...)``."""

    def __init__(self, execution: Execution, name: str) -> None:
        self._execution = execution
        self.name = name

    async def wait(self, timeout: Duration | None = None) -> EventResult:
        """Return the next event of this name (delivered before or after this call), or time out.

        Several waits in ``asyncio.gather`` wait for all of them (AND). To continue on whichever of several
        kinds of event comes first (OR), declare one event whose schema is a discriminated union, e.g.
        ``event(schema=Annotated[Approved | Rejected, Field(discriminator="kind")])``, and branch on the
        alternative received: a run waits on one event name at a time.
        """
        execution = self._execution
        execution.check_open()
        timeout_ms = None
        if timeout is not None:
            timeout_ms = to_bounded_milliseconds(timeout, f"The timeout of event {self.name!r}")
        index = execution.event_cursor[self.name]
        entries = execution.events[self.name]
        if index < len(entries):
            execution.event_cursor[self.name] = index + 1
            execution.consumed_recorded()
            entry = entries[index]
            if entry.status == "timeout":
                return EventResult(timeout=True)
            definition = execution.version.events[self.name]
            what = f"event {self.name!r} received by run {execution.run.id}"
            try:
                return EventResult(data=definition.validate(entry.data, what))
            except SchemaValidationError as error:
                # The recorded event no longer fits the event's schema: retrying cannot help.
                execution.closing = True
                raise FailRun(error) from error
        execution.closing = True
        raise Suspend(kind="event_wait", name=self.name, index=index, timeout_ms=timeout_ms)


class EventWaiters:
    """Attribute access to the version's events: ``run.events.payment_received``."""

    def __init__(self, execution: Execution) -> None:
        self._execution = execution

    def __getattr__(self, name: str) -> EventWaiter:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> EventWaiter:
        known = self._execution.version.events
        if name not in known:
            raise NotFoundError(
                "event",
                name,
                f"{self._execution.version.label} declares: {', '.join(sorted(known)) or 'no events'}. "
                f"Declare it with events={{{name!r}: event()}}.",
            )
        return EventWaiter(self._execution, name)


def _shown(value: object) -> str:
    """``value`` as the user would write it: JSON-style for a mapping such as ``{"seconds": 1}``."""
    try:
        return json.dumps(value) if isinstance(value, dict) else repr(value)
    except (TypeError, ValueError):
        return repr(value)


class WorkflowRunContext:
    """The ``run`` argument of a workflow handler.

    Tasks and children are started with it (``await charge.start(run, input)``,
    ``await child_v1.start_as_child(run, input)``), which call its ``run_task`` and ``start_child``.
    """

    def __init__(self, execution: Execution) -> None:
        self._execution = execution
        run = execution.run
        self.id = run.id
        self.name = run.name
        self.version_id = run.version_id
        self.input = run.input
        self.attempts = run.attempts
        #: a ``logging.LoggerAdapter`` over ``aiki.run``, silent while the handler replays (``RunLogger``)
        self.logger = RunLogger(execution)
        self.events = EventWaiters(execution)
        #: the worker's ``context`` (your database pool, clients...), or what its factory made for this run
        self.context = execution.context

    async def run_task(self, task: Task[TaskInputT, TaskOutputT], input: TaskInputT) -> TaskOutputT:
        """Run ``task`` with ``input``, or return its recorded result on replay (``task.start`` calls this)."""
        output: TaskOutputT = await run_task(self._execution, task, input)
        return output

    async def start_child(
        self, starter: VersionStarter[Any, ChildOutputT], input: Any
    ) -> ChildRunHandle[ChildOutputT]:
        """Start a child run, or find it on replay (``version.start_as_child`` calls this)."""
        return await start_child(self._execution, starter, input)

    async def sleep(self, name: str, duration: Duration | None = None) -> SleepResult:
        """Sleep durably: the run holds no worker while it sleeps. Per-name queues; replays return at once.

        ``await run.sleep("cool-down", {"minutes": 5})``: the name identifies the sleep in the run's
        history, so both are required. A duration made longer in code while the run slept is honoured by
        sleeping only the difference.
        """
        execution = self._execution
        execution.check_open()
        if duration is None and isinstance(name, dict | int | float | timedelta):
            raise InvalidOptionError(
                f'run.sleep takes a name, then the duration: run.sleep("name", {_shown(name)}). The name '
                f"identifies this sleep in the run's history."
            )
        if not isinstance(name, str) or not name:
            raise InvalidOptionError(
                f'run.sleep needs a non-empty name first, e.g. run.sleep("cool-down", {{"seconds": 1}}); '
                f"got {name!r}."
            )
        if duration is None:
            raise InvalidOptionError(
                f'run.sleep({name!r}) needs a duration too, e.g. run.sleep({name!r}, {{"seconds": 1}}).'
            )
        duration_ms = to_milliseconds(duration, f"duration of sleep {name!r}")
        if duration_ms <= 0 or duration_ms > MAX_SLEEP_MS:
            raise InvalidOptionError(
                f"Sleep {name!r} of run {self.id} lasts {duration_ms} ms; a sleep must be longer than zero "
                f"and at most 10 years."
            )
        index = execution.sleep_cursor[name]
        execution.sleep_cursor[name] = index + 1
        entries = execution.sleeps[name]
        if index < len(entries):
            execution.consumed_recorded()
            entry = entries[index]
            if entry.status == "cancelled":
                return SleepResult(cancelled=True)
            # Satisfied by what was asked or by what was slept (a wake-up delayed by a pause sleeps longer).
            slept_ms = (entry.ended_at_ms or entry.started_at_ms) - entry.started_at_ms
            if entry.status == "completed" and duration_ms <= max(entry.duration_ms, slept_ms):
                return SleepResult(cancelled=False)
        execution.closing = True
        raise Suspend(kind="sleep", name=name, index=index, duration_ms=duration_ms)

    def __repr__(self) -> str:
        return f"<run {self.name}@{self.version_id} {self.id}>"
