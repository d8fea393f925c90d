"""Schedules on the wire: the activation request and the schedule record, plain values, JSON both ways.

Each operation is a typed method of the client's transport (``activate_schedule``, ``get_schedule``, ...)
and a route under ``/api/v1/schedules``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any, Literal

from aiki.contract.recurrence import OverlapPolicy, parse_timing
from aiki.errors import ConfigurationError, InvalidRequestError


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
    conflict_policy: Literal["error", "return_existing"] = "error"

    def checked(self) -> ActivateScheduleRequest:
        """This request with its timing in canonical form; an unusable field is an ``InvalidRequestError``
        that names it (the same error on both transports)."""
        for name in ("workflow_name", "version_id", "shard", "reference_id"):
            value = getattr(self, name)
            if value is not None and not value:
                raise InvalidRequestError("must not be empty.", name)
        try:
            timing = parse_timing(self.timing).to_dict()
        except ConfigurationError as error:
            raise InvalidRequestError(error.message, "timing") from None
        return replace(self, timing=timing)


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
