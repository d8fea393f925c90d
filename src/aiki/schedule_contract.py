"""The schedules feature's requests and records: plain values, JSON both ways.

Clients reach schedules through ``transport.call_extension("schedules", operation, payload)``; payloads and
results are JSON objects, so the same calls work embedded and over HTTP
(``POST /api/v1/ext/schedules/{operation}``). Operations:

=============  ==========================================  ===========================
operation      payload                                     result
=============  ==========================================  ===========================
``activate``   ``ActivateScheduleRequest.to_dict()``       a ``ScheduleInfo`` dict
``get``        ``{"id"}``                                  a ``ScheduleInfo`` dict
``pause``      ``{"id"}``                                  a ``ScheduleInfo`` dict
``resume``     ``{"id"}``                                  a ``ScheduleInfo`` dict
``deactivate`` ``{"id"}``                                  a ``ScheduleInfo`` dict
``list``       ``{"status"?, "workflow"?, "limit"?,        ``{"schedules": [...]}``
               "before_id"?}``
``list_runs``  ``{"id", "limit"?}``                        ``{"runs": [WorkflowRun dicts]}``
=============  ==========================================  ===========================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from aiki.errors import ConfigurationError, InvalidOptionError
from aiki.recurrence import OverlapPolicy, parse_overlap_policy, parse_timing

EXTENSION_NAME = "schedules"


class ScheduleStatus(StrEnum):
    """Whether a schedule fires."""

    #: fires at each occurrence
    ACTIVE = "active"
    #: fires nothing until ``resume``, which catches up on what it missed (per its overlap policy)
    PAUSED = "paused"
    #: deactivated; activating the same definition again starts it afresh from that moment
    INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class ActivateScheduleRequest:
    """Create a schedule, or return (and reactivate) the one with the same identity."""

    workflow_name: str
    version_id: str
    #: ``CronTiming.to_dict()`` or ``IntervalTiming.to_dict()``
    timing: dict[str, Any]
    overlap_policy: OverlapPolicy
    #: the input of every run (JSON, already validated against the version's input schema)
    input: Any
    #: stored with every run (``{"retry": ...}``), as a start stores them
    run_options: dict[str, Any]
    shard: str | None = None
    reference_id: str | None = None
    conflict_policy: str = "error"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> ActivateScheduleRequest:
        """Check a request that arrived as JSON; a bad field is a clear error naming it."""
        if not isinstance(data, Mapping):
            raise InvalidOptionError(f"A schedule activation must be a JSON object, got {data!r}.")
        known = {
            "workflow_name",
            "version_id",
            "timing",
            "overlap_policy",
            "input",
            "run_options",
            "shard",
            "reference_id",
            "conflict_policy",
        }
        unknown = set(data) - known
        if unknown:
            raise InvalidOptionError(f"Unknown field(s) {sorted(unknown)} in a schedule activation.")
        for name in ("workflow_name", "version_id"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise InvalidOptionError(f"Schedule activation field {name!r} must be a non-empty string.")
        for name in ("shard", "reference_id"):
            value = data.get(name)
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidOptionError(
                    f"Schedule activation field {name!r} must be a non-empty string or null."
                )
        run_options = data.get("run_options", {})
        if not isinstance(run_options, Mapping):
            raise InvalidOptionError(
                f"Schedule activation field 'run_options' must be an object, got {run_options!r}."
            )
        conflict_policy = data.get("conflict_policy", "error")
        if conflict_policy not in ("error", "return_existing"):
            raise InvalidOptionError(
                "Schedule reference conflict_policy must be 'error' or 'return_existing', "
                f"got {conflict_policy!r}."
            )
        timing = parse_timing(data.get("timing", {}))
        return ActivateScheduleRequest(
            workflow_name=data["workflow_name"],
            version_id=data["version_id"],
            timing=timing.to_dict(),
            overlap_policy=parse_overlap_policy(data.get("overlap_policy", "allow")),
            input=data.get("input"),
            run_options=dict(run_options),
            shard=data.get("shard"),
            reference_id=data.get("reference_id"),
            conflict_policy=conflict_policy,
        )


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """A schedule as stored: what ``handle.info`` holds and ``list_schedules`` returns."""

    id: str
    workflow_name: str
    version_id: str
    status: ScheduleStatus
    #: ``{"type": "cron", "expression", "timezone"}`` or ``{"type": "interval", "every_ms"}``
    timing: dict[str, Any]
    overlap_policy: OverlapPolicy
    input: Any
    #: the hash of ``input`` that every run carries
    input_hash: str
    run_options: dict[str, Any]
    #: hash of workflow name, version, timing, overlap policy, input and run options: the identity
    definition_hash: str
    #: the next occurrence it will fire (in the past while paused: ``resume`` catches up from it)
    next_run_at_ms: int
    created_at_ms: int
    updated_at_ms: int
    shard: str | None = None
    reference_id: str | None = None
    #: the last occurrence that minted a run
    last_occurrence_ms: int | None = None
    namespace: str = "default"

    @property
    def timing_text(self) -> str:
        """The timing for people: ``cron '0 9 * * *' (UTC)`` or ``every 1h``."""
        return parse_timing(self.timing).describe()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> ScheduleInfo:
        values = dict(data)
        try:
            values["status"] = ScheduleStatus(values["status"])
            return ScheduleInfo(**values)
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigurationError(
                f"The server sent a schedule this client cannot read ({error})."
            ) from None
