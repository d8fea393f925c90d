"""Durations as users write them, turned into whole milliseconds.

A duration is an ``int`` or ``float`` of milliseconds, a :class:`datetime.timedelta`, or a mapping of units:

>>> to_milliseconds({"minutes": 1, "seconds": 30}, "sleep 'cool-down'")
90000
>>> to_milliseconds(0.2, "sleep 'blink'")  # rounded up to whole milliseconds
1
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from fractions import Fraction
from typing import TypeAlias

from aiki.errors import InvalidOptionError

Duration: TypeAlias = int | float | timedelta | Mapping[str, int | float]
"""Milliseconds (int/float), a ``timedelta``, or a mapping of ``days``/``hours``/``minutes``/``seconds``/
``milliseconds``."""

MAX_SLEEP_MS = 10 * 365 * 24 * 3600 * 1000
"""The longest sleep a workflow may take: ten years of 365 days."""

_UNIT_MS: dict[str, int] = {
    "days": 24 * 3600 * 1000,
    "hours": 3600 * 1000,
    "minutes": 60 * 1000,
    "seconds": 1000,
    "milliseconds": 1,
}


def to_milliseconds(duration: Duration, what: str) -> int:
    """Whole milliseconds in ``duration``, rounded up (so any positive duration is at least 1 ms).

    Zero is accepted; callers that need a positive or bounded duration (a sleep needs
    ``0 < ms <= MAX_SLEEP_MS``) check the result themselves.

    Args:
        duration: an ``int``/``float`` of milliseconds, a ``timedelta``, or a mapping whose keys are among
            ``days``, ``hours``, ``minutes``, ``seconds`` and ``milliseconds`` (values may be fractional).
        what: names the duration in errors, e.g. ``"duration of sleep 'cool-down'"``.

    Raises:
        InvalidOptionError: an unknown unit, a bool, a negative, NaN or infinite amount, or another type.
    """
    if isinstance(duration, timedelta):
        if duration < timedelta(0):
            raise InvalidOptionError(f"{what} must not be negative, got {duration!r}.")
        # timedelta is exact in microseconds: ceil(us / 1000) without floats.
        return -(-(duration // timedelta(microseconds=1)) // 1000)
    if isinstance(duration, Mapping):
        total = Fraction(0)
        for unit, amount in duration.items():
            if unit not in _UNIT_MS:
                allowed = ", ".join(repr(name) for name in _UNIT_MS)
                raise InvalidOptionError(f"{what} has the unknown unit {unit!r}; the units are {allowed}.")
            total += _exact_amount(amount, f"{what} ({unit!r})") * _UNIT_MS[unit]
        return math.ceil(total)
    return math.ceil(_exact_amount(duration, what))


def to_bounded_milliseconds(duration: Duration, what: str, *, allow_zero: bool = False) -> int:
    """:func:`to_milliseconds`, held to ``0 < ms <= MAX_SLEEP_MS`` (zero too with ``allow_zero``): the bounds
    the server holds every duration to (a wait's timeout, a start delay).

    >>> to_bounded_milliseconds({"days": 1}, "timeout of event 'paid'")
    86400000
    """
    milliseconds = to_milliseconds(duration, what)
    if not (0 if allow_zero else 1) <= milliseconds <= MAX_SLEEP_MS:
        lowest = "zero or more" if allow_zero else "longer than zero"
        raise InvalidOptionError(
            f"{what} must be {lowest} and at most 10 years ({MAX_SLEEP_MS} ms), got {duration!r}."
        )
    return milliseconds


def _exact_amount(amount: object, what: str) -> Fraction:
    """``amount`` as the exact fraction the user wrote (``0.1`` is one tenth, not its binary neighbour)."""
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise InvalidOptionError(
            f"{what} must be a number of milliseconds, a timedelta or a mapping of units, got {amount!r}."
        )
    if not math.isfinite(amount):
        raise InvalidOptionError(f"{what} must be finite, got {amount!r}.")
    if amount < 0:
        raise InvalidOptionError(f"{what} must not be negative, got {amount!r}.")
    # repr gives the shortest decimal that round-trips, i.e. what the user typed; it keeps
    # {"seconds": 0.1} at exactly 100 ms where float arithmetic would round up to 101.
    return Fraction(repr(amount)) if isinstance(amount, float) else Fraction(amount)


def positive_milliseconds(duration: Duration, what: str) -> int:
    """``duration`` in whole milliseconds, refused unless longer than zero and at most ten years (a timeout,
    a deadline).

    >>> positive_milliseconds({"seconds": 30}, "timeout of task 'charge'")
    30000
    """
    if duration is None:
        raise InvalidOptionError(
            f'{what} must be a duration such as {{"seconds": 30}}, a timedelta or milliseconds, got None.'
        )
    milliseconds = to_milliseconds(duration, what)
    if not 0 < milliseconds <= MAX_SLEEP_MS:
        raise InvalidOptionError(f"{what} must be longer than zero and at most 10 years, got {duration!r}.")
    return milliseconds
