"""The front door: ``aiki.__all__`` is sorted and pinned; whatever is not in it is internal."""

from __future__ import annotations

import aiki

PUBLIC_API = [
    "AikiError",
    "BulkResult",
    "ChildRunHandle",
    "Client",
    "Clock",
    "ConfigurationError",
    "DeadlineExceededError",
    "EventDefinition",
    "EventResult",
    "FakeClock",
    "ForbiddenError",
    "InvalidOptionError",
    "InvalidRequestError",
    "InvalidTransitionError",
    "NonDeterminismError",
    "NotFoundError",
    "RetryPolicy",
    "RevisionConflictError",
    "RunPage",
    "RunState",
    "RunStatus",
    "Schedule",
    "ScheduleConflictError",
    "ScheduleHandle",
    "ScheduleInfo",
    "ScheduleStatus",
    "SchemaValidationError",
    "SerializationError",
    "Server",
    "ServerBusyError",
    "ServerUnreachableError",
    "SleepResult",
    "SystemClock",
    "Task",
    "TaskFailedError",
    "TaskStarter",
    "TaskTimeoutError",
    "UnauthorizedError",
    "ValueLimitError",
    "VersionStarter",
    "WaitResult",
    "Worker",
    "WorkerHandle",
    "WorkerInfo",
    "Workflow",
    "WorkflowRun",
    "WorkflowRunConflictError",
    "WorkflowRunContext",
    "WorkflowRunHandle",
    "WorkflowStats",
    "WorkflowVersion",
    "client",
    "database",
    "event",
    "schedule",
    "server",
    "task",
    "worker",
    "workflow",
]

DOCUMENTED_ERRORS = [
    "NonDeterminismError",
    "SchemaValidationError",
    "TaskFailedError",
    "WorkflowRunConflictError",
    "ScheduleConflictError",
    "InvalidOptionError",
    "InvalidTransitionError",
    "RevisionConflictError",
    "NotFoundError",
    "UnauthorizedError",
    "TaskTimeoutError",
    "DeadlineExceededError",
]


def test_all_is_exactly_the_pinned_list() -> None:
    assert aiki.__all__ == PUBLIC_API


def test_all_is_sorted() -> None:
    assert aiki.__all__ == sorted(aiki.__all__)


def test_every_name_in_all_exists() -> None:
    assert [name for name in aiki.__all__ if not hasattr(aiki, name)] == []


def test_every_error_of_the_spec_is_public_and_an_aiki_error() -> None:
    for name in DOCUMENTED_ERRORS:
        assert name in aiki.__all__
        assert issubclass(getattr(aiki, name), aiki.AikiError)
