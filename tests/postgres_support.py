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

_counter = itertools.count(1)
_lock = threading.Lock()
_free: list[str] = []
_created: list[str] = []


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


def _create(config: pytest.Config) -> str:
    name = f"aiki_t_{os.getpid()}_{next(_counter)}"
    with _connect(ADMIN_URL) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with _lock:
        if not _created:
            config.add_cleanup(_drop_all)
        _created.append(name)
    return name


def _drop(name: str) -> None:
    with _connect(ADMIN_URL) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _drop_all() -> None:
    with _lock:
        names, _created[:] = list(_created), []
        _free.clear()
    for name in names:
        _drop(name)


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


def _recycle(name: str) -> None:
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
        _drop(name)
        with _lock:
            _created.remove(name)
        raise
    with _lock:
        _free.append(name)


def fresh_postgres_url(request: pytest.FixtureRequest, *, migrated: bool = True) -> str:
    """The URL of a database that this test has to itself, migrated and without rows.

    ``migrated=False`` gives a new database with no schema at all (dropped when the test ends), for tests of
    the migrations themselves.
    """
    if not migrated:
        name = _create(request.config)
        request.addfinalizer(lambda: _drop(name))
        return database_url(name)
    with _lock:
        name = _free.pop() if _free else ""
    if not name:
        name = _create(request.config)
        _run_in_thread(_migrate(database_url(name)))
    request.addfinalizer(lambda: _recycle(name))
    return database_url(name)
