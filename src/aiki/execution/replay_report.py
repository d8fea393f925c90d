"""What a replay check found: one verdict per run in flight, and the report over them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiki.errors import NonDeterminismError
from aiki.types import RunStatus


class ReplayOutcome(StrEnum):
    """How the replay of one run ended."""

    #: the handler returned: the run would complete on the new code
    COMPLETED = "completed"
    #: the handler reached work the history does not hold (a task, child, sleep or wait): new code from
    #: there on, which the check does not run
    REACHED_NEW_CODE = "reached_new_code"
    #: the run would fail on the new code (``RunReplayResult.error`` says why)
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RunReplayResult:
    """The verdict on one run in flight.

    Attributes:
        run_id: the run replayed.
        status: the run's status when it was read.
        outcome: how the replay ended.
        stopped_at: where it stopped when it reached new code (``task charge:3f2a…``, ``sleep 'cool-down'``,
            ``wait for event 'paid'``...); ``None`` otherwise.
        unconsumed: the recorded task and child entries the replay had not consumed when it stopped.
        error: what the run would fail with (``outcome`` ``failed``): ``NonDeterminismError``,
            ``SchemaValidationError``, or the exception the handler raised.
    """

    run_id: str
    status: RunStatus
    outcome: ReplayOutcome
    stopped_at: str | None = None
    unconsumed: tuple[str, ...] = ()
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """Whether the run can go on with the new code."""
        return self.outcome is not ReplayOutcome.FAILED

    def describe(self) -> str:
        """One line for a table: the outcome and its detail."""
        if self.error is not None:
            return f"{type(self.error).__name__}: {self.error}"
        if self.outcome is ReplayOutcome.COMPLETED:
            return "the handler returned"
        left = f"; {len(self.unconsumed)} recorded entries not reached yet" if self.unconsumed else ""
        return f"new code from {self.stopped_at}{left}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``aiki replay-check --json``)."""
        error: dict[str, Any] | None = None
        if self.error is not None:
            error = {"type": type(self.error).__name__, "message": str(self.error)}
            if isinstance(self.error, NonDeterminismError):
                error["address"] = self.error.address
                error["unconsumed"] = list(self.error.unconsumed)
        return {
            "run_id": self.run_id,
            "status": self.status.value,
            "outcome": self.outcome.value,
            "ok": self.ok,
            "stopped_at": self.stopped_at,
            "unconsumed": list(self.unconsumed),
            "error": error,
        }


@dataclass(frozen=True, slots=True)
class ReplayCheckReport:
    """The runs in flight of one workflow version, replayed against a handler.

    Attributes:
        workflow: the workflow name.
        version_id: the version checked.
        results: one verdict per run in flight, oldest run first.
    """

    workflow: str
    version_id: str
    results: tuple[RunReplayResult, ...]

    @property
    def ok(self) -> bool:
        """Whether every run in flight can go on with the new code."""
        return all(result.ok for result in self.results)

    @property
    def failures(self) -> list[tuple[str, BaseException]]:
        """``(run_id, error)`` of each run that would fail."""
        return [(result.run_id, result.error) for result in self.results if result.error is not None]

    def summary(self) -> str:
        """``order-processing 1.0.0: 120 runs in flight, 118 ok, 2 would fail``."""
        failed, checked = len(self.failures), len(self.results)
        runs = "run" if checked == 1 else "runs"
        in_flight = f"{checked} {runs} in flight"
        return f"{self.workflow} {self.version_id}: {in_flight}, {checked - failed} ok, {failed} would fail"

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``aiki replay-check --json``)."""
        return {
            "workflow": self.workflow,
            "version": self.version_id,
            "ok": self.ok,
            "checked": len(self.results),
            "failed": len(self.failures),
            "runs": [result.to_dict() for result in self.results],
        }
