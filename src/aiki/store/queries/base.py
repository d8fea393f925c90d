"""What the query modules are written against: three driver calls and the dialect's lock clauses.

SQL is written once with ``?`` placeholders and portable syntax (``RETURNING``, ``ON CONFLICT``, partial
indexes). A backend's connection class supplies the driver calls, sets the lock clauses, and overrides the
few methods it does in fewer round trips (PostgreSQL's one-statement claim, checkpoint and finish).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

Row = dict[str, Any]


def residual(condition: str) -> str:
    """``condition`` as a filter no index can serve: a planner cannot use ``(...) IS TRUE`` as an index
    condition. A statement that finds rows by their key states every other condition this way, so that only
    the key's index can serve it, even in a generic plan cached while the table was empty (an index that
    starts with, say, the namespace would then read every run of the namespace)."""
    return f"({condition}) IS TRUE"


#: the run's namespace, checked on a row found by its key
SAME_NAMESPACE = residual("namespace = ?")


#: the most ids one statement names (a longer list is sent in several statements)
MAX_IDS_PER_STATEMENT = 256


def padded_batches(ids: Sequence[str]) -> list[list[str]]:
    """``ids`` without repeats, cut into lists of at most ``MAX_IDS_PER_STATEMENT``, each padded to a power
    of two by repeating its last id, so that few statement texts exist (each prepared once)."""
    unique = list(dict.fromkeys(ids))
    batches = []
    for start in range(0, len(unique), MAX_IDS_PER_STATEMENT):
        batch = unique[start : start + MAX_IDS_PER_STATEMENT]
        size = 1 << (len(batch) - 1).bit_length()
        batches.append(batch + [batch[-1]] * (size - len(batch)))
    return batches


def marks(count: int) -> str:
    """``?, ?, ...``: ``count`` placeholders, for an ``IN`` list."""
    return ", ".join("?" for _ in range(count))


class QueryBase:
    """The driver surface every query module uses. Nothing outside ``aiki.store`` calls these."""

    #: appended to a SELECT whose rows this transaction will update (PostgreSQL: ``FOR UPDATE``)
    FOR_UPDATE: ClassVar[str] = ""
    #: appended to a SELECT whose rows must not change until this transaction ends (``FOR SHARE``)
    FOR_SHARE: ClassVar[str] = ""
    #: appended to a SELECT that claims rows other transactions may be claiming too
    SKIP_LOCKED: ClassVar[str] = ""

    async def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; returns the number of rows it changed."""
        raise NotImplementedError

    async def _fetch_one(
        self, sql: str, params: Sequence[Any] = (), *, plan_each_time: bool = False
    ) -> Row | None:
        """Run a query; returns its first row or ``None`` (``plan_each_time``: see ``_fetch_all``)."""
        raise NotImplementedError

    async def _fetch_all(
        self, sql: str, params: Sequence[Any] = (), *, plan_each_time: bool = False
    ) -> list[Row]:
        """Run a query; returns all its rows.

        ``plan_each_time``: never reuse a cached plan for this statement; plan it for its parameters and the
        tables as they are now (lists and counts, whose best plan depends on the filter and the sizes).
        """
        raise NotImplementedError

    def _lock(self, for_update: bool) -> str:
        return self.FOR_UPDATE if for_update else ""
