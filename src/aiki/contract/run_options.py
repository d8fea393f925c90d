"""The options a run stores (``StartRequest.options``, a schedule's ``run_options``): which there are, the
shape of each, and the check the server holds them to.

A worker acts on a run's options when it executes the run, so an option it could not read must never be
stored. A new option is one more entry of :data:`RUN_OPTIONS`: its check and its JSON schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiki.contract.limits import stored_deadline_ms
from aiki.contract.retry import RETRY_SCHEMA, parse_retry
from aiki.durations import MAX_SLEEP_MS
from aiki.errors import InvalidOptionError, InvalidRequestError


@dataclass(frozen=True, slots=True)
class RunOption:
    """One option a run may store."""

    #: raises :class:`InvalidRequestError` (naming the field it is given) for a value a worker cannot read
    check: Callable[[object, str], None]
    #: the JSON schema of its value, for the OpenAPI description
    schema: dict[str, Any]


def _check_retry(value: object, field: str) -> None:
    if not isinstance(value, Mapping):
        raise InvalidRequestError(
            f"must be a retry policy such as {{'type': 'never'}}, got {value!r}.", field
        )
    try:
        parse_retry(value, field)
    except InvalidOptionError as error:
        raise InvalidRequestError(error.message, field) from None


def _check_deadline(value: object, field: str) -> None:
    if value is None:
        raise InvalidRequestError(
            "must be a positive whole number of milliseconds; leave it out for none.", field
        )
    stored_deadline_ms({"deadline_ms": value}, field)


#: every option a run may store: its retry policy, and its deadline as a duration from its start
RUN_OPTIONS: dict[str, RunOption] = {
    "retry": RunOption(_check_retry, RETRY_SCHEMA),
    "deadline_ms": RunOption(_check_deadline, {"type": "integer", "minimum": 1, "maximum": MAX_SLEEP_MS}),
}

#: the JSON schema of a run's options
RUN_OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {name: option.schema for name, option in RUN_OPTIONS.items()},
    "additionalProperties": False,
}


def check_run_options(options: Mapping[str, Any], field: str) -> None:
    """Only the options aiki knows, each in the shape a worker reads; else the error naming the field."""
    unknown = sorted(set(options) - set(RUN_OPTIONS))
    if unknown:
        raise InvalidRequestError(
            f"unknown run option(s) {', '.join(map(repr, unknown))}; the options are "
            f"{', '.join(map(repr, RUN_OPTIONS))}.",
            field,
        )
    for name, value in options.items():
        RUN_OPTIONS[name].check(value, f"{field}.{name}")
