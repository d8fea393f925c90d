"""The replay manifest: per-address FIFO queues, one global unconsumed count, occurrence numbers."""

from __future__ import annotations

from aiki.execution.manifest import ReplayManifest
from aiki.types import ChildEntry, TaskEntry


def _task(address: str, occurrence: int = 0, output: object = None) -> TaskEntry:
    return TaskEntry(
        name=address.split(":")[0],
        address=address,
        occurrence=occurrence,
        status="completed",
        attempts=1,
        output=output,
    )


def _child(address: str, occurrence: int = 0, run_id: str = "child-1") -> ChildEntry:
    return ChildEntry(address=address, occurrence=occurrence, child_run_id=run_id)


def test_an_empty_manifest_has_nothing_unconsumed() -> None:
    manifest = ReplayManifest([], [])
    assert not manifest.has_unconsumed()
    assert manifest.unconsumed() == []


def test_entries_of_one_address_are_consumed_in_record_order() -> None:
    manifest = ReplayManifest([_task("a:1", 0, "first"), _task("a:1", 1, "second")], [])
    first = manifest.consume_task("a:1")
    second = manifest.consume_task("a:1")
    assert first is not None and second is not None
    assert (first.output, second.output) == ("first", "second")


def test_an_exhausted_address_gives_nothing() -> None:
    manifest = ReplayManifest([_task("a:1")], [])
    manifest.consume_task("a:1")
    assert manifest.consume_task("a:1") is None


def test_an_unknown_address_gives_nothing_and_consumes_nothing() -> None:
    manifest = ReplayManifest([_task("a:1")], [])
    assert manifest.consume_task("b:2") is None
    assert manifest.has_unconsumed()
    assert manifest.unconsumed() == ["task a:1 #0"]


def test_addresses_may_be_consumed_in_any_order() -> None:
    manifest = ReplayManifest([_task("a:1", output="a"), _task("b:2", output="b")], [])
    b = manifest.consume_task("b:2")
    a = manifest.consume_task("a:1")
    assert (a and a.output, b and b.output) == ("a", "b")
    assert not manifest.has_unconsumed()


def test_one_count_covers_tasks_and_children_together() -> None:
    manifest = ReplayManifest([_task("a:1")], [_child("kid:1.0.0:h")])
    manifest.consume_task("a:1")
    assert manifest.has_unconsumed()  # the child is still left
    manifest.consume_child("kid:1.0.0:h")
    assert not manifest.has_unconsumed()


def test_tasks_and_children_with_the_same_address_are_separate_queues() -> None:
    manifest = ReplayManifest([_task("same")], [_child("same")])
    assert manifest.consume_child("same") is not None
    assert manifest.consume_child("same") is None
    assert manifest.consume_task("same") is not None


def test_unconsumed_lists_what_is_left_in_record_order_naming_each_entry() -> None:
    manifest = ReplayManifest(
        [_task("a:1", 0), _task("b:2", 0), _task("a:1", 1)],
        [_child("kid:1.0.0:h", 0, "run-k")],
    )
    manifest.consume_task("a:1")
    assert manifest.unconsumed() == ["task a:1 #1", "task b:2 #0", "child kid:1.0.0:h (run run-k)"]


def test_a_fresh_address_starts_at_occurrence_zero_and_counts_up() -> None:
    manifest = ReplayManifest([], [])
    assert [manifest.new_task_occurrence("a:1") for _ in range(3)] == [0, 1, 2]
    assert manifest.new_task_occurrence("b:2") == 0


def test_a_recorded_address_continues_after_its_highest_occurrence() -> None:
    manifest = ReplayManifest([_task("a:1", 0), _task("a:1", 1)], [])
    assert manifest.new_task_occurrence("a:1") == 2


def test_numbering_continues_after_the_highest_kept_entry_when_earlier_ones_were_discarded() -> None:
    # Occurrences 0 and 1 were discarded by a workflow retry; only #2 is in the record.
    manifest = ReplayManifest([_task("a:1", 2)], [])
    assert manifest.new_task_occurrence("a:1") == 3


def test_discarded_trailing_entries_leave_their_numbers_free_for_the_next_attempt() -> None:
    # #0 completed, #1 failed and was discarded: the re-run of the second call is #1 again.
    manifest = ReplayManifest([_task("a:1", 0)], [])
    manifest.consume_task("a:1")
    assert manifest.new_task_occurrence("a:1") == 1


def test_children_are_numbered_apart_from_tasks() -> None:
    manifest = ReplayManifest([_task("x", 4)], [_child("x", 0)])
    assert manifest.new_child_occurrence("x") == 1
    assert manifest.new_task_occurrence("x") == 5
