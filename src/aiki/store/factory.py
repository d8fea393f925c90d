"""``database(url)``: pick the backend from the URL."""

from __future__ import annotations

from aiki.errors import ConfigurationError
from aiki.store.database import Database


def database(
    url: str,
    *,
    max_connections: int = 10,
    synchronous: str = "FULL",
    read_only: bool = False,
    connection_wait_ms: int = 5_000,
) -> Database:
    """Describe the database aiki stores everything in; it is opened when the server first needs it.

    Args:
        url: ``sqlite:///relative.db``, ``sqlite:////absolute/path.db``, ``sqlite://:memory:`` or
            ``postgresql://user@host:port/dbname``.
        max_connections: the pool bound for this process (PostgreSQL). Every request, worker call and timer
            batch holds one connection while it runs; size it to the concurrent work of this process.
        connection_wait_ms: how long a request waits for a connection of a busy pool (PostgreSQL) before
            it is answered ``ServerBusyError`` (HTTP 503 with ``Retry-After``).
        synchronous: SQLite's ``PRAGMA synchronous`` (``FULL`` is durable at every commit; ``NORMAL`` in WAL
            mode may lose the last commits on power loss, never on a process crash).
        read_only: open the database so that nothing can be written (SQLite ``mode=ro``; PostgreSQL sessions
            with ``default_transaction_read_only``): for tools that only read, such as the replay check. The
            schema must exist and be current; it is never migrated.
    """
    if not isinstance(read_only, bool):
        raise ConfigurationError(f"database(read_only=...) takes True or False, got {read_only!r}.")
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError(
            f"Database URL {url!r} is not a URL. Use 'sqlite:///aiki.db' or 'postgresql://user@host/db'."
        )
    scheme = url.split("://", 1)[0].lower()
    if scheme == "sqlite":
        from aiki.store.sqlite.database import SqliteDatabase

        return SqliteDatabase(url, synchronous=synchronous, read_only=read_only)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        from aiki.store.postgres.database import PostgresDatabase

        return PostgresDatabase(
            url, max_connections=max_connections, read_only=read_only, connection_wait_ms=connection_wait_ms
        )
    raise ConfigurationError(
        f"Unsupported database scheme {scheme!r} in {url!r}. aiki supports 'sqlite://' and 'postgresql://'."
    )
