"""Turning an exception into the JSON error a run or task records."""

from __future__ import annotations

import traceback
from typing import Any

from aiki.contract.limits import MAX_ERROR_TEXT_CHARS
from aiki.errors import TaskFailedError


def error_record(error: BaseException, task: str | None = None) -> dict[str, Any]:
    """``{"type", "message", "traceback", "task"?}`` for ``error``.

    A ``TaskFailedError`` records the task's own type and message, with the task's name. The message and the
    traceback are cut to ``MAX_ERROR_TEXT_CHARS`` each, so that an error record always fits the limit of one
    recorded value, however long the exception's text.
    """
    if isinstance(error, TaskFailedError):
        record = dict(error.error)
        record["task"] = error.task_name
        return record
    record = {
        "type": type(error).__name__,
        "message": _bounded(str(error)),
        "traceback": _bounded("".join(traceback.format_exception(error)), keep_end=True),
    }
    if task is not None:
        record["task"] = task
    return record


def _bounded(text: str, *, keep_end: bool = False) -> str:
    """``text`` cut to ``MAX_ERROR_TEXT_CHARS``, saying how much was left out (a traceback keeps its end,
    where the raising frame is)."""
    if len(text) <= MAX_ERROR_TEXT_CHARS:
        return text
    note = f" [... {len(text) - MAX_ERROR_TEXT_CHARS:,} characters left out ...] "
    keep = MAX_ERROR_TEXT_CHARS - len(note)
    return note + text[-keep:] if keep_end else text[:keep] + note
