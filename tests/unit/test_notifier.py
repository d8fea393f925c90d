"""The notifier's memory of the runs this process changed: what a waiter may start from instead of a read."""

from __future__ import annotations

from aiki.server.engine import notifier as notifier_module
from aiki.server.engine.changes import Changes
from aiki.server.engine.notifier import Notifier
from aiki.types import RunState, RunStatus, WorkflowRun


def _run(run_id: str, revision: int, status: RunStatus = RunStatus.RUNNING) -> WorkflowRun:
    return WorkflowRun(
        id=run_id,
        namespace="default",
        name="w",
        version_id="1",
        input=None,
        input_hash="h",
        state=RunState(status),
        revision=revision,
        attempts=1,
        options={},
        created_at_ms=0,
        updated_at_ms=0,
    )


def _publish(notifier: Notifier, *runs: WorkflowRun) -> None:
    changes = Changes()
    for run in runs:
        changes.moved(run, None)
    notifier.publish(changes)


def test_a_published_run_is_remembered_until_another_process_announces_a_change_of_it() -> None:
    notifier = Notifier()
    _publish(notifier, _run("a", 1))
    remembered = notifier.latest("a")
    assert remembered is not None and remembered.revision == 1

    notifier.run_changed("a")  # another process's announcement carries no record

    assert notifier.latest("a") is None


def test_an_older_record_published_after_a_newer_one_does_not_replace_it() -> None:
    notifier = Notifier()
    _publish(notifier, _run("a", 3, RunStatus.COMPLETED))
    _publish(notifier, _run("a", 2))

    assert notifier.latest("a").revision == 3


def test_only_the_most_recent_runs_are_remembered() -> None:
    notifier = Notifier()
    for index in range(notifier_module.RECENT_RUNS + 5):
        _publish(notifier, _run(f"r{index}", 1))

    assert [notifier.latest(f"r{index}") is None for index in range(6)] == [True] * 5 + [False]
    assert notifier.latest(f"r{notifier_module.RECENT_RUNS + 4}") is not None
