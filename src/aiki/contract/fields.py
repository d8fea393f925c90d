"""Bounds of contract fields, stated once: the server checks them and the OpenAPI description shows them.

>>> from dataclasses import dataclass, field
>>> @dataclass(frozen=True)
... class Page:
...     limit: int = field(default=50, metadata=bounds(1, 1000))
>>> check_bounds(Page(limit=0))
Traceback (most recent call last):
...
aiki.errors.InvalidRequestError: Invalid request (field 'limit'): must be from 1 to 1000, got 0.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiki.errors import InvalidRequestError

#: the metadata key under which a field keeps its JSON schema facts
SCHEMA_KEY = "json_schema"

#: the earliest and latest instants a time may name: those a Python ``datetime`` can hold (years 1 to 9999)
MIN_TIME_MS = -62_135_596_800_000
MAX_TIME_MS = 253_402_300_799_999


def bounds(
    minimum: int | None = None,
    maximum: int | None = None,
    *,
    min_length: int | None = None,
    schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The metadata of a dataclass field with bounds (``field(metadata=bounds(1, 1000))``): an integer from
    ``minimum`` to ``maximum``, a text of at least ``min_length`` characters, or a whole JSON ``schema`` for
    the OpenAPI description (checked elsewhere)."""
    facts: dict[str, Any] = dict(schema or {})
    if minimum is not None:
        facts["minimum"] = minimum
    if maximum is not None:
        facts["maximum"] = maximum
    if min_length is not None:
        facts["minLength"] = min_length
    return {SCHEMA_KEY: facts}


def field_schema(item: dataclasses.Field[Any]) -> dict[str, Any]:
    """The JSON schema facts a field was declared with (empty for a plain field)."""
    facts: dict[str, Any] = item.metadata.get(SCHEMA_KEY, {})
    return facts


def check_bounds(value: Any, path: str = "") -> Any:
    """``value`` (a contract dataclass) if each bounded field, in it and in the dataclasses it holds, is
    within its bounds; else the :class:`InvalidRequestError` naming the first field that is not."""
    for item in dataclasses.fields(value):
        member = getattr(value, item.name)
        name = f"{path}.{item.name}" if path else item.name
        if dataclasses.is_dataclass(member) and not isinstance(member, type):
            check_bounds(member, name)
            continue
        facts = field_schema(item)
        if member is None or not facts:
            continue
        if isinstance(member, int) and not isinstance(member, bool):
            low, high = facts.get("minimum"), facts.get("maximum")
            if (low is not None and member < low) or (high is not None and member > high):
                raise InvalidRequestError(f"must be from {low} to {high}, got {member}.", name)
        if isinstance(member, str) and len(member) < facts.get("minLength", 0):
            raise InvalidRequestError("must not be empty.", name)
    return value
