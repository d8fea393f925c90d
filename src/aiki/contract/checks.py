"""What the server checks in a request before it acts on it, whichever transport brought it.

The SDK never builds a request these checks refuse; they stand between the database and any other client
(a hand-written HTTP call, a buggy or hostile worker). Each refusal is an :class:`InvalidRequestError` naming
the field, or a :class:`ValueLimitError` naming the value and the limit.

>>> check_duration(90_000, "duration_ms")
90000
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiki.canonical_json import checked_dumps
from aiki.contract.limits import MAX_DURATION_MS, MAX_PAGE_SIZE
from aiki.contract.messages import ClaimRequest, RunOutcome, StartRequest, TaskWrite
from aiki.contract.retry import MAX_ATTEMPTS, parse_retry
from aiki.contract.wire import MAX_CLAIM_WAIT_MS
from aiki.errors import InvalidOptionError, InvalidRequestError

#: the fields each kind of outcome needs besides the run, claim and revision
OUTCOME_FIELDS: dict[str, tuple[str, ...]] = {
    "sleep": ("name", "duration_ms", "index"),
    "event_wait": ("name",),
    "child_wait": ("child_run_id", "child_status"),
    "retry": ("duration_ms", "retry_kind"),
    "complete": (),
    "fail": (),
}

#: the statuses a child wait can wait for
TERMINAL_STATUS_NAMES = ("completed", "failed", "cancelled")

#: the most queues (versions times shards) one claim may read
MAX_CLAIM_QUEUES = 1000


def _check_retry_option(value: object, field: str) -> None:
    try:
        parse_retry(value if isinstance(value, Mapping) else None, field)
    except InvalidOptionError as error:
        raise InvalidRequestError(error.message, field) from None
    if not isinstance(value, Mapping):
        raise InvalidRequestError(
            f"must be a retry policy such as {{'type': 'never'}}, got {value!r}.", field
        )


#: the options a run stores, each with the check of its value: a worker acts on them, so a shape it could
#: not read must never be stored
RUN_OPTIONS: dict[str, Callable[[object, str], None]] = {"retry": _check_retry_option}


def check_duration(value: int | None, field: str, *, minimum: int = 1) -> int | None:
    """``value`` if it is ``None`` or a duration from ``minimum`` ms to ten years, else the error naming
    ``field``."""
    if value is not None and not minimum <= value <= MAX_DURATION_MS:
        lowest = "longer than zero" if minimum == 1 else f"at least {minimum} ms"
        raise InvalidRequestError(
            f"must be {lowest} and at most ten years ({MAX_DURATION_MS} ms), got {value}.", field
        )
    return value


def check_count(value: int, field: str, minimum: int, maximum: int) -> int:
    """``value`` if it is from ``minimum`` to ``maximum``, else the error naming ``field``."""
    if not minimum <= value <= maximum:
        raise InvalidRequestError(f"must be from {minimum} to {maximum}, got {value}.", field)
    return value


def check_value(value: Any, what: str) -> str:
    """The storage text of a value (``checked_dumps``): ``ValueLimitError`` when it is over a limit."""
    return checked_dumps(value, what)


def check_options(options: Mapping[str, Any], field: str = "options") -> None:
    """Only the run options aiki knows, each in the shape a worker reads."""
    unknown = sorted(set(options) - set(RUN_OPTIONS))
    if unknown:
        raise InvalidRequestError(
            f"unknown run option(s) {', '.join(map(repr, unknown))}; the options are "
            f"{', '.join(map(repr, RUN_OPTIONS))}.",
            field,
        )
    for name, value in options.items():
        RUN_OPTIONS[name](value, f"{field}.{name}")
    check_value(options, field)


def check_start(request: StartRequest, now_ms: int) -> StartRequest:
    """A start's input and options within limits, its options known, its start time at most ten years
    ahead."""
    check_value(request.input, "input of the run")
    check_options(request.options)
    check_duration(request.delay_ms, "delay_ms", minimum=0)
    if request.at_ms is not None and request.at_ms > now_ms + MAX_DURATION_MS:
        raise InvalidRequestError(
            f"must be at most ten years from now ({now_ms + MAX_DURATION_MS}), got {request.at_ms}.", "at_ms"
        )
    if request.parent is not None:
        check_count(request.parent.occurrence, "parent.occurrence", 0, MAX_ATTEMPTS)
    return request


def check_task_write(write: TaskWrite) -> TaskWrite:
    """A task result with sane counts, a retry delay when (and only when) it waits for a retry, and values
    within limits."""
    check_count(write.occurrence, "occurrence", 0, MAX_ATTEMPTS)
    check_count(write.attempts, "attempts", 1, MAX_ATTEMPTS)
    if write.status == "awaiting_retry":
        if write.retry_delay_ms is None:
            raise InvalidRequestError("an 'awaiting_retry' result needs this field.", "retry_delay_ms")
        check_duration(write.retry_delay_ms, "retry_delay_ms")
    elif write.retry_delay_ms is not None:
        raise InvalidRequestError(
            f"only an 'awaiting_retry' result has it, not a {write.status!r} one.", "retry_delay_ms"
        )
    return write


def task_write_texts(write: TaskWrite) -> tuple[str, str | None, str | None]:
    """The storage texts of a task result's input, output (completed only) and error, each checked."""
    what = f"task {write.address} #{write.occurrence} of run {write.run_id}"
    input_text = check_value(write.input, f"input of {what}")
    output_text = check_value(write.output, f"output of {what}") if write.status == "completed" else None
    error_text = None if write.error is None else check_value(write.error, f"error of {what}")
    return input_text, output_text, error_text


def check_outcome(outcome: RunOutcome) -> RunOutcome:
    """``outcome`` if it has the fields its kind needs, with durations and values within limits."""
    for name in OUTCOME_FIELDS[outcome.kind]:
        if getattr(outcome, name) is None:
            raise InvalidRequestError(f"a {outcome.kind!r} outcome needs this field.", name)
    if outcome.kind == "child_wait" and outcome.child_status not in TERMINAL_STATUS_NAMES:
        raise InvalidRequestError(
            f"must be a terminal status (completed, failed, cancelled), got {outcome.child_status!r}.",
            "child_status",
        )
    if outcome.kind == "retry" and outcome.retry_kind not in ("task", "workflow"):
        raise InvalidRequestError(f"must be 'task' or 'workflow', got {outcome.retry_kind!r}.", "retry_kind")
    check_count(outcome.expected_revision, "expected_revision", 0, 2**53 - 1)
    check_duration(outcome.duration_ms, "duration_ms")
    check_duration(outcome.timeout_ms, "timeout_ms")
    if outcome.index is not None:
        check_count(outcome.index, "index", 0, MAX_ATTEMPTS)
    what = f"run {outcome.run_id}"
    if outcome.kind == "complete":
        check_value(outcome.output, f"output of {what}")
    if outcome.error is not None:
        check_value(outcome.error, f"error of {what}")
    return outcome


def check_claim(request: ClaimRequest) -> ClaimRequest:
    """A claim of 1 to ``MAX_PAGE_SIZE`` runs from at most ``MAX_CLAIM_QUEUES`` queues, waiting at most
    ``MAX_CLAIM_WAIT_MS``."""
    check_count(request.limit, "limit", 1, MAX_PAGE_SIZE)
    check_count(request.wait_ms, "wait_ms", 0, MAX_CLAIM_WAIT_MS)
    queues = len(request.workflows) * max(1, len(request.shards or ()))
    check_count(queues, "workflows", 0, MAX_CLAIM_QUEUES)
    return request


def check_refresh(claims: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """At most ``MAX_PAGE_SIZE`` claims refreshed at once."""
    check_count(len(claims), "claims", 0, MAX_PAGE_SIZE)
    return claims
