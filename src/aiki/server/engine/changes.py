"""What a committed transaction changed, so the server can wake whoever waits on it (after the commit)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiki.types import TERMINAL_STATUSES, WAITING_STATUSES, RunStatus, TaskAttempt, WorkflowRun

#: statuses in which a run waits for a timer of the runtime when it has one (a sleep, a delayed start, a
#: retry's delay, an event's or a child's timeout, the run's deadline)
TIMER_STATUSES = WAITING_STATUSES | {RunStatus.SCHEDULED}


@dataclass(slots=True)
class Changes:
    """Collected while a transaction runs; published by the server once it has committed."""

    #: runs whose status changed (wakes ``wait_for_status`` and dashboards)
    runs: set[str] = field(default_factory=set)
    #: the runs as stored after this transaction (handed to in-process waiters, who then need not read)
    run_records: dict[str, Any] = field(default_factory=dict)
    #: runs that reached a terminal status (the only run changes announced to other processes: what
    #: ``wait_for_status`` waits for; other changes reach other processes' waiters by polling)
    finished: set[str] = field(default_factory=set)
    #: runs left queued by this transaction (wake idle workers); a run queued and then claimed in the same
    #: transaction (handed to a waiting worker) is not among them
    queued_runs: set[str] = field(default_factory=set)
    #: the earliest deadline written (wakes the timer loop if earlier than what it sleeps towards)
    earliest_deadline_ms: int | None = None
    #: how many runs were created (metrics)
    started: int = 0
    #: task writes: (task name, status written, the attempts the write reports) (metrics)
    tasks: list[tuple[str, str, list[TaskAttempt]]] = field(default_factory=list)
    #: how late each timer fired, in ms after its due time (metrics)
    lateness_ms: list[int] = field(default_factory=list)
    #: runs left waiting for a timer of the runtime, with its due time (the warning of ``SilentWaits``)
    timer_waits: list[tuple[WorkflowRun, int]] = field(default_factory=list)
    #: schedules armed (activated or resumed): (schedule id, workflow name, next fire time) (the same warning)
    schedule_waits: list[tuple[str, str, int]] = field(default_factory=list)
    #: called once the transaction has ended, with whether it committed (runs handed to waiting workers are
    #: delivered only once committed, and given up otherwise)
    on_end: list[Callable[[bool], None]] = field(default_factory=list)

    @property
    def queued(self) -> bool:
        """A run became queued (idle workers should look)."""
        return bool(self.queued_runs)

    def ended(self, committed: bool) -> None:
        """The transaction committed (``committed``) or was given up: run the ``on_end`` callbacks."""
        for callback in self.on_end:
            callback(committed)

    def deadline(self, due_at_ms: int | None) -> None:
        if due_at_ms is not None and (
            self.earliest_deadline_ms is None or due_at_ms < self.earliest_deadline_ms
        ):
            self.earliest_deadline_ms = due_at_ms

    def schedule_armed(self, schedule_id: str, workflow_name: str, next_run_at_ms: int) -> None:
        """A schedule became active: its next fire time is a deadline of the runtime."""
        self.deadline(next_run_at_ms)
        self.schedule_waits.append((schedule_id, workflow_name, next_run_at_ms))

    def created(self, run: WorkflowRun, due_at_ms: int | None) -> None:
        """``run`` was created, and its deadline is ``due_at_ms``."""
        self.started += 1
        self.moved(run, due_at_ms)

    def moved(self, run: WorkflowRun, due_at_ms: int | None) -> None:
        """``run`` (as stored now) changed status, and its deadline is ``due_at_ms``."""
        self.runs.add(run.id)
        self.run_records[run.id] = run
        self.deadline(due_at_ms)
        if due_at_ms is not None and run.status in TIMER_STATUSES:
            self.timer_waits.append((run, due_at_ms))
        if run.status is RunStatus.QUEUED:
            self.queued_runs.add(run.id)
            return
        self.queued_runs.discard(run.id)
        if run.status in TERMINAL_STATUSES:
            self.finished.add(run.id)
