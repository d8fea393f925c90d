"""Turning an exception into the JSON error a run or task records."""

from __future__ import annotations

import traceback
from typing import Any

from aiki.errors import TaskFailedError


def error_record(error: BaseException, task: str | None = None) -> dict[str, Any]:
    """``{"type", "message", "traceback", "task"?}`` for ``error``.

    A ``TaskFailedError`` records the task's own type and message, with the task's name.
    """
    if isinstance(error, TaskFailedError):
        record = dict(error.error)
        record["task"] = error.task_name
        return record
    record = {
        "type": type(error).__name__,
        "message": str(error),
        "traceback": "".join(traceback.format_exception(error)),
    }
    if task is not None:
        record["task"] = task
    return record
