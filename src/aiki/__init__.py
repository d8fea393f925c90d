"""aiki: durable execution for plain async Python.

Workflows are ``async`` functions; their steps are tasks whose results are checkpointed in a database, so a
run survives crashes, sleeps for days, waits for events, retries, and scales out over many workers.
"""

from aiki.client.client import Client, client
from aiki.client.handle import WaitResult, WorkflowRunHandle
from aiki.client.schedule_handle import ScheduleHandle
from aiki.clock import Clock, FakeClock, SystemClock
from aiki.contract.listing import RunPage, WorkflowStats
from aiki.contract.schedules import ScheduleInfo, ScheduleStatus
from aiki.contract.steering import BulkResult
from aiki.contract.workers import WorkerInfo
from aiki.definitions.event import EventDefinition, event
from aiki.definitions.retry import RetryPolicy
from aiki.definitions.schedule import Schedule, schedule
from aiki.definitions.task import Task, TaskStarter, task
from aiki.definitions.workflow import Workflow, workflow
from aiki.definitions.workflow_version import VersionStarter, WorkflowVersion
from aiki.errors import (
    AikiError,
    ConfigurationError,
    DeadlineExceededError,
    ForbiddenError,
    InvalidOptionError,
    InvalidRequestError,
    InvalidTransitionError,
    NonDeterminismError,
    NotFoundError,
    RevisionConflictError,
    ScheduleConflictError,
    SchemaValidationError,
    SerializationError,
    ServerBusyError,
    ServerUnreachableError,
    TaskFailedError,
    TaskTimeoutError,
    UnauthorizedError,
    ValueLimitError,
    WorkflowRunConflictError,
)
from aiki.execution.child_handle import ChildRunHandle
from aiki.execution.context import EventResult, SleepResult, WorkflowRunContext
from aiki.execution.worker import Worker, WorkerHandle, worker
from aiki.server.server import Server, server
from aiki.store.factory import database
from aiki.types import RunState, RunStatus, WorkflowRun

__version__ = "0.1.0"

__all__ = [
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
