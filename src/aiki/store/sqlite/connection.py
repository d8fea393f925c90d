"""SQLite's connection class: the store's queries over ``sqlite3``, run on the event loop's thread.

Each statement is tens of microseconds; a hop to a thread would cost more than the statement itself.
"""

from __future__ import annotations

import heapq
import itertools
import sqlite3
from collections.abc import Sequence
from typing import Any

from aiki.store.connection import Connection
from aiki.store.queries.base import Row
from aiki.store.queries.claims import queue_branch_params, queue_branch_sql
from aiki.store.rows import RUN_COLUMNS


def dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class SqliteConnection(Connection):
    """The process's one connection to a file, inside one transaction (write transactions are exclusive, so
    rows need no locks: the lock clauses stay empty). SQLite plans each statement when it prepares it and
    again whenever the schema or its statistics change, so ``plan_each_time`` changes nothing here."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw

    async def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._raw.execute(sql, params).rowcount

    async def _fetch_one(
        self, sql: str, params: Sequence[Any] = (), *, plan_each_time: bool = False
    ) -> Row | None:
        row: Row | None = self._raw.execute(sql, params).fetchone()
        return row

    def _cursor(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        """The statement, run, with its rows still to be read (stepped as they are)."""
        return self._raw.execute(sql, params)

    async def _fetch_all(
        self, sql: str, params: Sequence[Any] = (), *, plan_each_time: bool = False
    ) -> list[Row]:
        rows: list[Row] = self._raw.execute(sql, params).fetchall()
        return rows

    async def _queue_heads(
        self, namespace: str, branches: Sequence[tuple[str, str, str | None]], limit: int
    ) -> list[Row]:
        """Each queue's head read by its own statement and merged here, lazily: SQLite runs a merge of
        several ordered subqueries through a temporary B-tree per branch (about 80 us for five empty queues),
        where a statement per queue costs a few microseconds, in process. Cursors step only as far as the
        merge reads them."""
        if len(branches) == 1:
            return await super()._queue_heads(namespace, branches, limit)
        # Open cursors hold their statements, so each branch has a text of its own (its number in a comment):
        # sqlite3 then keeps one prepared statement per branch in its cache instead of preparing anew.
        cursors = [
            self._cursor(
                queue_branch_sql(RUN_COLUMNS, branch[2], f" /* queue {index} */"),
                queue_branch_params(namespace, branch, limit),
            )
            for index, branch in enumerate(branches)
        ]
        try:
            merged = heapq.merge(*cursors, key=_claim_order)
            return list(itertools.islice(merged, limit))
        finally:
            for cursor in cursors:
                cursor.close()


def _claim_order(row: Row) -> tuple[Any, Any]:
    return row["created_at_ms"], row["id"]
