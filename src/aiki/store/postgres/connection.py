"""PostgreSQL's connection class: the store's queries over psycopg, with row locks, and the hot paths that
PostgreSQL does in one statement (one round trip) where SQLite takes several cheap ones."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import DictRow

from aiki.errors import InvalidRequestError
from aiki.store.connection import Connection
from aiki.store.postgres.one_statement import OneStatementQueries
from aiki.store.queries.base import Row

RawConnection = psycopg.AsyncConnection[DictRow]


@functools.lru_cache(maxsize=1024)
def to_psycopg(statement: str) -> str:
    """``statement`` with ``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` escaped as ``%%``).

    A ``?`` inside a quoted literal or identifier is left alone; psycopg reads ``%`` everywhere, so every
    ``%`` is escaped.
    """
    out: list[str] = []
    quote: str | None = None
    for char in statement:
        if char == "%":
            out.append("%%")
        elif quote is not None:
            out.append(char)
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


class PostgresConnection(OneStatementQueries, Connection):
    """One pooled connection inside one transaction (or one autocommit statement)."""

    FOR_UPDATE = " FOR UPDATE"
    FOR_SHARE = " FOR SHARE"
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"

    def __init__(self, raw: RawConnection) -> None:
        self._raw = raw
        #: ``(channel, payload)`` sent once the transaction has committed
        self.pending_notifications: list[tuple[str, str]] = []

    async def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return (await self._run(sql, params)).rowcount

    async def _fetch_one(
        self, sql: str, params: Sequence[Any] = (), *, plan_each_time: bool = False
    ) -> Row | None:
        return await (await self._run(sql, params, plan_each_time)).fetchone()

    async def _fetch_all(
        self, sql: str, params: Sequence[Any] = (), *, plan_each_time: bool = False
    ) -> list[Row]:
        return await (await self._run(sql, params, plan_each_time)).fetchall()

    async def _run(
        self, sql: str, params: Sequence[Any], plan_each_time: bool = False
    ) -> psycopg.AsyncCursor[DictRow]:
        try:
            # A prepared statement may end up with a generic plan that PostgreSQL keeps; one that must always
            # be planned for its parameters is sent unprepared (psycopg's ``prepare=False``).
            return await self._raw.execute(
                to_psycopg(sql), tuple(params), prepare=False if plan_each_time else None
            )
        except psycopg.DataError as error:
            # SQLite stores a NUL character; PostgreSQL text cannot hold one, and psycopg refuses to send it.
            if "NUL" in str(error):
                raise InvalidRequestError(
                    "a text value (an id, name or reference) contains a NUL character, which cannot be stored"
                ) from error
            raise
