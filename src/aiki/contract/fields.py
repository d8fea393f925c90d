"""Bounds of contract fields, stated once: the server checks them and the OpenAPI description shows them.

Each entry of :data:`FIELD_SCHEMAS` gives a field of a request its JSON schema facts (an integer's range, a
text's least length, a whole schema): ``check_bounds`` holds a request to them, and the OpenAPI description
shows them. :data:`VARIANTS` names the field whose value decides which other fields a request needs.

>>> check_bounds(ClaimRequest(worker_id="w", workflows=[], shards=None, limit=0))
Traceback (most recent call last):
...
aiki.errors.InvalidRequestError: Invalid request (field 'limit'): must be from 1 to 1000, got 0.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from aiki.contract.limits import MAX_COUNT, MAX_DURATION_MS, MAX_PAGE_SIZE, MAX_REVISION
from aiki.contract.messages import (
    OUTCOME_FIELDS,
    TASK_WRITE_FIELDS,
    ClaimRequest,
    ParentLink,
    RunOutcome,
    StartRequest,
    TaskWrite,
)
from aiki.contract.run_options import RUN_OPTIONS_SCHEMA
from aiki.contract.schedules import ActivateScheduleRequest
from aiki.contract.wire import MAX_CLAIM_WAIT_MS
from aiki.errors import InvalidRequestError

#: the earliest and latest instants a time may name: those a Python ``datetime`` can hold (years 1 to 9999)
MIN_TIME_MS = -62_135_596_800_000
MAX_TIME_MS = 253_402_300_799_999

#: the JSON schema of a schedule's timing (the expression and timezone are checked when it is activated)
TIMING_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "type": {"const": "cron"},
                "expression": {"type": "string", "minLength": 1},
                "timezone": {"type": "string", "minLength": 1},
            },
            "required": ["type", "expression"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"type": {"const": "interval"}, "every_ms": {"type": "integer", "minimum": 1}},
            "required": ["type", "every_ms"],
            "additionalProperties": False,
        },
    ]
}


def bounds(
    minimum: int | None = None, maximum: int | None = None, *, min_length: int | None = None
) -> dict[str, Any]:
    """JSON schema facts: an integer from ``minimum`` to ``maximum``, a text of at least ``min_length``."""
    facts: dict[str, Any] = {}
    if minimum is not None:
        facts["minimum"] = minimum
    if maximum is not None:
        facts["maximum"] = maximum
    if min_length is not None:
        facts["minLength"] = min_length
    return facts


DURATION = bounds(1, MAX_DURATION_MS)
NOT_EMPTY = bounds(min_length=1)

#: per contract class, the schema facts of its bounded fields
FIELD_SCHEMAS: dict[type[Any], dict[str, dict[str, Any]]] = {
    ParentLink: {"occurrence": bounds(0, MAX_COUNT)},
    StartRequest: {
        "options": RUN_OPTIONS_SCHEMA,
        "delay_ms": bounds(0, MAX_DURATION_MS),
        "at_ms": bounds(MIN_TIME_MS, MAX_TIME_MS),
    },
    ClaimRequest: {"limit": bounds(1, MAX_PAGE_SIZE), "wait_ms": bounds(0, MAX_CLAIM_WAIT_MS)},
    TaskWrite: {
        "occurrence": bounds(0, MAX_COUNT),
        "attempts": bounds(1, MAX_COUNT),
        "retry_delay_ms": DURATION,
    },
    RunOutcome: {
        "expected_revision": bounds(0, MAX_REVISION),
        "duration_ms": DURATION,
        "timeout_ms": DURATION,
        "index": bounds(0, MAX_COUNT),
    },
    ActivateScheduleRequest: {
        "workflow_name": NOT_EMPTY,
        "version_id": NOT_EMPTY,
        "shard": NOT_EMPTY,
        "reference_id": NOT_EMPTY,
        "timing": TIMING_SCHEMA,
        "run_options": RUN_OPTIONS_SCHEMA,
    },
}

#: per contract class, the field whose value decides which other fields are needed, and those per value
VARIANTS: dict[type[Any], tuple[str, dict[str, tuple[str, ...]]]] = {
    RunOutcome: ("kind", OUTCOME_FIELDS),
    TaskWrite: ("status", TASK_WRITE_FIELDS),
}


def field_schema(cls: type[Any], name: str) -> dict[str, Any]:
    """The JSON schema facts of field ``name`` of ``cls`` (empty for a field without bounds)."""
    return FIELD_SCHEMAS.get(cls, {}).get(name, {})


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    """What ``check_bounds`` reads of one contract class (worked out once: every task write is checked)."""

    #: (field, least, greatest) of the integer fields with a range
    ranges: tuple[tuple[str, int | None, int | None], ...]
    #: (field, least length) of the text fields that must not be shorter
    lengths: tuple[tuple[str, int], ...]
    #: the fields that may hold a contract dataclass, checked in turn
    nested: tuple[str, ...]


_PLANS: dict[type[Any], _Plan] = {}


def _plan_of(cls: type[Any]) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # a hint that cannot be resolved: look at every field's value
        hints = {}
    ranges, lengths, nested = [], [], []
    for item in dataclasses.fields(cls):
        facts = field_schema(cls, item.name)
        if "minimum" in facts or "maximum" in facts:
            ranges.append((item.name, facts.get("minimum"), facts.get("maximum")))
        if "minLength" in facts:
            lengths.append((item.name, facts["minLength"]))
        hint = hints.get(item.name)
        if hint is None or any(dataclasses.is_dataclass(arg) for arg in (hint, *typing.get_args(hint))):
            nested.append(item.name)
    plan = _PLANS[cls] = _Plan(tuple(ranges), tuple(lengths), tuple(nested))
    return plan


def check_bounds(value: Any, path: str = "") -> Any:
    """``value`` (a contract dataclass) if each bounded field, in it and in the dataclasses it holds, is
    within its bounds; else the :class:`InvalidRequestError` naming the first field that is not."""
    plan = _plan_of(type(value))
    for field_name, low, high in plan.ranges:
        member = getattr(value, field_name)
        if type(member) is int and (
            (low is not None and member < low) or (high is not None and member > high)
        ):
            raise InvalidRequestError(
                f"must be from {low} to {high}, got {member}.", f"{path}.{field_name}" if path else field_name
            )
    for field_name, least in plan.lengths:
        member = getattr(value, field_name)
        if isinstance(member, str) and len(member) < least:
            raise InvalidRequestError("must not be empty.", f"{path}.{field_name}" if path else field_name)
    for field_name in plan.nested:
        member = getattr(value, field_name)
        if member is not None and hasattr(type(member), "__dataclass_fields__"):
            check_bounds(member, f"{path}.{field_name}" if path else field_name)
    return value
