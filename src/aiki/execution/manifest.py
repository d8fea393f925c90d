"""The replay manifest: recorded tasks and children, queued per content address, consumed in order."""

from __future__ import annotations

from collections import deque

from aiki.types import ChildEntry, TaskEntry


class ReplayManifest:
    """Per-address FIFO queues of recorded entries, and one count of what is left unconsumed."""

    def __init__(self, tasks: list[TaskEntry], children: list[ChildEntry]) -> None:
        self._tasks: dict[str, deque[TaskEntry]] = {}
        self._children: dict[str, deque[ChildEntry]] = {}
        self._next_occurrence: dict[str, int] = {}
        for task in tasks:
            self._tasks.setdefault(task.address, deque()).append(task)
            self._bump(task.address, task.occurrence)
        for child in children:
            self._children.setdefault(child.address, deque()).append(child)
            self._bump("child:" + child.address, child.occurrence)
        self._left = len(tasks) + len(children)

    def _bump(self, key: str, occurrence: int) -> None:
        self._next_occurrence[key] = max(self._next_occurrence.get(key, 0), occurrence + 1)

    def has_unconsumed(self) -> bool:
        """Whether recorded entries remain; while they do, a new address is non-determinism."""
        return self._left > 0

    def consume_task(self, address: str) -> TaskEntry | None:
        queue = self._tasks.get(address)
        if not queue:
            return None
        self._left -= 1
        return queue.popleft()

    def consume_child(self, address: str) -> ChildEntry | None:
        queue = self._children.get(address)
        if not queue:
            return None
        self._left -= 1
        return queue.popleft()

    def new_task_occurrence(self, address: str) -> int:
        """The occurrence number of a task started fresh at ``address``."""
        return self._allocate(address)

    def new_child_occurrence(self, address: str) -> int:
        return self._allocate("child:" + address)

    def _allocate(self, key: str) -> int:
        occurrence = self._next_occurrence.get(key, 0)
        self._next_occurrence[key] = occurrence + 1
        return occurrence

    def unconsumed(self) -> list[str]:
        """The entries left, as ``task <address> #n`` / ``child <address> #n``, in record order."""
        left = [
            f"task {entry.address} #{entry.occurrence}" for queue in self._tasks.values() for entry in queue
        ]
        left += [
            f"child {entry.address} (run {entry.child_run_id})"
            for queue in self._children.values()
            for entry in queue
        ]
        return left
