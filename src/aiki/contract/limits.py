"""Limits both ends check the same way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiki.durations import MAX_SLEEP_MS
from aiki.errors import InvalidOptionError, InvalidRequestError

#: the most items one page of a list may hold
MAX_PAGE_SIZE = 1000


def check_limit(limit: object, what: str = "limit") -> int:
    """``limit`` if it is a page size between 1 and ``MAX_PAGE_SIZE``, else ``InvalidOptionError``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidOptionError(f"{what} must be an integer from 1 to {MAX_PAGE_SIZE}, got {limit!r}.")
    return limit


def stored_deadline_ms(options: Mapping[str, Any], field: str) -> int | None:
    """A run's stored ``options["deadline_ms"]`` (its deadline, as a duration from its start), or
    ``InvalidRequestError`` naming ``field`` unless it is a whole number of ms from 1 to ten years."""
    value = options.get("deadline_ms")
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SLEEP_MS
    ):
        raise InvalidRequestError(
            f"must be a positive whole number of milliseconds, at most 10 years; got {value!r}.", field
        )
    return value
