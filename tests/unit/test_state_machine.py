"""The run state machine, walked exhaustively: every (from, to, reason) triple is allowed or refused as the
table below (written independently of the code, from the rules docs/runs-and-handles.md states) says."""

from __future__ import annotations

import itertools

import pytest

from aiki.errors import InvalidTransitionError
from aiki.server.engine.state_machine import TRANSITIONS, check_transition, is_allowed
from aiki.types import TERMINAL_STATUSES, RunStatus

S = RunStatus
ANY = None
"""The edge takes any reason (a cancel reason is free text; parking on a wait needs none)."""

WAITING = (S.SLEEPING, S.AWAITING_EVENT, S.AWAITING_RETRY, S.AWAITING_CHILD_WORKFLOW)

EXPECTED: dict[tuple[S, S], frozenset[str] | None] = {
    # a delayed start comes due; "new" for a start whose time has come when it is created
    (S.SCHEDULED, S.QUEUED): frozenset({"due", "new"}),
    (S.QUEUED, S.RUNNING): frozenset({"claimed"}),
    # queued longer than the server's stall_after_ms with no worker claiming it; requeue puts it back
    (S.QUEUED, S.STALLED): frozenset({"undeliverable"}),
    (S.STALLED, S.QUEUED): frozenset({"requeue"}),
    # a lost claim is recovered, or a stopping worker hands back a run it had not started
    (S.RUNNING, S.QUEUED): frozenset({"recovery", "released"}),
    (S.RUNNING, S.SLEEPING): ANY,
    (S.RUNNING, S.AWAITING_EVENT): ANY,
    (S.RUNNING, S.AWAITING_CHILD_WORKFLOW): ANY,
    (S.RUNNING, S.AWAITING_RETRY): frozenset({"task_retry", "workflow_retry"}),
    (S.RUNNING, S.COMPLETED): ANY,
    (S.RUNNING, S.FAILED): ANY,
    (S.SLEEPING, S.QUEUED): frozenset({"wakeup", "wakeup_early"}),
    (S.AWAITING_EVENT, S.QUEUED): frozenset({"event", "event_wait_timeout"}),
    (S.AWAITING_RETRY, S.QUEUED): frozenset({"retry", "task_retry"}),
    (S.AWAITING_CHILD_WORKFLOW, S.QUEUED): frozenset({"child_workflow", "child_workflow_wait_timeout"}),
    # resume puts a paused run back where it was (queued and running both go back to the queue)
    **{(S.PAUSED, target): frozenset({"resumption"}) for target in (S.SCHEDULED, S.QUEUED, *WAITING)},
    # pause: from scheduled, queued, running and every waiting status (not from stalled: requeue or cancel)
    **{(source, S.PAUSED): frozenset({"paused"}) for source in (S.SCHEDULED, S.QUEUED, S.RUNNING, *WAITING)},
    # cancel: from every status that has not ended
    **{(source, S.CANCELLED): ANY for source in RunStatus if source not in TERMINAL_STATUSES},
    # a run's own deadline fails it from every status that has not ended (running may fail for any reason)
    **{
        (source, S.FAILED): frozenset({"deadline"})
        for source in RunStatus
        if source not in TERMINAL_STATUSES and source is not S.RUNNING
    },
}

KNOWN_REASONS = sorted(
    {reason for reasons in EXPECTED.values() if reasons for reason in reasons}
    | {
        reason
        for targets in TRANSITIONS.values()
        for reasons in targets.values()
        for reason in reasons
        if reason
    }
)
REASONS: list[str | None] = [None, *KNOWN_REASONS, "made-up reason"]

TRIPLES = list(itertools.product(RunStatus, RunStatus, REASONS))


def _expected_allowed(source: S, target: S, reason: str | None) -> bool:
    if (source, target) not in EXPECTED:
        return False
    reasons = EXPECTED[(source, target)]
    return reasons is ANY or reason in reasons


ALLOWED = [triple for triple in TRIPLES if _expected_allowed(*triple)]
REFUSED = [triple for triple in TRIPLES if not _expected_allowed(*triple)]


def _name(triple: tuple[S, S, str | None]) -> str:
    source, target, reason = triple
    return f"{source.value}->{target.value}[{reason}]"


def test_the_table_has_exactly_the_expected_edges() -> None:
    edges = {(source, target) for source, targets in TRANSITIONS.items() for target in targets}
    assert edges == set(EXPECTED)


def test_the_table_has_a_row_for_every_status() -> None:
    assert set(TRANSITIONS) == set(RunStatus)


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES))
def test_a_terminal_status_has_no_way_out(status: S) -> None:
    assert TRANSITIONS[status] == {}


@pytest.mark.parametrize("triple", ALLOWED, ids=_name)
def test_an_allowed_transition_passes(triple: tuple[S, S, str | None]) -> None:
    source, target, reason = triple
    assert is_allowed(source, target, reason)
    check_transition("run-1", source, target, reason)


@pytest.mark.parametrize("triple", REFUSED, ids=_name)
def test_a_transition_outside_the_table_raises_naming_the_run_and_both_statuses(
    triple: tuple[S, S, str | None],
) -> None:
    source, target, reason = triple
    assert not is_allowed(source, target, reason)
    with pytest.raises(InvalidTransitionError) as caught:
        check_transition("run-42", source, target, reason)
    error = caught.value
    assert (error.run_id, error.status, error.target) == ("run-42", source.value, target.value)
    assert "run-42" in error.message
    assert repr(source.value) in error.message
    assert repr(target.value) in error.message


def test_a_wrong_reason_on_an_existing_edge_lists_the_reasons_allowed() -> None:
    with pytest.raises(InvalidTransitionError, match=r"Reason 'wakeup' is not allowed.*recovery, released"):
        check_transition("run-1", S.RUNNING, S.QUEUED, "wakeup")


def test_the_walk_covers_both_outcomes() -> None:
    # Guards the parametrisation itself: an empty list would pass vacuously.
    assert len(ALLOWED) > 50
    assert len(REFUSED) > 1000
    assert len(ALLOWED) + len(REFUSED) == len(RunStatus) ** 2 * len(REASONS)
