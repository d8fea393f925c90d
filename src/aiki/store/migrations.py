"""Append-only, numbered ``.sql`` migrations per backend, applied in order and recorded."""

from __future__ import annotations

from importlib import resources
from typing import Literal

from aiki.errors import ConfigurationError
from aiki.store.queries.base import QueryBase

Dialect = Literal["sqlite", "postgres"]

MIGRATIONS_TABLE = "aiki_migrations"


def migration_files(dialect: Dialect) -> list[tuple[int, str, str]]:
    """``(number, file name, sql)`` for every migration of ``dialect``, in order."""
    folder = resources.files("aiki.store").joinpath("migrations", dialect)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def split_statements(sql: str) -> list[str]:
    """Split a migration file into statements (our migrations contain no ``;`` inside literals)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]


async def applied_migrations(connection: QueryBase) -> set[int]:
    """Numbers of the migrations already applied (creates the bookkeeping table if needed)."""
    await connection._execute(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
        "(number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)"
    )
    rows = await connection._fetch_all(f"SELECT number FROM {MIGRATIONS_TABLE}")
    return {int(row["number"]) for row in rows}


async def migrate(connection: QueryBase, dialect: Dialect, now_ms: int) -> list[str]:
    """Apply every pending migration inside the caller's transaction; returns the names applied."""
    done = await applied_migrations(connection)
    applied = []
    for number, name, sql in migration_files(dialect):
        if number in done:
            continue
        for statement in split_statements(sql):
            await connection._execute(statement)
        await connection._execute(
            f"INSERT INTO {MIGRATIONS_TABLE} (number, name, applied_at_ms) VALUES (?, ?, ?)",
            (number, name, now_ms),
        )
        applied.append(name)
    return applied


async def check_schema_current(connection: QueryBase, dialect: Dialect, where: str) -> None:
    """Refuse a database whose schema is missing or behind, without writing (for read-only use).

    Raises:
        ConfigurationError: naming ``where`` (the database) and what to do.
    """
    try:
        rows = await connection._fetch_all(f"SELECT number FROM {MIGRATIONS_TABLE}")
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigurationError(
            f"{where} holds no aiki schema ({reason}): check the URL, or create the schema with "
            f"`aiki migrate --db URL`."
        ) from None
    done = {int(row["number"]) for row in rows}
    pending = [name for number, name, _sql in migration_files(dialect) if number not in done]
    if pending:
        raise ConfigurationError(
            f"The aiki schema of {where} lacks the migrations {', '.join(pending)}, and a read-only database "
            f"cannot be migrated: run `aiki migrate --db URL` first (or use the aiki release that wrote it)."
        )
