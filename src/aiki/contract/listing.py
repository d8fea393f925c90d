"""Finding runs: the filter of a list or count, pages with an opaque cursor, and per-version statistics.

Pagination is by keyset (the last run's creation time and id), never by offset: a page costs the same at
the first run and the millionth, and walking every page while runs are being started returns each run that
existed at the first call exactly once.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypedDict

from aiki.errors import InvalidOptionError
from aiki.types import RunStatus, WorkflowRun, parse_status

Order = Literal["newest", "oldest"]
ORDERS: tuple[Order, ...] = ("newest", "oldest")


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Which runs a list or count is about; every field is optional and they combine with AND."""

    #: any of these statuses (``None``: every status)
    statuses: list[RunStatus] | None = None
    workflow: str | None = None
    #: a version of ``workflow`` (requires ``workflow``)
    version: str | None = None
    reference_id: str | None = None
    parent_run_id: str | None = None
    schedule_id: str | None = None
    #: ``created_after_ms <= created_at_ms < created_before_ms``
    created_after_ms: int | None = None
    created_before_ms: int | None = None

    def checked(self) -> RunFilter:
        """This filter, or ``InvalidOptionError`` naming what makes no sense."""
        if self.version is not None and self.workflow is None:
            raise InvalidOptionError(
                "A version filter needs the workflow too: list_runs(workflow='order-processing', version='1.0.0')."
            )
        if self.statuses is not None and not self.statuses:
            raise InvalidOptionError("status=[] matches nothing; leave the status out to match every status.")
        # created_after >= created_before is an empty range: it matches no run, like any other filter that
        # nothing meets (the HTTP API's parameters are described one by one and cannot state the order).
        return self


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of runs. Iterable, with ``len()``; ``next_cursor`` is ``None`` on the last page."""

    runs: list[WorkflowRun] = field(default_factory=list)
    #: pass it back as ``cursor=`` for the next page
    next_cursor: str | None = None

    def __iter__(self) -> Iterator[WorkflowRun]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)


@dataclass(frozen=True, slots=True)
class WorkflowStats:
    """How many runs of one workflow version are in each status, and whether a live worker serves it."""

    name: str
    version_id: str
    #: status -> number of runs (statuses without runs are left out)
    counts: dict[str, int]
    #: a worker seen within the claim timeout registers this version
    served: bool = False


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page starts: after the run created at ``created_at_ms`` with id ``run_id``."""

    order: Order
    created_at_ms: int
    run_id: str

    def encode(self) -> str:
        text = f"{self.order}:{self.created_at_ms}:{self.run_id}"
        return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")

    @staticmethod
    def decode(value: object, order: Order) -> Cursor:
        """The cursor a previous page gave, or ``InvalidOptionError`` for anything else."""
        problem = "pass back the next_cursor of a page as it was given"
        if not isinstance(value, str) or not value or len(value) > 200:
            raise InvalidOptionError(f"cursor {value!r} is not a cursor of this server: {problem}.")
        try:
            text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
            given_order, created, run_id = text.split(":", 2)
            created_at_ms = int(created)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidOptionError(f"cursor {value!r} is not a cursor of this server: {problem}.") from None
        if given_order not in ORDERS or not run_id:
            raise InvalidOptionError(f"cursor {value!r} is not a cursor of this server: {problem}.")
        if given_order != order:
            raise InvalidOptionError(
                f"cursor {value!r} belongs to a list in order {given_order!r}; this list is in order {order!r}."
            )
        return Cursor(order, created_at_ms, run_id)


def parse_statuses(value: str | RunStatus | Sequence[str | RunStatus] | None) -> list[RunStatus] | None:
    """One status or a list (a comma-separated string too), as statuses; a bad one is ``InvalidOptionError``."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    statuses: list[RunStatus] = []
    for item in items:
        status = parse_status(item.strip() if isinstance(item, str) else item, "status filter")
        if status not in statuses:
            statuses.append(status)
    return statuses


def parse_order(value: object) -> Order:
    if value == "newest" or value == "oldest":
        return value
    raise InvalidOptionError(f"order must be 'newest' or 'oldest', got {value!r}.")


def filter_query(run_filter: RunFilter) -> dict[str, str | int]:
    """``run_filter`` as the query parameters of ``GET /runs`` and ``GET /runs/count``."""
    query: dict[str, str | int] = {}
    if run_filter.statuses is not None:
        query["status"] = ",".join(status.value for status in run_filter.statuses)
    for name in ("workflow", "version", "reference_id", "parent_run_id", "schedule_id"):
        value = getattr(run_filter, name)
        if value is not None:
            query[name] = value
    if run_filter.created_after_ms is not None:
        query["created_after"] = run_filter.created_after_ms
    if run_filter.created_before_ms is not None:
        query["created_before"] = run_filter.created_before_ms
    return query


def epoch_ms(value: datetime | int | None, name: str) -> int | None:
    """An aware datetime or epoch milliseconds as epoch milliseconds; a naive datetime is refused."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidOptionError(
                f"{name} must be timezone-aware (datetime.now(UTC) - timedelta(hours=1)), got a naive datetime."
            )
        return int(value.timestamp() * 1000)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidOptionError(f"{name} must be an aware datetime or epoch milliseconds, got {value!r}.")
    return value


class RunFilterArguments(TypedDict, total=False):
    """The filters ``list_runs``, ``iter_runs`` and ``count_runs`` take as keywords."""

    status: str | RunStatus | Sequence[str | RunStatus] | None
    workflow: str | None
    version: str | None
    reference_id: str | None
    parent_run_id: str | None
    schedule_id: str | None
    created_after: datetime | int | None
    created_before: datetime | int | None


def build_filter(
    *,
    status: str | RunStatus | Sequence[str | RunStatus] | None = None,
    workflow: str | None = None,
    version: str | None = None,
    reference_id: str | None = None,
    parent_run_id: str | None = None,
    schedule_id: str | None = None,
    created_after: datetime | int | None = None,
    created_before: datetime | int | None = None,
) -> RunFilter:
    """The filter the keyword arguments of ``list_runs``/``iter_runs``/``count_runs`` describe, checked."""
    for name, value in (
        ("workflow", workflow),
        ("version", version),
        ("reference_id", reference_id),
        ("parent_run_id", parent_run_id),
        ("schedule_id", schedule_id),
    ):
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidOptionError(f"{name} must be a non-empty string or None, got {value!r}.")
    return RunFilter(
        statuses=parse_statuses(status),
        workflow=workflow,
        version=version,
        reference_id=reference_id,
        parent_run_id=parent_run_id,
        schedule_id=schedule_id,
        created_after_ms=epoch_ms(created_after, "created_after"),
        created_before_ms=epoch_ms(created_before, "created_before"),
    ).checked()
