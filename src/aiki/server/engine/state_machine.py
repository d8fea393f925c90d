"""The run state machine as data: for each status, the statuses it may move to and the reasons allowed.

Every status change of a run goes through ``check_transition``; tests walk this table exhaustively.
"""

from __future__ import annotations

from aiki.errors import InvalidTransitionError
from aiki.types import TERMINAL_STATUSES
from aiki.types import RunStatus as S

#: ``None`` in a reason set means "no reason required".
TRANSITIONS: dict[S, dict[S, frozenset[str | None]]] = {
    S.SCHEDULED: {
        S.QUEUED: frozenset({"due", "new"}),
        S.PAUSED: frozenset({"paused"}),
        S.CANCELLED: frozenset({None}),
    },
    S.QUEUED: {
        S.RUNNING: frozenset({"claimed"}),
        S.PAUSED: frozenset({"paused"}),
        S.STALLED: frozenset({"undeliverable"}),
        S.CANCELLED: frozenset({None}),
    },
    S.STALLED: {
        S.QUEUED: frozenset({"requeue"}),
        S.CANCELLED: frozenset({None}),
    },
    S.RUNNING: {
        S.QUEUED: frozenset({"recovery", "released"}),
        S.SLEEPING: frozenset({None}),
        S.AWAITING_EVENT: frozenset({None}),
        S.AWAITING_RETRY: frozenset({"task_retry", "workflow_retry"}),
        S.AWAITING_CHILD_WORKFLOW: frozenset({None}),
        S.PAUSED: frozenset({"paused"}),
        S.COMPLETED: frozenset({None}),
        S.FAILED: frozenset({None}),
        S.CANCELLED: frozenset({None}),
    },
    S.PAUSED: {
        S.SCHEDULED: frozenset({"resumption"}),
        S.QUEUED: frozenset({"resumption"}),
        S.SLEEPING: frozenset({"resumption"}),
        S.AWAITING_EVENT: frozenset({"resumption"}),
        S.AWAITING_RETRY: frozenset({"resumption"}),
        S.AWAITING_CHILD_WORKFLOW: frozenset({"resumption"}),
        S.CANCELLED: frozenset({None}),
    },
    S.SLEEPING: {
        S.QUEUED: frozenset({"wakeup", "wakeup_early"}),
        S.PAUSED: frozenset({"paused"}),
        S.CANCELLED: frozenset({None}),
    },
    S.AWAITING_EVENT: {
        S.QUEUED: frozenset({"event", "event_wait_timeout"}),
        S.PAUSED: frozenset({"paused"}),
        S.CANCELLED: frozenset({None}),
    },
    S.AWAITING_RETRY: {
        S.QUEUED: frozenset({"retry", "task_retry"}),
        S.PAUSED: frozenset({"paused"}),
        S.CANCELLED: frozenset({None}),
    },
    S.AWAITING_CHILD_WORKFLOW: {
        S.QUEUED: frozenset({"child_workflow", "child_workflow_wait_timeout"}),
        S.PAUSED: frozenset({"paused"}),
        S.CANCELLED: frozenset({None}),
    },
    S.COMPLETED: {},
    S.FAILED: {},
    S.CANCELLED: {},
}


def _add_deadline_edges(table: dict[S, dict[S, frozenset[str | None]]]) -> None:
    """A run's own deadline fails it from every status that has not ended, whatever that status is."""
    for source, targets in table.items():
        if source not in TERMINAL_STATUSES:
            targets[S.FAILED] = targets.get(S.FAILED, frozenset()) | {"deadline"}


_add_deadline_edges(TRANSITIONS)

#: What to tell a user who asks for an edge the table does not have.
HINTS: dict[S, str] = {
    S.PAUSED: "Only a paused run can be resumed.",
    S.STALLED: "A stalled run waits for requeue() (once a worker serves its version) or cancel().",
    S.COMPLETED: "The run has finished; start a new run instead.",
    S.FAILED: "The run has failed; start a new run instead.",
    S.CANCELLED: "The run was cancelled; start a new run instead.",
}


def is_allowed(source: S, target: S, reason: str | None) -> bool:
    """Whether ``source -> target`` is an edge of the table and ``reason`` is allowed on it."""
    reasons = TRANSITIONS[source].get(target)
    if reasons is None:
        return False
    return reason in reasons or (None in reasons)


def check_transition(run_id: str, source: S, target: S, reason: str | None, hint: str = "") -> None:
    """Raise ``InvalidTransitionError`` unless ``source -> target`` (for ``reason``) is allowed."""
    if not is_allowed(source, target, reason):
        detail = hint or HINTS.get(source, "")
        if target in TRANSITIONS[source]:
            allowed = sorted(str(r) for r in TRANSITIONS[source][target])
            detail = (
                f"Reason {reason!r} is not allowed on this edge (allowed: {', '.join(allowed)}). {detail}"
            )
        raise InvalidTransitionError(run_id, source.value, target.value, detail.strip())
