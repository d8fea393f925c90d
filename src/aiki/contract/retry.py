"""Retry policies for tasks and workflows: parsing the user's mapping, and the delay before each retry.

>>> options = {"type": "exponential", "max_attempts": 4, "base_delay_ms": 100}
>>> policy = parse_retry(options, "retry of task 'x'")
>>> [policy.next_delay_ms(attempts) for attempts in (1, 2, 3, 4)]
[100, 200, 400, None]
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, cast, get_args

from aiki.durations import MAX_SLEEP_MS
from aiki.errors import InvalidOptionError

RetryType = Literal["never", "fixed", "exponential", "jittered"]

MAX_RETRY_DELAY_MS = MAX_SLEEP_MS
"""Longest delay :meth:`RetryPolicy.next_delay_ms` returns (ten years): an uncapped exponential stops here,
and no delay of a policy may be longer."""

#: the most attempts a policy may allow (far beyond any useful number)
MAX_ATTEMPTS = 2**31 - 1

# Per type: (required keys, optional keys), "type" aside.
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "never": ((), ()),
    "fixed": (("max_attempts", "delay_ms"), ()),
    "exponential": (("max_attempts", "base_delay_ms"), ("factor", "max_delay_ms")),
    "jittered": (("max_attempts", "base_delay_ms"), ("factor", "max_delay_ms", "jitter_factor")),
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and after how long, a failed task or workflow is tried again."""

    type: RetryType
    """``never`` (the default), ``fixed``, ``exponential`` or ``jittered``."""
    max_attempts: int = 1
    """Attempts in total, the first one included: 3 means at most two retries."""
    delay_ms: int = 0
    """``fixed``: the delay before every retry (0 retries at once)."""
    base_delay_ms: int = 0
    """``exponential``/``jittered``: the delay before the first retry."""
    factor: float = 2
    """``exponential``/``jittered``: each retry waits ``factor`` times longer than the one before."""
    max_delay_ms: int | None = None
    """``exponential``/``jittered``: the longest delay; ``None`` for no cap."""
    jitter_factor: float = 0.5
    """``jittered``: the delay is cut by a random share of up to this fraction (0 = no jitter)."""

    def to_dict(self) -> dict[str, str | int | float]:
        """The keys that matter for this type, as :func:`parse_retry` accepts them."""
        result: dict[str, str | int | float] = {"type": self.type}
        if self.type == "never":
            return result
        result["max_attempts"] = self.max_attempts
        if self.type == "fixed":
            result["delay_ms"] = self.delay_ms
            return result
        result["base_delay_ms"] = self.base_delay_ms
        result["factor"] = self.factor
        if self.max_delay_ms is not None:
            result["max_delay_ms"] = self.max_delay_ms
        if self.type == "jittered":
            result["jitter_factor"] = self.jitter_factor
        return result

    def next_delay_ms(self, attempts_made: int, random: Callable[[], float] = random.random) -> int | None:
        """Milliseconds to wait before the next attempt, or ``None`` when no attempts are left.

        Args:
            attempts_made: attempts already made, the failed one included (1 after the first failure).
            random: a source of floats in ``[0, 1)``, used by ``jittered`` only.

        Delays are whole milliseconds, rounded up: ``exponential`` waits
        ``min(base_delay_ms * factor ** (attempts_made - 1), max_delay_ms)``; ``jittered`` multiplies that
        uncapped delay by ``1 - jitter_factor * random()`` before capping it.
        """
        if self.type == "never" or attempts_made >= self.max_attempts:
            return None
        if self.type == "fixed":
            return self.delay_ms
        try:
            delay = self.base_delay_ms * float(self.factor) ** max(attempts_made - 1, 0)
        except OverflowError:
            delay = math.inf
        delay = min(delay, MAX_RETRY_DELAY_MS)
        if self.type == "jittered":
            delay *= 1 - self.jitter_factor * random()
        if self.max_delay_ms is not None:
            delay = min(delay, self.max_delay_ms)
        # round() first drops float noise: 100 * 1.1 ** 2 is 121.00000000000003, which means 121.
        return max(1, math.ceil(round(delay, 6)))


def parse_retry(value: Mapping[str, object] | RetryPolicy | None, what: str) -> RetryPolicy:
    """Check a retry mapping such as ``{"type": "fixed", "max_attempts": 3, "delay_ms": 500}``.

    ``None`` means ``never``; a :class:`RetryPolicy` is checked the same way and returned normalised.

    Args:
        value: the user's mapping (the keys of each type are those of :class:`RetryPolicy`), a policy, or
            ``None``.
        what: names the option in errors, e.g. ``"retry of task 'charge'"``.

    Raises:
        InvalidOptionError: a missing, unknown or wrongly typed key; the message names ``what``, the key
            and the value expected.
    """
    if value is None:
        return RetryPolicy("never")
    if isinstance(value, RetryPolicy):
        value = value.to_dict()
    if not isinstance(value, Mapping):
        raise InvalidOptionError(f"{what} must be a mapping such as {{'type': 'never'}}, got {value!r}.")
    retry_type = value.get("type")
    if not isinstance(retry_type, str) or retry_type not in _KEYS:
        allowed = ", ".join(repr(name) for name in get_args(RetryType))
        raise InvalidOptionError(f"{what}: 'type' must be one of {allowed}, got {retry_type!r}.")
    required, optional = _KEYS[retry_type]
    for key in value:
        if key != "type" and key not in required and key not in optional:
            accepted = ", ".join(repr(name) for name in ("type", *required, *optional))
            raise InvalidOptionError(
                f"{what}: unknown key {key!r} for type {retry_type!r}; accepted keys are {accepted}."
            )
    for key in required:
        if key not in value:
            raise InvalidOptionError(f"{what}: type {retry_type!r} needs the key {key!r}.")
    defaults = RetryPolicy("never")
    max_delay_ms = value.get("max_delay_ms")
    return RetryPolicy(
        type=cast(RetryType, retry_type),  # checked against _KEYS, whose keys are the RetryType names
        max_attempts=_integer(value, "max_attempts", defaults.max_attempts, 1, what, MAX_ATTEMPTS),
        delay_ms=_integer(value, "delay_ms", defaults.delay_ms, 0, what),
        base_delay_ms=_integer(value, "base_delay_ms", defaults.base_delay_ms, 1, what),
        factor=_number(value, "factor", defaults.factor, "a number > 0", _positive, what),
        max_delay_ms=None if max_delay_ms is None else _integer(value, "max_delay_ms", 0, 1, what),
        jitter_factor=_number(
            value, "jitter_factor", defaults.jitter_factor, "a number from 0 to 1", _fraction, what
        ),
    )


def _integer(
    value: Mapping[str, object],
    key: str,
    default: int,
    minimum: int,
    what: str,
    maximum: int = MAX_RETRY_DELAY_MS,
) -> int:
    """An integer key from ``minimum`` to ``maximum`` (a delay: at most ten years)."""
    if key not in value:
        return default
    amount = value[key]
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < minimum:
        expected = "an integer > 0" if minimum == 1 else f"an integer >= {minimum}"
        raise InvalidOptionError(f"{what}: {key!r} must be {expected}, got {amount!r}.")
    if amount > maximum:
        highest = "ten years" if maximum == MAX_RETRY_DELAY_MS else "the most aiki counts"
        raise InvalidOptionError(f"{what}: {key!r} must be at most {highest} ({maximum}), got {amount!r}.")
    return amount


def _number(
    value: Mapping[str, object],
    key: str,
    default: float,
    expected: str,
    accepts: Callable[[float], bool],
    what: str,
) -> float:
    if key not in value:
        return default
    amount = value[key]
    if (
        isinstance(amount, bool)
        or not isinstance(amount, int | float)
        or not (math.isfinite(amount) and accepts(amount))
    ):
        raise InvalidOptionError(f"{what}: {key!r} must be {expected}, got {amount!r}.")
    return amount


def _fraction(amount: float) -> bool:
    return 0 <= amount <= 1


def _positive(amount: float) -> bool:
    return amount > 0


_KEY_SCHEMAS: dict[str, dict[str, object]] = {
    "max_attempts": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS},
    "delay_ms": {"type": "integer", "minimum": 0, "maximum": MAX_RETRY_DELAY_MS},
    "base_delay_ms": {"type": "integer", "minimum": 1, "maximum": MAX_RETRY_DELAY_MS},
    "max_delay_ms": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_RETRY_DELAY_MS},
    "factor": {"type": "number", "exclusiveMinimum": 0},
    "jitter_factor": {"type": "number", "minimum": 0, "maximum": 1},
}

#: the JSON schema of a retry mapping, one shape per type (what :func:`parse_retry` accepts)
RETRY_SCHEMA: dict[str, object] = {
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "type": {"const": name},
                **{key: _KEY_SCHEMAS[key] for key in (*required, *optional)},
            },
            "required": ["type", *required],
            "additionalProperties": False,
        }
        for name, (required, optional) in _KEYS.items()
    ]
}
