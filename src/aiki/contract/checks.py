"""What the server checks in a request before it acts on it, whichever transport brought it.

The SDK never builds a request these checks refuse; they stand between the database and any other client
(a hand-written HTTP call, a buggy or hostile worker). Each refusal is an :class:`InvalidRequestError` naming
the field, or a :class:`ValueLimitError` naming the value and the limit.

>>> check_count(3, "attempts", 1, 10)
3
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiki.canonical_json import Naming, checked_dumps
from aiki.contract.fields import check_bounds
from aiki.contract.limits import MAX_PAGE_SIZE
from aiki.contract.messages import (
    OUTCOME_FIELDS,
    TASK_WRITE_FIELDS,
    ClaimRequest,
    RunOutcome,
    StartRequest,
    TaskWrite,
)
from aiki.contract.run_options import check_run_options
from aiki.errors import InvalidRequestError

#: the most queues (versions times shards) one claim may read
MAX_CLAIM_QUEUES = 1000


def check_count(value: int, field: str, minimum: int, maximum: int) -> int:
    """``value`` if it is from ``minimum`` to ``maximum``, else the error naming ``field``."""
    if not minimum <= value <= maximum:
        raise InvalidRequestError(f"must be from {minimum} to {maximum}, got {value}.", field)
    return value


def check_value(value: Any, what: Naming) -> str:
    """The storage text of a value (``checked_dumps``): ``ValueLimitError`` when it is over a limit."""
    return checked_dumps(value, what)


#: the storage texts of run options found valid: a version starts its runs with the same few options, and
#: checking a retry policy costs more than looking its text up (cleared when full)
_VALID_OPTIONS: set[str] = set()
_MAX_VALID_OPTIONS = 256


def check_options(options: Mapping[str, Any], field: str = "options") -> str:
    """Only the run options aiki knows, each in the shape a worker reads, within the value limits; returns
    their storage text."""
    text = check_value(options, field)
    if text in _VALID_OPTIONS:
        return text
    check_run_options(options, field)
    if len(_VALID_OPTIONS) >= _MAX_VALID_OPTIONS:
        _VALID_OPTIONS.clear()
    _VALID_OPTIONS.add(text)
    return text


@dataclass(frozen=True, slots=True)
class StartTexts:
    """The storage texts of a start's input and options, as its checks made them (stored as they are)."""

    input: str
    options: str


def check_start(request: StartRequest) -> StartTexts:
    """A start's input and options within limits, its options known, its delay and time in range; returns
    the storage texts of its input and options."""
    check_bounds(request)
    return StartTexts(check_value(request.input, "input of the run"), check_options(request.options))


def check_task_write(write: TaskWrite) -> TaskWrite:
    """A task result with sane counts, a retry delay when it waits for a retry, and values
    within limits (see ``task_write_texts``)."""
    check_bounds(write)
    for name in TASK_WRITE_FIELDS[write.status]:
        if getattr(write, name) is None:
            raise InvalidRequestError(f"an {write.status!r} result needs this field.", name)
    return write


def task_write_texts(write: TaskWrite) -> tuple[str, str | None, str | None]:
    """The storage texts of a task result's input, output (completed only) and error, each checked."""

    def what(part: str) -> Naming:
        return lambda: f"{part} of task {write.address} #{write.occurrence} of run {write.run_id}"

    input_text = check_value(write.input, what("input"))
    output_text = check_value(write.output, what("output")) if write.status == "completed" else None
    error_text = None if write.error is None else check_value(write.error, what("error"))
    return input_text, output_text, error_text


def check_outcome(outcome: RunOutcome) -> RunOutcome:
    """``outcome`` if it has the fields its kind needs, with durations and values within limits."""
    for name in OUTCOME_FIELDS[outcome.kind]:
        if getattr(outcome, name) is None:
            raise InvalidRequestError(f"a {outcome.kind!r} outcome needs this field.", name)
    check_bounds(outcome)
    what = f"run {outcome.run_id}"
    if outcome.kind == "complete":
        check_value(outcome.output, f"output of {what}")
    if outcome.error is not None:
        check_value(outcome.error, f"error of {what}")
    return outcome


def check_claim(request: ClaimRequest) -> ClaimRequest:
    """A claim of 1 to ``MAX_PAGE_SIZE`` runs from at most ``MAX_CLAIM_QUEUES`` queues, waiting at most
    ``MAX_CLAIM_WAIT_MS``."""
    check_bounds(request)
    queues = len(request.workflows) * max(1, len(request.shards or ()))
    check_count(queues, "workflows", 0, MAX_CLAIM_QUEUES)
    return request


def check_refresh(claims: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """At most ``MAX_PAGE_SIZE`` claims refreshed at once."""
    check_count(len(claims), "claims", 0, MAX_PAGE_SIZE)
    return claims
