"""``database(url, read_only=True)``: reads work, every write is refused by the database itself, the schema
is checked instead of migrated, and a database that cannot be read that way says why."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from aiki import ConfigurationError, client, database, server
from tests.conftest import BACKENDS
from tests.integration.replay_check_support import seed


async def test_a_read_only_database_reads_what_was_written_and_refuses_to_write(db_url: str) -> None:
    seeded = await seed(db_url)
    srv = server(db=database(db_url, read_only=True))
    reader = client(server=srv)
    try:
        run = await reader.get_run(seeded.waiting)
        with pytest.raises(Exception, match=r"read-only|readonly"):
            await reader.transport.cancel_run(run.id, "not allowed")
        assert (await reader.get_run(seeded.waiting)).status is run.status
    finally:
        await srv.close()


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no aiki schema: an empty SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        sqlite3.connect(tmp_path / "empty.db").close()
        return f"sqlite:///{tmp_path}/empty.db"
    from tests.postgres_support import fresh_postgres_url

    return fresh_postgres_url(request, migrated=False)


def record_first_migration_only(url: str) -> None:
    """Make ``url`` look like a database that an older aiki migrated: migration 1 recorded, no more."""
    create = "CREATE TABLE aiki_migrations (number INTEGER PRIMARY KEY, name TEXT, applied_at_ms BIGINT)"
    insert = "INSERT INTO aiki_migrations VALUES (1, '0001_initial.sql', 0)"
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            connection.execute(create)
            connection.execute(insert)
        return
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(create)
        connection.execute(insert)


async def test_a_database_without_the_schema_is_refused_before_any_read(empty_db_url: str) -> None:
    srv = server(db=database(empty_db_url, read_only=True))
    with pytest.raises(
        ConfigurationError, match=r"holds no aiki schema \(.*aiki_migrations.*\): .*`aiki migrate --db URL`"
    ):
        await srv.open()
    await srv.close()


async def test_a_database_whose_schema_is_behind_is_refused_naming_the_migrations_it_lacks(
    empty_db_url: str,
) -> None:
    record_first_migration_only(empty_db_url)
    srv = server(db=database(empty_db_url, read_only=True))
    with pytest.raises(ConfigurationError, match=r"lacks the migrations 0002_schedules.sql"):
        await srv.open()
    await srv.close()


async def test_a_read_only_database_must_be_an_existing_file_and_a_yes_or_no(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no SQLite database at"):
        await server(db=database(f"sqlite:///{tmp_path}/missing.db", read_only=True)).open()
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(ConfigurationError, match="in-memory database starts empty"):
        database("sqlite://:memory:", read_only=True)
    with pytest.raises(ConfigurationError, match="True or False"):
        database(f"sqlite:///{tmp_path}/a.db", read_only="yes")  # type: ignore[arg-type]
