"""``schedule(...)``: when a workflow version runs by itself, as a value; ``activate`` binds it to a version
and an input on a server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

from aiki.contract.recurrence import (
    DEFAULT_OVERLAP_POLICY,
    CronTiming,
    IntervalTiming,
    OverlapPolicy,
    Timing,
    parse_overlap_policy,
)
from aiki.contract.schedules import ActivateScheduleRequest
from aiki.definitions.starting_client import ScheduleActivator, check_client
from aiki.definitions.workflow_version import VersionStarter, WorkflowVersion
from aiki.durations import Duration, to_milliseconds
from aiki.errors import ConfigurationError, InvalidOptionError

SCHEDULE_OPTION_PATHS = ("reference.id", "reference")

#: the schedule handle type of the client a schedule is activated with
ScheduleHandleT = TypeVar("ScheduleHandleT")


@dataclass(frozen=True, slots=True)
class Schedule:
    """A timing and an overlap policy, plus an optional reference id. Build it with :func:`schedule`."""

    #: when it fires: a cron expression in a timezone, or a fixed interval
    timing: Timing
    #: what an occurrence does while an earlier run of the schedule is still going
    overlap_policy: OverlapPolicy = DEFAULT_OVERLAP_POLICY
    #: a stable name for the schedule (``opt("reference.id", ...)``); by default the identity is the
    #: definition itself
    reference_id: str | None = None
    #: with a reference id taken by another definition: ``"error"`` or ``"return_existing"``
    conflict_policy: Literal["error", "return_existing"] = "error"

    def with_(self) -> Schedule:
        """An option builder: ``sched.with_().opt("reference.id", "daily-sales").activate(...)``."""
        return replace(self)

    def opt(self, path: str, value: Any) -> Schedule:
        """A copy with ``reference.id`` (a string) or ``reference`` (``{"id", "conflict_policy"}``) set."""
        if path == "reference.id":
            return replace(self, reference_id=_reference_id(value))
        if path == "reference":
            if not isinstance(value, Mapping):
                raise InvalidOptionError(
                    "Schedule option 'reference' must be {'id': str, 'conflict_policy': ...}, "
                    f"got {value!r}."
                )
            unknown = set(value) - {"id", "conflict_policy"}
            if unknown:
                raise InvalidOptionError(
                    f"Schedule option 'reference' has unknown key(s) {sorted(unknown)}; "
                    "use 'id' and 'conflict_policy'."
                )
            policy = value.get("conflict_policy", "error")
            if policy not in ("error", "return_existing"):
                raise InvalidOptionError(
                    "Schedule reference conflict_policy must be 'error' or 'return_existing', "
                    f"got {policy!r}."
                )
            return replace(self, reference_id=_reference_id(value.get("id")), conflict_policy=policy)
        raise InvalidOptionError(
            f"Unknown schedule option path {path!r}; the paths are: {', '.join(SCHEDULE_OPTION_PATHS)}."
        )

    async def activate(
        self,
        client: ScheduleActivator[ScheduleHandleT],
        workflow: WorkflowVersion[Any, Any] | VersionStarter[Any, Any],
        input: Any = None,
    ) -> ScheduleHandleT:
        """Run ``workflow`` with ``input`` at every occurrence; returns the schedule's handle.

        Idempotent: the same definition (workflow version, timing, overlap policy, input and run options)
        returns the same schedule, reactivated if it was paused or deactivated. A different input or timing
        is another, independent schedule. With a reference id, the reference names the schedule, and a
        different definition under it raises ``ScheduleConflictError`` (unless ``return_existing``).

        ``workflow`` may carry ``retry`` and ``shard`` options (``version.with_().opt(...)``); they travel
        with every run. ``reference`` and ``trigger`` options cannot be scheduled: the schedule names its
        runs and decides when they start.
        """
        check_client(client, "schedule.activate()")
        return await client.activate_schedule(self.activation_request(workflow, input))

    def activation_request(
        self, workflow: WorkflowVersion[Any, Any] | VersionStarter[Any, Any], input: Any = None
    ) -> ActivateScheduleRequest:
        """What ``activate`` sends: the input validated against the version's schema, the run options."""
        if isinstance(workflow, WorkflowVersion):
            workflow = workflow.with_()
        if not isinstance(workflow, VersionStarter):
            raise ConfigurationError(
                f"schedule.activate() needs a workflow version (workflow(...).v(...)), got {workflow!r}."
            )
        version, options = workflow.version, workflow.options
        if options.reference_id is not None:
            raise InvalidOptionError(
                f"Cannot schedule {version.label} with a 'reference' option: each scheduled run gets its own "
                "reference id. Give the schedule a reference instead: sched.with_().opt('reference.id', ...)."
            )
        if options.delay_ms is not None or options.at_ms is not None:
            raise InvalidOptionError(
                f"Cannot schedule {version.label} with a 'trigger' option: the schedule decides when "
                "its runs start. Remove the trigger."
            )
        jsonable, _ = version.prepare_input(input)
        return ActivateScheduleRequest(
            workflow_name=version.name,
            version_id=version.version_id,
            timing=self.timing.to_dict(),
            overlap_policy=self.overlap_policy,
            input=jsonable,
            run_options=version.run_options(options),
            shard=options.shard or version.shard,
            reference_id=self.reference_id,
            conflict_policy=self.conflict_policy,
        )


def _reference_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidOptionError(f"Schedule option 'reference.id' must be a non-empty string, got {value!r}.")
    return value


def schedule(
    *,
    type: Literal["cron", "interval"],
    expression: str | None = None,
    timezone: str | None = None,
    every: Duration | None = None,
    overlap_policy: OverlapPolicy = DEFAULT_OVERLAP_POLICY,
) -> Schedule:
    """A recurring timing for a workflow version; ``await sched.activate(client, version, input)`` starts it.

    Args:
        type: ``"cron"`` or ``"interval"``.
        expression: (cron) 5 fields ``minute hour day-of-month month day-of-week``, 6 with a leading
            seconds field, or a nickname such as ``@daily``.
        timezone: (cron) an IANA name such as ``"Europe/Berlin"``; default UTC.
        every: (interval) a positive duration: ``{"hours": 1}``, milliseconds, or a ``timedelta``.
        overlap_policy: ``"allow"`` (default: every occurrence starts a run, missed ones included),
            ``"skip"`` (no run while one of the schedule's runs is still going; of missed occurrences only
            the latest fires) or ``"cancel_previous"`` (cancel the run still going, then start).

    Raises:
        ConfigurationError: an invalid expression, an unknown timezone, a non-positive interval, an unknown
            overlap policy or type.

    Example:
        daily = schedule(type="cron", expression="0 9 * * *", timezone="Europe/Berlin", overlap_policy="skip")
        hourly = schedule(type="interval", every={"hours": 1})
        handle = await daily.activate(c, report_v1, {"report_type": "sales"})
    """
    policy = parse_overlap_policy(overlap_policy)
    if type == "cron":
        if every is not None:
            raise ConfigurationError("A cron schedule takes 'expression' (and 'timezone'), not 'every'.")
        return Schedule(CronTiming.parse(expression, timezone), policy)
    if type == "interval":
        if expression is not None or timezone is not None:
            raise ConfigurationError("An interval schedule takes 'every', not 'expression' or 'timezone'.")
        if every is None:
            raise ConfigurationError("An interval schedule needs 'every', e.g. every={'hours': 1}.")
        try:
            every_ms = to_milliseconds(every, "the interval 'every'")
        except InvalidOptionError as error:
            raise ConfigurationError(error.message) from None
        return Schedule(IntervalTiming.parse(every_ms), policy)
    raise ConfigurationError(f"Unknown schedule type {type!r}; use type='cron' or type='interval'.")
