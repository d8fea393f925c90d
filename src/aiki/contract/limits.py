"""Limits both ends check the same way."""

from __future__ import annotations

from aiki.errors import InvalidOptionError

#: the most items one page of a list may hold
MAX_PAGE_SIZE = 1000


def check_limit(limit: object, what: str = "limit") -> int:
    """``limit`` if it is a page size between 1 and ``MAX_PAGE_SIZE``, else ``InvalidOptionError``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidOptionError(f"{what} must be an integer from 1 to {MAX_PAGE_SIZE}, got {limit!r}.")
    return limit
