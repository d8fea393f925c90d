"""Values shared by every layer: statuses, run states, run records and their recorded history."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Literal, get_args


class RunStatus(StrEnum):
    """Where a workflow run is in its life."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    SLEEPING = "sleeping"
    AWAITING_EVENT = "awaiting_event"
    AWAITING_RETRY = "awaiting_retry"
    AWAITING_CHILD_WORKFLOW = "awaiting_child_workflow"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    #: queued longer than the server's ``stall_after_ms`` without any worker claiming it (not terminal:
    #: ``requeue`` puts it back in the queue)
    STALLED = "stalled"


TERMINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})

TerminalStatus = Literal["completed", "failed", "cancelled"]
"""The statuses a run ends in: what ``handle.wait_for_status`` waits for."""

WAITING_STATUSES = frozenset(
    {
        RunStatus.SLEEPING,
        RunStatus.AWAITING_EVENT,
        RunStatus.AWAITING_RETRY,
        RunStatus.AWAITING_CHILD_WORKFLOW,
    }
)


def parse_status(value: str, what: str = "status") -> RunStatus:
    """``value`` as a RunStatus, or a clear error listing the valid ones."""
    from aiki.errors import InvalidOptionError

    try:
        return RunStatus(value)
    except ValueError:
        valid = ", ".join(status.value for status in RunStatus)
        raise InvalidOptionError(f"{what} {value!r} is not a run status; use one of: {valid}.") from None


def parse_terminal_status(value: str) -> RunStatus:
    """``value`` as a terminal RunStatus (completed, failed, cancelled)."""
    from aiki.errors import InvalidOptionError

    if value in get_args(TerminalStatus):
        return RunStatus(value)
    shown = repr(value.value if isinstance(value, RunStatus) else value)
    if any(value == status for status in RunStatus):
        problem = f"{shown} is not a status a run ends in, and only those can be awaited"
    else:
        problem = f"{shown} is not a run status"
    raise InvalidOptionError(
        f"wait_for_status({shown}): {problem}; wait for 'completed', 'failed' or 'cancelled'."
    )


@dataclass(frozen=True, slots=True)
class RunState:
    """A run's status and the facts that belong to it; absent facts are ``None``."""

    status: RunStatus
    #: why the run is in this status (for ``cancelled``, the reason given by whoever cancelled it)
    reason: str | None = None
    #: the handler's result (``completed``)
    output: Any = None
    #: ``{"type", "message", "traceback", "task"?}`` (``failed``, and ``awaiting_retry`` after a failure)
    error: dict[str, Any] | None = None
    scheduled_at_ms: int | None = None
    sleep_name: str | None = None
    wake_at_ms: int | None = None
    event_name: str | None = None
    timeout_at_ms: int | None = None
    next_attempt_at_ms: int | None = None
    #: ``task`` (one task waits for its next attempt) or ``workflow`` (the whole run is retried)
    retry_kind: str | None = None
    child_run_id: str | None = None
    child_status: str | None = None
    #: how many entries of the awaited queue the handler had consumed when it started waiting
    index: int | None = None
    #: the state a paused run returns to on ``resume``
    previous: RunState | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form: only the facts that are set (``output`` always, for ``completed``)."""
        data: dict[str, Any] = {"status": self.status.value}
        completed = self.status is RunStatus.COMPLETED
        for name in _STATE_FACTS:
            value = getattr(self, name)
            if value is not None or (completed and name == "output"):
                data[name] = value
        if self.previous is not None:
            data["previous"] = self.previous.to_dict()
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> RunState:
        values = dict(data)
        values["status"] = RunStatus(values["status"])
        if values.get("previous") is not None:
            values["previous"] = RunState.from_dict(values["previous"])
        return RunState(**values)

    @property
    def deadline_ms(self) -> int | None:
        """The time this state ends by itself, if any (the run's ``due_at_ms`` while in it)."""
        if self.status is RunStatus.SCHEDULED:
            return self.scheduled_at_ms
        if self.status is RunStatus.SLEEPING:
            return self.wake_at_ms
        if self.status is RunStatus.AWAITING_RETRY:
            return self.next_attempt_at_ms
        if self.status in (RunStatus.AWAITING_EVENT, RunStatus.AWAITING_CHILD_WORKFLOW):
            return self.timeout_at_ms
        return None


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    """A run as stored: what ``handle.run`` holds."""

    id: str
    name: str
    version_id: str
    input: Any
    input_hash: str
    state: RunState
    revision: int
    attempts: int
    options: dict[str, Any]
    created_at_ms: int
    updated_at_ms: int
    shard: str | None = None
    reference_id: str | None = None
    parent_run_id: str | None = None
    schedule_id: str | None = None
    namespace: str = "default"
    #: a run as a list shows it: ``input`` and ``state.output`` left out, ``state.error`` cut to its type and
    #: the start of its message (``handle.refresh()`` or ``client.get_run(id)`` read the whole run)
    values_omitted: bool = False
    #: when the run fails with ``DeadlineExceededError`` if it has not finished (epoch ms; ``None``: never)
    deadline_at_ms: int | None = None
    #: the W3C trace context (``traceparent``, ``tracestate``) of the call that started the run, which
    #: every execution of the run joins
    trace_context: dict[str, str] | None = None

    @property
    def status(self) -> RunStatus:
        return self.state.status

    def due_within_deadline(self, due_at_ms: int | None) -> int | None:
        """The run's timer (``due_at_ms``) while not finished: the earlier of ``due_at_ms`` (its state's
        own deadline, or the claim expiry) and the run's own deadline."""
        if self.deadline_at_ms is None:
            return due_at_ms
        return self.deadline_at_ms if due_at_ms is None else min(due_at_ms, self.deadline_at_ms)

    def to_dict(self) -> dict[str, Any]:
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        data["state"] = self.state.to_dict()
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> WorkflowRun:
        values = dict(data)
        values["state"] = RunState.from_dict(values["state"])
        return WorkflowRun(**values)


@dataclass(frozen=True, slots=True)
class TaskAttempt:
    """When one attempt of a task ran, by the clock of the worker that ran it."""

    #: 1 for the first attempt
    number: int
    started_at_ms: int
    ended_at_ms: int


@dataclass(frozen=True, slots=True)
class TaskEntry:
    """One recorded task result: an entry of the queue at ``address`` (name + input hash)."""

    name: str
    address: str
    occurrence: int
    status: str  # completed | failed | awaiting_retry
    attempts: int
    output: Any = None
    error: dict[str, Any] | None = None
    next_attempt_at_ms: int | None = None
    #: the attempts the workers reported, in order (an attempt cut short by a worker's crash is missing)
    attempt_times: list[TaskAttempt] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SleepEntry:
    """One recorded durable sleep of the queue ``name``."""

    name: str
    occurrence: int
    status: str  # sleeping | completed | cancelled
    duration_ms: int
    started_at_ms: int
    wake_at_ms: int
    ended_at_ms: int | None = None


@dataclass(frozen=True, slots=True)
class EventEntry:
    """One event delivered to a run (``received``) or one wait that timed out (``timeout``)."""

    name: str
    status: str  # received | timeout
    data: Any = None
    reference_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChildEntry:
    """A child run started by the parent at ``address``."""

    address: str
    occurrence: int
    child_run_id: str


@dataclass(frozen=True, slots=True)
class ChildWaitEntry:
    """The outcome of one ``child.wait_for_status``: the child's terminal state, or a timeout."""

    child_run_id: str
    awaited_status: str
    status: str  # completed | timeout
    child_state: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RunHistory:
    """Everything a replay needs, in record order."""

    tasks: list[TaskEntry] = field(default_factory=list)
    sleeps: list[SleepEntry] = field(default_factory=list)
    events: list[EventEntry] = field(default_factory=list)
    children: list[ChildEntry] = field(default_factory=list)
    child_waits: list[ChildWaitEntry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tasks": [_plain(entry) for entry in self.tasks],
            "sleeps": [_plain(entry) for entry in self.sleeps],
            "events": [_plain(entry) for entry in self.events],
            "children": [_plain(entry) for entry in self.children],
            "child_waits": [_plain(entry) for entry in self.child_waits],
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> RunHistory:
        return RunHistory(
            tasks=[_task_entry(entry) for entry in data.get("tasks", [])],
            sleeps=[SleepEntry(**entry) for entry in data.get("sleeps", [])],
            events=[EventEntry(**entry) for entry in data.get("events", [])],
            children=[ChildEntry(**entry) for entry in data.get("children", [])],
            child_waits=[ChildWaitEntry(**entry) for entry in data.get("child_waits", [])],
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of a run's timeline."""

    revision: int
    attempt: int
    from_status: str | None
    to_status: str
    reason: str | None
    state: dict[str, Any]
    created_at_ms: int


def _plain(value: Any) -> dict[str, Any]:
    return {
        item.name: [_plain(part) for part in member] if item.name == "attempt_times" else member
        for item in fields(value)
        for member in (getattr(value, item.name),)
    }


def _task_entry(data: dict[str, Any]) -> TaskEntry:
    values = dict(data)
    values["attempt_times"] = [TaskAttempt(**attempt) for attempt in values.get("attempt_times", [])]
    return TaskEntry(**values)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as stored: it binds its holder to one namespace. Only the secret's hash is kept."""

    id: str
    namespace: str
    #: what the key is for (``"billing workers"``)
    name: str
    created_at_ms: int
    revoked_at_ms: int | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at_ms is not None

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


#: the facts of a ``RunState`` that ``to_dict`` writes when set (in field order; ``previous`` is nested)
_STATE_FACTS = tuple(item.name for item in fields(RunState) if item.name not in ("status", "previous"))
