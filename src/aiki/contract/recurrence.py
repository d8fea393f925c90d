"""When a schedule's occurrences fall: cron expressions in a named timezone, and fixed intervals.

Both the definition (``schedule(...)``, which rejects a bad timing at once) and the server (which fires
occurrences) use this module, so a timing means the same thing on both sides of the wire.

Cron expressions are evaluated by croniter in an IANA timezone (``zoneinfo``); without a timezone they are
UTC. Across daylight-saving changes they behave like the classic cron daemon:

* a wall-clock time that a spring-forward jump skips fires once, at the jump (``30 2 * * *`` in
  Europe/Berlin on the last Sunday of March fires at 03:00 CEST);
* a wall-clock time that a fall-back change repeats fires once, the first time, when the expression names
  its hours (``30 2 * * *``); an expression whose hour field is ``*`` fires in each real hour, both times.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

from aiki.errors import ConfigurationError

OverlapPolicy = Literal["allow", "skip", "cancel_previous"]
OVERLAP_POLICIES: tuple[OverlapPolicy, ...] = ("allow", "skip", "cancel_previous")
DEFAULT_OVERLAP_POLICY: OverlapPolicy = "allow"

#: Nicknames croniter understands that name a recurring time (``@reboot`` is not a time).
CRON_NICKNAMES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")

_CRON_FORMS = (
    "5 fields 'minute hour day-of-month month day-of-week' (e.g. '0 9 * * mon-fri'), 6 fields with a "
    f"leading seconds field (e.g. '*/10 * * * * *'), or one of {', '.join(CRON_NICKNAMES)}"
)


def parse_overlap_policy(value: object) -> OverlapPolicy:
    """``value`` as an overlap policy, or a ``ConfigurationError`` listing the policies."""
    for policy in OVERLAP_POLICIES:
        if value == policy:
            return policy
    raise ConfigurationError(
        f"Unknown schedule overlap_policy {value!r}; use one of: {', '.join(OVERLAP_POLICIES)}."
    )


def _datetime_at(at_ms: int, zone: ZoneInfo) -> datetime:
    """Epoch milliseconds as an aware datetime in ``zone`` (exact: no float rounding)."""
    # Arithmetic on a local datetime drops ``fold``; in UTC there is none, and astimezone sets it right.
    seconds, milliseconds = divmod(at_ms, 1000)
    return (datetime.fromtimestamp(seconds, UTC) + timedelta(milliseconds=milliseconds)).astimezone(zone)


def _epoch_ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class CronTiming:
    """A cron expression evaluated in an IANA timezone."""

    #: the expression with its fields separated by single spaces
    expression: str
    #: an IANA timezone name such as ``"Europe/Berlin"``; ``"UTC"`` when none was given
    timezone: str = "UTC"

    @staticmethod
    def parse(expression: object, timezone: object = None) -> CronTiming:
        """Check ``expression`` and ``timezone``; a bad one is a ``ConfigurationError`` saying what to use."""
        if not isinstance(expression, str) or not expression.strip():
            raise ConfigurationError(
                f"A cron schedule needs an expression: {_CRON_FORMS}; got {expression!r}."
            )
        normalized = " ".join(expression.split())
        if timezone is None:
            timezone = "UTC"
        if not isinstance(timezone, str) or not timezone:
            raise ConfigurationError(
                f"A cron schedule's timezone must be an IANA name such as 'Europe/Berlin', got {timezone!r}."
            )
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(
                f"Unknown timezone {timezone!r} for cron schedule {normalized!r}; use an IANA name such as "
                "'UTC', 'Europe/Berlin' or 'America/New_York'."
            ) from None
        if normalized.startswith("@"):
            if normalized.lower() not in CRON_NICKNAMES:
                raise ConfigurationError(f"Invalid cron expression {expression!r}: use {_CRON_FORMS}.")
        elif len(normalized.split(" ")) not in (5, 6):
            raise ConfigurationError(f"Invalid cron expression {expression!r}: use {_CRON_FORMS}.")
        timing = CronTiming(normalized, timezone)
        try:
            timing._iterator(0)
            # An expression that parses but never matches (the 30th of February) fails here.
            timing.next_after(0)
        except (CroniterError, ValueError, KeyError) as error:
            raise ConfigurationError(
                f"Invalid cron expression {expression!r} ({error}): use {_CRON_FORMS}."
            ) from None
        return timing

    def to_dict(self) -> dict[str, Any]:
        return {"type": "cron", "expression": self.expression, "timezone": self.timezone}

    def describe(self) -> str:
        """A short text for people: ``cron '0 9 * * *' (Europe/Berlin)``."""
        return f"cron {self.expression!r} ({self.timezone})"

    def next_after(self, after_ms: int, grid_ms: int | None = None) -> int:
        """The first occurrence strictly after ``after_ms`` (``grid_ms`` is for intervals; unused here)."""
        iterator = self._iterator(after_ms)
        while True:
            candidate: datetime = iterator.get_next(datetime)
            if not self._is_repeat(candidate):
                return _epoch_ms(candidate)

    def latest_at_or_before(self, at_ms: int, grid_ms: int | None = None) -> int:
        """The last occurrence at or before ``at_ms``."""
        following = self.next_after(at_ms - 1)
        if following == at_ms:
            return at_ms
        iterator = self._iterator(at_ms)
        while True:
            candidate: datetime = iterator.get_prev(datetime)
            if not self._is_repeat(candidate):
                return _epoch_ms(candidate)

    def _iterator(self, start_ms: int) -> croniter:
        seconds_first = len(self.expression.split(" ")) == 6
        return croniter(
            self.expression,
            _datetime_at(start_ms, ZoneInfo(self.timezone)),
            second_at_beginning=seconds_first,
        )

    def _is_repeat(self, candidate: datetime) -> bool:
        """The second pass of a wall-clock time that a fall-back repeats, for expressions with fixed hours."""
        if candidate.fold != 1 or candidate.replace(fold=0).utcoffset() == candidate.utcoffset():
            return False
        hours = self._iterator(0).expanded[1]
        return not (hours == ["*"] or len(hours) == 24)


@dataclass(frozen=True, slots=True)
class IntervalTiming:
    """Every ``every_ms`` milliseconds, counted from the moment the schedule was activated."""

    every_ms: int

    @staticmethod
    def parse(every_ms: object) -> IntervalTiming:
        if isinstance(every_ms, bool) or not isinstance(every_ms, int) or every_ms <= 0:
            raise ConfigurationError(
                f"An interval schedule needs a positive 'every' (e.g. {{'hours': 1}}), got {every_ms!r} ms."
            )
        return IntervalTiming(every_ms)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "interval", "every_ms": self.every_ms}

    def describe(self) -> str:
        """A short text for people: ``every 1h 30m``."""
        parts = []
        remaining = self.every_ms
        for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)):
            amount, remaining = divmod(remaining, size)
            if amount:
                parts.append(f"{amount}{unit}")
        return "every " + " ".join(parts)

    def next_after(self, after_ms: int, grid_ms: int | None = None) -> int:
        """The first occurrence strictly after ``after_ms`` on the grid through ``grid_ms`` (or itself)."""
        grid = after_ms if grid_ms is None else grid_ms
        return grid + ((after_ms - grid) // self.every_ms + 1) * self.every_ms

    def latest_at_or_before(self, at_ms: int, grid_ms: int | None = None) -> int:
        """The last occurrence at or before ``at_ms`` on the grid through ``grid_ms`` (default: ``at_ms``)."""
        grid = at_ms if grid_ms is None else grid_ms
        return grid + ((at_ms - grid) // self.every_ms) * self.every_ms


Timing: TypeAlias = CronTiming | IntervalTiming


def parse_timing(data: Mapping[str, Any]) -> Timing:
    """The timing a ``to_dict()`` form describes (as stored, or as sent to the server)."""
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"A schedule timing must be an object with a 'type', got {data!r}.")
    kind = data.get("type")
    if kind == "cron":
        unknown = set(data) - {"type", "expression", "timezone"}
        if unknown:
            raise ConfigurationError(f"Unknown field(s) {sorted(unknown)} in cron timing {dict(data)!r}.")
        return CronTiming.parse(data.get("expression"), data.get("timezone"))
    if kind == "interval":
        unknown = set(data) - {"type", "every_ms"}
        if unknown:
            raise ConfigurationError(f"Unknown field(s) {sorted(unknown)} in interval timing {dict(data)!r}.")
        return IntervalTiming.parse(data.get("every_ms"))
    raise ConfigurationError(f"Unknown schedule type {kind!r}; use 'cron' or 'interval'.")
