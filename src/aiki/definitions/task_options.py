"""Options of one task call: ``task.with_().opt(path, value)``. Builders return copies, never mutate.

Options never change a task's address (its name and the hash of its input): a call with a longer timeout
replays the result a call without it recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from aiki.definitions.retry import RetryPolicy, parse_retry
from aiki.durations import positive_milliseconds
from aiki.errors import InvalidOptionError

TASK_OPTION_PATHS = ("retry", "timeout")


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """What ``opt`` has set; ``None`` means "the task's own default"."""

    #: the retry policy of this call
    retry: RetryPolicy | None = None
    #: how long one attempt of this call may run
    timeout_ms: int | None = None


def apply_task_option(options: TaskOptions, path: str, value: Any, task_name: str) -> TaskOptions:
    """``options`` with ``path`` set to ``value``; unknown paths and wrong values raise at once."""
    if path == "retry":
        return replace(options, retry=parse_retry(value, f"option 'retry' of task {task_name!r}"))
    if path == "timeout":
        return replace(
            options, timeout_ms=positive_milliseconds(value, f"option 'timeout' of task {task_name!r}")
        )
    raise InvalidOptionError(
        f"Unknown option path {path!r} for task {task_name!r}; the paths are: {', '.join(TASK_OPTION_PATHS)}."
    )
