"""A fresh PostgreSQL database for each test that asks for one.

Creating and migrating a database costs a few hundred milliseconds on a loaded machine, so each session keeps
its own small stock of migrated databases (``aiki_t_<pid>_<n>``): a test gets one to itself, and when it ends
every connection to it is terminated and every row deleted before the next test gets it. The stock is
dropped when the session ends. A test of the migrations themselves asks for an empty database instead.

The server is found at ``AIKI_TEST_POSTGRES_URL`` (default: the local ``test`` database). When PostgreSQL is
selected and cannot be reached, the test fails: it is never skipped.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Coroutine
from typing import Any

import psycopg
import pytest
from psycopg import sql

from aiki.store.postgres.database import PostgresDatabase

ADMIN_URL = os.environ.get("AIKI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

#: deletes every row but the record of applied migrations, and restarts the id sequences
WIPE = """
DO $$
DECLARE item record;
BEGIN
    FOR item IN SELECT tablename FROM pg_tables
                WHERE schemaname = 'public' AND tablename <> 'aiki_migrations' LOOP
        EXECUTE format('DELETE FROM %I', item.tablename);
    END LOOP;
    FOR item IN SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' LOOP
        EXECUTE format('ALTER SEQUENCE %I RESTART', item.sequencename);
    END LOOP;
END $$
"""


def database_url(name: str) -> str:
    """The URL of database ``name`` on the test server."""
    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def _connect(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {url} (AIKI_TEST_BACKENDS includes 'postgres'): {error}. "
            "Start it with `bash scripts/services.sh`, or set AIKI_TEST_POSTGRES_URL.",
            pytrace=False,
        )


def _drop(name: str) -> None:
    with _connect(ADMIN_URL) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _run_in_thread(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` on a loop of its own (the caller may be inside a running loop)."""
    failures: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


async def _migrate(url: str) -> None:
    db = PostgresDatabase(url, max_connections=1)
    await db.open(migrate=True)
    await db.close()


class DatabaseStock:
    """The databases of one test session: created on demand, recycled between tests, dropped at the end."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._free: list[str] = []
        self._created: list[str] = []

    def create(self) -> str:
        """A new, empty database (no schema); it belongs to the stock until the session ends."""
        name = f"aiki_t_{os.getpid()}_{next(self._numbers)}"
        with _connect(ADMIN_URL) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        with self._lock:
            self._created.append(name)
        return name

    def take_migrated(self) -> str:
        """A migrated database without rows: a recycled one, or a new one."""
        with self._lock:
            name = self._free.pop() if self._free else ""
        if not name:
            name = self.create()
            _run_in_thread(_migrate(database_url(name)))
        return name

    def recycle(self, name: str) -> None:
        """End every session on ``name`` and delete its rows; the next test gets it."""
        with _connect(ADMIN_URL) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        try:
            with _connect(database_url(name)) as connection:
                connection.execute(WIPE)
        except psycopg.Error:
            self.drop(name)
            raise
        with self._lock:
            self._free.append(name)

    def drop(self, name: str) -> None:
        """Drop ``name`` and forget it."""
        _drop(name)
        with self._lock:
            if name in self._created:
                self._created.remove(name)
            if name in self._free:
                self._free.remove(name)

    def drop_all(self) -> None:
        """Drop every database of the session."""
        with self._lock:
            names, self._created, self._free = list(self._created), [], []
        for name in names:
            _drop(name)


_STOCK = pytest.StashKey[DatabaseStock]()


def _stock(config: pytest.Config) -> DatabaseStock:
    """The session's stock of databases, made (and its cleanup registered) on first use."""
    stock = config.stash.get(_STOCK, None)
    if stock is None:
        stock = config.stash[_STOCK] = DatabaseStock()
        config.add_cleanup(stock.drop_all)
    return stock


def fresh_postgres_url(request: pytest.FixtureRequest, *, migrated: bool = True) -> str:
    """The URL of a database that this test has to itself, migrated and without rows.

    ``migrated=False`` gives a new database with no schema at all (dropped when the test ends), for tests of
    the migrations themselves.
    """
    stock = _stock(request.config)
    if not migrated:
        empty = stock.create()
        request.addfinalizer(lambda: stock.drop(empty))
        return database_url(empty)
    name = stock.take_migrated()
    request.addfinalizer(lambda: stock.recycle(name))
    return database_url(name)
