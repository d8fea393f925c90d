"""Requests and responses between clients/workers and the server: plain values, JSON both ways.

An HTTP-only worker imports this module, never the server or a database driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from aiki.types import RunHistory, TaskAttempt, WorkflowRun

ConflictPolicy = Literal["error", "return_existing"]
OutcomeKind = Literal["sleep", "event_wait", "child_wait", "retry", "complete", "fail"]
TerminalStatusName = Literal["completed", "failed", "cancelled"]

#: the fields each kind of outcome needs besides the run, claim and revision
OUTCOME_FIELDS: dict[str, tuple[str, ...]] = {
    "sleep": ("name", "duration_ms", "index"),
    "event_wait": ("name",),
    "child_wait": ("child_run_id", "child_status"),
    "retry": ("duration_ms", "retry_kind"),
    "complete": (),
    "fail": (),
}

#: the fields each status of a task result needs besides the others
TASK_WRITE_FIELDS: dict[str, tuple[str, ...]] = {
    "completed": (),
    "failed": (),
    "awaiting_retry": ("retry_delay_ms",),
}


@dataclass(frozen=True, slots=True)
class ParentLink:
    """Set when a workflow handler starts a child: which parent, at which address, under which claim."""

    run_id: str
    claim_token: str
    address: str
    occurrence: int


@dataclass(frozen=True, slots=True)
class StartRequest:
    """Create a run (or return the one a reference id already names)."""

    name: str
    version_id: str
    input: Any
    input_hash: str
    #: ``{"retry": policy}``: only options a worker knows how to read
    options: dict[str, Any]
    shard: str | None = None
    reference_id: str | None = None
    conflict_policy: ConflictPolicy = "error"
    delay_ms: int | None = None
    at_ms: int | None = None
    parent: ParentLink | None = None
    schedule_id: str | None = None
    #: the W3C trace context (``traceparent``, ``tracestate``) of the starting call, stored with the run
    trace_context: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """A worker asks for up to ``limit`` queued runs of the versions it registered, on its shards."""

    worker_id: str
    workflows: list[tuple[str, str]]
    shards: list[str] | None
    limit: int
    wait_ms: int = 0


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    """A run handed to a worker, with the history it replays from and the token fencing its writes."""

    run: WorkflowRun
    history: RunHistory
    claim_token: str


@dataclass(frozen=True, slots=True)
class TaskWrite:
    """A task's result (``completed``/``failed``) or its recorded retry (``awaiting_retry``)."""

    run_id: str
    claim_token: str
    name: str
    address: str
    occurrence: int
    status: Literal["completed", "failed", "awaiting_retry"]
    attempts: int
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    retry_delay_ms: int | None = None
    #: the attempts this write reports (those run since the entry was last written), by the worker's clock
    attempt_times: list[TaskAttempt] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How one execution of a handler ends: suspended on a wait, retried, completed or failed.

    Durations are relative; the server turns them into absolute deadlines with its own clock.
    """

    run_id: str
    claim_token: str
    expected_revision: int
    kind: OutcomeKind
    name: str | None = None
    duration_ms: int | None = None
    timeout_ms: int | None = None
    index: int | None = None
    child_run_id: str | None = None
    child_status: TerminalStatusName | None = None
    output: Any = None
    error: dict[str, Any] | None = None
    retry_kind: Literal["task", "workflow"] | None = None


def to_dict(value: Any) -> dict[str, Any]:
    """A contract value as a JSON object (nested contract values included)."""
    data: dict[str, Any] = {}
    for item in fields(value):
        member = getattr(value, item.name)
        if hasattr(member, "__dataclass_fields__"):
            member = member.to_dict() if hasattr(member, "to_dict") else to_dict(member)
        data[item.name] = member
    return data
