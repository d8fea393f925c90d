"""Errors cross the HTTP API as JSON and come back as the same class with the same fields and message."""

from __future__ import annotations

import pytest

from aiki.errors import (
    ERROR_TYPES,
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
    error_from_dict,
)

EXAMPLES: list[AikiError] = [
    AikiError("something"),
    NonDeterminismError("r1", "charge:h", ["send:h #0"]),
    SchemaValidationError("input of order", "must be an int", "amount"),
    TaskFailedError("charge", "r1", 3, {"type": "ValueError", "message": "card declined"}),
    WorkflowRunConflictError("order", "1.0.0", "ref", "r0"),
    ScheduleConflictError("daily", "s1"),
    InvalidOptionError("bad option"),
    InvalidTransitionError("r1", "completed", "paused", "It has finished."),
    RevisionConflictError("r1", 4, "the claim was taken back"),
    NotFoundError("workflow run", "r9", "Check the id."),
    UnauthorizedError("no key"),
    ForbiddenError("revoked"),
    InvalidRequestError("must be an integer.", "limit"),
    SerializationError("input", "a set"),
    ServerUnreachableError("http://127.0.0.1:9", "connection refused"),
    ValueLimitError("input of the run", "size", 4_194_304, 5_000_000),
    ServerBusyError("every database connection stayed busy for 5 s", 2),
    ConfigurationError("bad setting"),
    TaskTimeoutError("charge", "r1", 30_000, 2),
    DeadlineExceededError("r1", 1_700_000_000_000, "sleeping"),
]


def test_every_error_class_has_an_example() -> None:
    assert {type(error) for error in EXAMPLES} == set(ERROR_TYPES.values())


@pytest.mark.parametrize("error", EXAMPLES, ids=lambda error: type(error).__name__)
def test_an_error_rebuilt_from_its_json_is_the_same_class_with_the_same_fields(error: AikiError) -> None:
    rebuilt = error_from_dict(error.to_dict())

    assert type(rebuilt) is type(error)
    assert rebuilt.to_dict() == error.to_dict()
    assert str(rebuilt) == str(error)


def test_an_error_of_an_unknown_type_becomes_an_aiki_error_with_its_code_and_message() -> None:
    rebuilt = error_from_dict({"type": "FutureError", "code": "FUTURE", "message": "from a newer server"})

    assert type(rebuilt) is AikiError
    assert (rebuilt.code, rebuilt.message) == ("FUTURE", "from a newer server")
