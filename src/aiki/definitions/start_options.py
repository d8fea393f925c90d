"""Options of one start: ``version.with_().opt(path, value)``. Builders return copies, never mutate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from aiki.contract.messages import ConflictPolicy
from aiki.definitions.retry import RetryPolicy, parse_retry
from aiki.durations import positive_milliseconds, to_bounded_milliseconds
from aiki.errors import InvalidOptionError

OPTION_PATHS = ("shard", "reference.id", "reference", "trigger", "retry", "deadline")


@dataclass(frozen=True, slots=True)
class StartOptions:
    """What ``opt`` has set; ``None`` means "the version's default"."""

    shard: str | None = None
    reference_id: str | None = None
    conflict_policy: ConflictPolicy = "error"
    delay_ms: int | None = None
    at_ms: int | None = None
    retry: RetryPolicy | None = None
    #: the run fails with ``DeadlineExceededError`` this long after its start unless it has finished
    deadline_ms: int | None = None


def _non_empty_string(path: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidOptionError(f"Option {path!r} must be a non-empty string, got {value!r}.")
    return value


def apply_option(options: StartOptions, path: str, value: Any) -> StartOptions:
    """``options`` with ``path`` set to ``value``; unknown paths and wrong types raise at once."""
    if path == "shard":
        return replace(options, shard=_non_empty_string(path, value))
    if path == "reference.id":
        return replace(options, reference_id=_non_empty_string(path, value))
    if path == "reference":
        if not isinstance(value, Mapping):
            raise InvalidOptionError(
                f"Option 'reference' must be {{'id': str, 'conflict_policy': ...}}, got {value!r}."
            )
        unknown = set(value) - {"id", "conflict_policy"}
        if unknown:
            raise InvalidOptionError(
                f"Option 'reference' has unknown key(s) {sorted(unknown)}; use 'id', 'conflict_policy'."
            )
        policy = value.get("conflict_policy", "error")
        if policy not in ("error", "return_existing"):
            raise InvalidOptionError(
                f"reference conflict_policy must be 'error' or 'return_existing', got {policy!r}."
            )
        return replace(
            options, reference_id=_non_empty_string("reference.id", value.get("id")), conflict_policy=policy
        )
    if path == "trigger":
        return _apply_trigger(options, value)
    if path == "retry":
        return replace(options, retry=parse_retry(value, "option 'retry'"))
    if path == "deadline":
        return replace(options, deadline_ms=positive_milliseconds(value, "option 'deadline'"))
    raise InvalidOptionError(f"Unknown option path {path!r}; the paths are: {', '.join(OPTION_PATHS)}.")


def _apply_trigger(options: StartOptions, value: Any) -> StartOptions:
    if not isinstance(value, Mapping) or len(value) != 1 or not set(value) <= {"delay", "at"}:
        raise InvalidOptionError(
            f"Option 'trigger' must be {{'delay': duration}} or {{'at': datetime}}, got {value!r}."
        )
    if "delay" in value:
        delay_ms = to_bounded_milliseconds(value["delay"], "trigger delay", allow_zero=True)
        return replace(options, delay_ms=delay_ms, at_ms=None)
    at = value["at"]
    if not isinstance(at, datetime):
        raise InvalidOptionError(f"trigger 'at' must be a datetime, got {at!r}.")
    if at.tzinfo is None:
        raise InvalidOptionError("trigger 'at' must be timezone-aware (e.g. datetime.now(UTC) + ...).")
    return replace(options, at_ms=int(at.timestamp() * 1000), delay_ms=None)
