"""The driver-neutral database interface that the server's commands are written against.

SQL is written once with ``?`` placeholders and portable syntax (``RETURNING``, ``ON CONFLICT``, partial
indexes); each backend adapts placeholders and adds what only it has (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

Row = dict[str, Any]
Dialect = Literal["sqlite", "postgres"]


class Connection(Protocol):
    """One connection inside one transaction."""

    dialect: Dialect

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; returns the number of rows it changed."""
        ...

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Run a query; returns its first row or ``None``."""
        ...

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run a query; returns all its rows."""
        ...


class Database(Protocol):
    """A pool of connections to one database, opened lazily by the server."""

    dialect: Dialect
    url: str
    #: appended to a SELECT that claims rows: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, nothing on SQLite
    #: (whose write transactions are already exclusive).
    skip_locked: str

    async def open(self, *, migrate: bool = True) -> None:
        """Connect (idempotent); creates or migrates the schema unless ``migrate`` is false."""
        ...

    async def close(self) -> None:
        """Release every connection."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A write transaction: committed when the block ends, rolled back when it raises."""
        ...

    def read(self) -> AbstractAsyncContextManager[Connection]:
        """Reads; each statement sees a committed state (not necessarily one snapshot for the block)."""
        ...

    def statement(self) -> AbstractAsyncContextManager[Connection]:
        """A write of exactly ONE statement, atomic by itself: lets a backend skip BEGIN and COMMIT."""
        ...

    async def listen(self, channel: str, callback: Callable[[str], Awaitable[None] | None]) -> None:
        """Call ``callback(payload)`` for notifications on ``channel`` from other processes (if supported)."""
        ...

    async def notify(self, connection: Connection, channel: str, payload: str) -> None:
        """Send a notification to other processes when the transaction of ``connection`` commits."""
        ...
