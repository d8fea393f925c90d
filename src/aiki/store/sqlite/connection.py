"""SQLite's connection class: the store's queries over ``sqlite3``, run on the event loop's thread.

Each statement is tens of microseconds; a hop to a thread would cost more than the statement itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from aiki.store.connection import Connection
from aiki.store.queries.base import Row


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

    async def _fetch_all(
        self, sql: str, params: Sequence[Any] = (), *, plan_each_time: bool = False
    ) -> list[Row]:
        rows: list[Row] = self._raw.execute(sql, params).fetchall()
        return rows
