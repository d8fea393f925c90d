"""The driver-neutral database interface the server is written against.

A ``Database`` hands out the store's ``Connection`` (every query of aiki, as methods) inside a transaction,
a single statement, or for reads. Which database it is stays inside ``aiki.store``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from aiki.store.connection import Connection


class Database(Protocol):
    """A pool of connections to one database, opened lazily by the server."""

    #: the URL it was made from (as given: print it with ``redacted_url``)
    url: str

    @property
    def redacted_url(self) -> str:
        """The URL without its password, for messages and logs."""
        ...

    async def exists(self) -> bool:
        """Whether the database is there already (a SQLite file is created by ``open``; a PostgreSQL database
        must be created by its administrator, so it is taken to exist)."""
        ...

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
        """A write of exactly ONE store method that is one statement on this backend (the store's claim,
        checkpoint and finish methods say so): lets a backend skip BEGIN and COMMIT."""
        ...

    async def listen(self, channel: str, callback: Callable[[str], Awaitable[None] | None]) -> None:
        """Call ``callback(payload)`` for notifications on ``channel`` from other processes (if supported)."""
        ...

    async def notify(self, connection: Connection, channel: str, payload: str) -> None:
        """Send a notification to other processes when the transaction of ``connection`` commits."""
        ...

    def is_transient(self, error: BaseException) -> bool:
        """Whether ``error`` aborted a transaction that is worth running again from the start (a deadlock,
        a serialisation failure, a lock timeout)."""
        ...

    def migration_names(self) -> list[str]:
        """The file names of this backend's migrations, in order."""
        ...
