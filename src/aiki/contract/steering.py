"""Steering many runs at once: cancel, pause, resume or requeue up to ``MAX_BULK_RUNS`` runs by id.

Each run is changed atomically and independently: one that cannot be (unknown, or in a status that does not
allow it) is skipped with the reason, and the others are changed anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from aiki.errors import InvalidOptionError

#: the most run ids one call may name
MAX_BULK_RUNS = 1000

BulkAction = Literal["cancel", "pause", "resume", "requeue"]
BULK_ACTIONS: tuple[BulkAction, ...] = ("cancel", "pause", "resume", "requeue")


@dataclass(frozen=True, slots=True)
class BulkRequest:
    """``POST /runs/bulk/{action}``: the runs, and the reason of a cancel."""

    run_ids: list[str]
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class BulkResult:
    """What a bulk action did."""

    #: the runs it changed, in the order they were given
    done: list[str] = field(default_factory=list)
    #: run id -> why it was left as it was (unknown, or in a status that does not allow the action)
    skipped: dict[str, str] = field(default_factory=dict)


def check_run_ids(run_ids: Iterable[object]) -> list[str]:
    """The ids, each once, in order; ``InvalidOptionError`` for anything but 1 to 1,000 non-empty strings."""
    if isinstance(run_ids, str):
        raise InvalidOptionError(f"run_ids must be a list of run ids, not one string; write [{run_ids!r}].")
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        raise InvalidOptionError("run_ids is empty: name at least one run.")
    if len(ids) > MAX_BULK_RUNS:
        raise InvalidOptionError(
            f"{len(ids)} run ids in one call; the most is {MAX_BULK_RUNS}. Send them in batches."
        )
    for run_id in ids:
        if not isinstance(run_id, str) or not run_id:
            raise InvalidOptionError(f"run ids are non-empty strings, got {run_id!r}.")
    return [str(run_id) for run_id in ids]
