"""Limits both ends check the same way: the client before it sends, the server before it stores.

Every value aiki records (run and task inputs and outputs, event data, run options, error records) is one
JSON value, held to :data:`MAX_VALUE_BYTES` and :data:`MAX_VALUE_DEPTH`; a request body is held to
:data:`MAX_BODY_BYTES`, which fits the largest request (a task result: its input, output and error).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiki.durations import MAX_SLEEP_MS
from aiki.errors import InvalidOptionError, InvalidRequestError

#: the most items one page of a list may hold (and the most runs one claim may take)
MAX_PAGE_SIZE = 1000

#: the largest count a request may carry (attempts, occurrences, indexes): far beyond any useful number
MAX_COUNT = 2**31 - 1

#: the largest revision (and any other integer on the wire): what JavaScript holds exactly
MAX_REVISION = 2**53 - 1

#: the largest JSON value aiki records: its compact JSON text, in UTF-8 bytes (4 MiB)
MAX_VALUE_BYTES = 4 * 1024 * 1024

#: how deep lists and objects may nest inside one value (a top-level list or object is depth 1)
MAX_VALUE_DEPTH = 100

#: the largest request body the HTTP API reads (16 MiB): three values at their limit, and room to spare
MAX_BODY_BYTES = 16 * 1024 * 1024

#: a recorded error's message and traceback are cut to this many characters (so that no error record can
#: reach the value limit)
MAX_ERROR_TEXT_CHARS = 64 * 1024

#: the longest duration a worker may report or a start may ask for (a sleep, a retry delay, a timeout, a
#: start delay): ten years of 365 days, the longest sleep a workflow may take
MAX_DURATION_MS = MAX_SLEEP_MS


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
