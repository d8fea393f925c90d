"""Every error aiki raises, in one tree.

```
AikiError
├── NonDeterminismError        replay met a task/child that the recorded history does not have
├── SchemaValidationError      an input, output or event payload was rejected by its validator
├── TaskFailedError            a task ran out of retries (names the task, carries its error)
├── TaskTimeoutError           one attempt of a task ran longer than its timeout
├── DeadlineExceededError      a run passed its deadline (recorded in ``state.error`` of the failed run)
├── WorkflowRunConflictError   a reference id is taken by a run with another input
├── ScheduleConflictError      a schedule reference id is taken by another definition
├── InvalidOptionError         an unknown option path, or a wrongly typed option value
├── InvalidTransitionError     the operation is not allowed in the run's current status
├── RevisionConflictError      a worker wrote with a stale revision or lost claim (fencing)
├── NotFoundError              no run, schedule or key with that id
├── UnauthorizedError          missing or unknown API key
│   └── ForbiddenError         a revoked key, or a key used for another namespace
├── InvalidRequestError        an HTTP request that is not JSON, lacks a field or has a wrongly typed one
├── ServerUnreachableError     the HTTP client cannot reach the server (refused, timed out, dropped)
├── SerializationError         a value cannot be stored as JSON
│   └── ValueLimitError        a value is larger or nested deeper than aiki records
├── ServerBusyError            the server cannot take the request now (every database connection busy)
└── ConfigurationError         a definition, worker, server or database setting is wrong
```

Handler-unwinding signals (suspension) are not here: they derive from ``BaseException`` and live in
``aiki.execution.signals`` so that ``except Exception`` in user code cannot swallow them.
"""

from __future__ import annotations

from typing import Any


class AikiError(Exception):
    """Base of every error aiki raises. ``code`` is a stable machine-readable name."""

    code: str = "AIKI_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        """Fields that travel over the HTTP API (the message plus the error's own data)."""
        data = {key: value for key, value in vars(self).items() if key != "message"}
        return {"type": type(self).__name__, "code": self.code, "message": self.message, "data": data}


class NonDeterminismError(AikiError):
    """Replay reached a task or child workflow that is not in the recorded history."""

    code = "NON_DETERMINISM"

    def __init__(
        self,
        run_id: str,
        address: str,
        unconsumed: list[str],
    ) -> None:
        self.run_id = run_id
        self.address = address
        self.unconsumed = unconsumed
        super().__init__(
            f"Replay divergence in workflow run {run_id}: the code now starts {address!r}, which the "
            f"recorded history does not have, while recorded entries remain unconsumed: "
            f"{', '.join(unconsumed)}. The handler changed in a way that is not replay-safe; deploy the "
            f"change as a new workflow version, or keep the old code for runs in flight."
        )


class SchemaValidationError(AikiError):
    """A validator rejected an input, output or event payload."""

    code = "SCHEMA_VALIDATION"

    def __init__(self, what: str, detail: str, field: str | None = None) -> None:
        self.what = what
        self.detail = detail
        self.field = field
        where = f" (field {field!r})" if field else ""
        super().__init__(f"Invalid {what}{where}: {detail}")


class TaskFailedError(AikiError):
    """A task ran out of retries. ``error`` holds the task's own error (type, message, traceback)."""

    code = "TASK_FAILED"

    def __init__(self, task_name: str, run_id: str, attempts: int, error: dict[str, Any]) -> None:
        self.task_name = task_name
        self.run_id = run_id
        self.attempts = attempts
        self.error = error
        super().__init__(str(error.get("message", "")))

    def __str__(self) -> str:
        return (
            f"Task {self.task_name!r} of workflow run {self.run_id} failed after {self.attempts} "
            f"attempt(s): {self.error.get('type', 'Error')}: {self.error.get('message', '')}"
        )


class TaskTimeoutError(AikiError):
    """One attempt of a task ran longer than its timeout: it was cancelled (an ``async def`` task) or
    abandoned in its thread (a plain ``def`` task). It counts as a failed attempt; the retry policy applies."""

    code = "TASK_TIMEOUT"

    def __init__(self, task_name: str, run_id: str, timeout_ms: int, attempt: int) -> None:
        self.task_name = task_name
        self.run_id = run_id
        self.timeout_ms = timeout_ms
        self.attempt = attempt
        super().__init__(
            f"Attempt {attempt} of task {task_name!r} in workflow run {run_id} ran longer than its timeout of "
            f"{timeout_ms} ms and was stopped. Give the task more time (task(..., timeout=...) or "
            f'.with_().opt("timeout", ...)), or make it faster.'
        )


class DeadlineExceededError(AikiError):
    """A run passed its deadline before it finished: it failed, whatever it was doing, and its children
    were cancelled. The failed run records this error's type and message in ``state.error``."""

    code = "DEADLINE_EXCEEDED"

    def __init__(self, run_id: str, deadline_at_ms: int, status: str) -> None:
        self.run_id = run_id
        self.deadline_at_ms = deadline_at_ms
        self.status = status
        super().__init__(
            f"Workflow run {run_id} passed its deadline (epoch ms {deadline_at_ms}) while {status}; it was "
            f"failed and its unfinished children were cancelled. Start it with a longer deadline "
            f'(version.with_().opt("deadline", ...) or opts={{"deadline": ...}}) if it needs more time.'
        )


class WorkflowRunConflictError(AikiError):
    """A run with this reference id exists with a different input."""

    code = "WORKFLOW_RUN_REFERENCE_CONFLICT"

    def __init__(self, workflow: str, version: str, reference_id: str, existing_run_id: str) -> None:
        self.workflow = workflow
        self.version = version
        self.reference_id = reference_id
        self.existing_run_id = existing_run_id
        super().__init__(
            f"Reference id {reference_id!r} of workflow {workflow!r} version {version!r} is already used "
            f"by run {existing_run_id} with a different input. Use another reference id, or pass "
            f'conflict_policy="return_existing" to get the existing run.'
        )


class ScheduleConflictError(AikiError):
    """A schedule reference id is already bound to another schedule definition."""

    code = "SCHEDULE_CONFLICT"

    def __init__(self, reference_id: str, existing_schedule_id: str) -> None:
        self.reference_id = reference_id
        self.existing_schedule_id = existing_schedule_id
        super().__init__(
            f"Schedule reference id {reference_id!r} is already used by schedule {existing_schedule_id} "
            f"with a different definition. Use another reference id, or pass "
            f'conflict_policy="return_existing".'
        )


class InvalidOptionError(AikiError):
    """An unknown option path or a wrongly typed option value."""

    code = "INVALID_OPTION"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class InvalidTransitionError(AikiError):
    """The run's current status does not allow this operation."""

    code = "INVALID_TRANSITION"

    def __init__(self, run_id: str, status: str, target: str, hint: str = "") -> None:
        self.run_id = run_id
        self.status = status
        self.target = target
        super().__init__(
            f"Workflow run {run_id} cannot go from {status!r} to {target!r}." + (f" {hint}" if hint else "")
        )


class RevisionConflictError(AikiError):
    """A write carried a stale revision or claim: another writer moved the run first."""

    code = "REVISION_CONFLICT"

    def __init__(self, run_id: str, expected_revision: int | None, detail: str = "") -> None:
        self.run_id = run_id
        self.expected_revision = expected_revision
        super().__init__(
            f"Workflow run {run_id} was changed by someone else"
            + (f" (expected revision {expected_revision})" if expected_revision is not None else "")
            + (f": {detail}" if detail else "")
            + ". This writer is stale and must stop; the run continues elsewhere."
        )


class NotFoundError(AikiError):
    """No such run, schedule, event name or key."""

    code = "NOT_FOUND"

    def __init__(self, kind: str, identifier: str, hint: str = "") -> None:
        self.kind = kind
        self.identifier = identifier
        super().__init__(f"No {kind} {identifier!r}." + (f" {hint}" if hint else ""))


class UnauthorizedError(AikiError):
    """Missing or unknown API key (a revoked key or another namespace's: :class:`ForbiddenError`)."""

    code = "UNAUTHORIZED"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ForbiddenError(UnauthorizedError):
    """The API key is known but may not do this: it was revoked, or it belongs to another namespace."""

    code = "FORBIDDEN"


class InvalidRequestError(AikiError):
    """A request to the HTTP API is malformed: not JSON, a missing or unknown field, a wrongly typed value."""

    code = "INVALID_REQUEST"

    def __init__(self, detail: str, field: str | None = None) -> None:
        self.detail = detail
        self.field = field
        where = f" (field {field!r})" if field else ""
        super().__init__(f"Invalid request{where}: {detail}")


class ServerUnreachableError(AikiError):
    """The HTTP client could not reach the server, or lost the connection before its answer."""

    code = "SERVER_UNREACHABLE"

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(f"cannot reach {url}: {detail}")


class SerializationError(AikiError):
    """A value cannot be stored as JSON."""

    code = "SERIALIZATION"

    def __init__(self, what: str, detail: str) -> None:
        self.what = what
        self.detail = detail
        super().__init__(
            f"{what} is not JSON-serialisable: {detail}. Pass dicts, lists, strings, numbers, booleans, "
            f"None or pydantic models."
        )


class ValueLimitError(SerializationError):
    """A value is larger, or nested deeper, than aiki records (``aiki.contract.limits``).

    ``limit`` is ``"size"`` (``maximum`` and ``actual`` in bytes of compact JSON) or ``"depth"`` (``maximum``
    levels of lists and objects inside each other; ``actual`` is ``None``: the check stops past the limit).
    """

    code = "VALUE_LIMIT"

    def __init__(self, what: str, limit: str, maximum: int, actual: int | None = None) -> None:
        self.what = what
        self.limit = limit
        self.maximum = maximum
        self.actual = actual
        if limit == "size":
            self.detail = f"it is {actual:,} bytes as JSON, over the limit of {maximum:,} bytes for one value"
            advice = "Keep large data outside aiki (a file or object store) and pass a reference to it."
        else:
            self.detail = (
                f"it nests lists and objects more than {maximum} levels deep (or contains itself), "
                "the limit for one value"
            )
            advice = "Flatten it, or keep it outside aiki and pass a reference to it."
        AikiError.__init__(self, f"{what} is too large to record: {self.detail}. {advice}")


class ServerBusyError(AikiError):
    """The server cannot take the request now: every database connection stayed busy, or the database did
    not answer. Nothing was done; try again after ``retry_after_s`` seconds (workers do so by themselves)."""

    code = "SERVER_BUSY"

    def __init__(self, detail: str, retry_after_s: int = 1) -> None:
        self.detail = detail
        self.retry_after_s = retry_after_s
        super().__init__(f"The aiki server is busy: {detail}. Try again in {retry_after_s} s.")


class ConfigurationError(AikiError):
    """A definition, worker, server or database setting is wrong."""

    code = "CONFIGURATION"

    def __init__(self, message: str) -> None:
        super().__init__(message)


ERROR_TYPES: dict[str, type[AikiError]] = {
    cls.__name__: cls
    for cls in (
        AikiError,
        NonDeterminismError,
        SchemaValidationError,
        TaskFailedError,
        TaskTimeoutError,
        DeadlineExceededError,
        WorkflowRunConflictError,
        ScheduleConflictError,
        InvalidOptionError,
        InvalidTransitionError,
        RevisionConflictError,
        NotFoundError,
        UnauthorizedError,
        ForbiddenError,
        InvalidRequestError,
        ServerUnreachableError,
        SerializationError,
        ValueLimitError,
        ServerBusyError,
        ConfigurationError,
    )
}


def error_from_dict(data: dict[str, Any]) -> AikiError:
    """Rebuild the error that :meth:`AikiError.to_dict` described: same class, message and fields.

    An unknown ``type`` (a newer server) becomes a plain :class:`AikiError` with the same message and code.
    """
    cls = ERROR_TYPES.get(str(data.get("type")), AikiError)
    message = str(data.get("message", ""))
    # The constructors build their messages from their fields; the message is already built, so bypass them.
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.message = message
    fields = data.get("data")
    if isinstance(fields, dict):
        for key, value in fields.items():
            if isinstance(key, str) and key != "message":
                setattr(error, key, value)
    if cls is AikiError and isinstance(data.get("code"), str) and data["code"] != AikiError.code:
        error.code = data["code"]
    return error
