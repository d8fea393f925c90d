"""Server options (``server(opts=...)``): their defaults, and the check that turns a mapping into settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiki.durations import MAX_SLEEP_MS, to_milliseconds
from aiki.errors import ConfigurationError, InvalidOptionError
from aiki.server.engine.redis_wakeups import check_redis_url

DAY_MS = 24 * 3600 * 1000

AuthMode = Literal["open", "keys"]
AUTH_MODES = ("open", "keys")


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Server options (``server(opts=...)``)."""

    #: a claim not refreshed for this long is taken back and its run requeued (fences the old worker)
    claim_timeout_ms: int = 90_000
    #: create or migrate the schema when the server first opens the database
    migrate: bool = True
    #: how often the timer loop and idle waiters look at the database for other processes' writes
    poll_interval_ms: int = 1_000
    #: how many due timers one transaction handles
    timer_batch_size: int = 200
    #: optional Redis (``redis://host:port/db``) that carries wake-ups between servers; only an accelerator
    redis_url: str | None = None
    #: prefix of the Redis channels: servers of one deployment share it, other deployments use their own
    redis_prefix: str = "aiki:"
    #: how long a finished run (with its tasks, events, sleeps and timeline) is kept; ``None`` keeps it
    retention_ms: int | None = 30 * DAY_MS
    #: per-namespace retention that overrides ``retention_ms`` (``None`` keeps that namespace's runs)
    retention_by_namespace: Mapping[str, int | None] = field(default_factory=dict)
    #: a run queued this long without any worker claiming it becomes ``stalled``
    stall_after_ms: int = DAY_MS
    #: ``"keys"``: every HTTP request needs an API key; ``"open"``: none needs one; ``None``: open until the
    #: first key is created, keys from then on (for ever: revoking every key does not open the server)
    auth: AuthMode | None = None

    def retention_for(self, namespace: str) -> int | None:
        """How long finished runs of ``namespace`` are kept (``None``: for ever)."""
        if namespace in self.retention_by_namespace:
            return self.retention_by_namespace[namespace]
        return self.retention_ms


OPTIONS = (
    "claim_timeout_ms",
    "migrate",
    "poll_interval_ms",
    "timer_batch_size",
    "redis_url",
    "redis_prefix",
    "retention",
    "retention_by_namespace",
    "stall_after_ms",
    "auth",
)


def parse_server_options(opts: Mapping[str, Any] | None) -> ServerSettings:
    """``opts`` as settings; unknown keys and wrong types are a ``ConfigurationError``."""
    values = dict(opts or {})
    unknown = set(values) - set(OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"Unknown server option(s) {sorted(unknown)}; the options are {sorted(OPTIONS)}."
        )
    settings: dict[str, Any] = {}
    for key, value in values.items():
        if key == "redis_url":
            settings[key] = None if value is None else check_redis_url(value)
        elif key == "redis_prefix":
            if not isinstance(value, str) or not value:
                raise ConfigurationError(
                    f"Server option 'redis_prefix' must be a non-empty string, got {value!r}."
                )
            settings[key] = value
        elif key == "auth":
            if value is not None and value not in AUTH_MODES:
                raise ConfigurationError(
                    f"Server option 'auth' must be 'open' or 'keys' (or None: open until the first key is "
                    f"created), got {value!r}."
                )
            settings[key] = value
        elif key == "retention":
            settings["retention_ms"] = _retention(value, "Server option 'retention'")
        elif key == "retention_by_namespace":
            if not isinstance(value, Mapping) or not all(isinstance(name, str) for name in value):
                raise ConfigurationError(
                    "Server option 'retention_by_namespace' must map namespace names to durations (or None), "
                    f"got {value!r}."
                )
            settings[key] = {
                name: _retention(item, f"Retention of namespace {name!r}") for name, item in value.items()
            }
        else:
            expected = bool if key == "migrate" else int
            if not isinstance(value, expected) or (
                expected is int and (isinstance(value, bool) or value <= 0)
            ):
                kind = "true or false" if expected is bool else "a positive integer"
                raise ConfigurationError(f"Server option {key!r} must be {kind}, got {value!r}.")
            settings[key] = value
    return ServerSettings(**settings)


def _retention(value: Any, what: str) -> int | None:
    if value is None:
        return None
    try:
        milliseconds = to_milliseconds(value, what)
    except InvalidOptionError as error:
        raise ConfigurationError(error.message) from None
    if not 0 < milliseconds <= MAX_SLEEP_MS:
        raise ConfigurationError(f"{what} must be longer than zero and at most 10 years, got {value!r}.")
    return milliseconds
