"""The SQLite backend commits concurrent transactions together (one fsync) without mixing their fates."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from aiki.store.sqlite.database import SqliteDatabase


@pytest.fixture
async def db(tmp_path: Path) -> SqliteDatabase:
    database = SqliteDatabase(f"sqlite:///{tmp_path}/group.db")
    await database.open(migrate=False)
    async with database.transaction() as connection:
        await connection._execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL)")
    return database


async def insert(db: SqliteDatabase, label: str, fail: bool = False) -> None:
    async with db.transaction() as connection:
        await connection._execute("INSERT INTO items (label) VALUES (?)", (label,))
        if fail:
            raise RuntimeError(f"body {label} fails")


async def labels(db: SqliteDatabase) -> list[str]:
    async with db.read() as connection:
        rows = await connection._fetch_all("SELECT label FROM items ORDER BY id")
    return [row["label"] for row in rows]


async def test_concurrent_transactions_all_commit(db: SqliteDatabase) -> None:
    await asyncio.gather(*(insert(db, f"item-{index}") for index in range(50)))
    assert await labels(db) == [f"item-{index}" for index in range(50)]
    await db.close()


async def test_a_failing_body_rolls_back_alone_while_its_batch_mates_commit(db: SqliteDatabase) -> None:
    results = await asyncio.gather(
        insert(db, "a"), insert(db, "b", fail=True), insert(db, "c"), return_exceptions=True
    )
    assert isinstance(results[1], RuntimeError)
    assert await labels(db) == ["a", "c"]
    await db.close()


async def test_a_failing_first_body_rolls_back_and_the_next_transaction_works(db: SqliteDatabase) -> None:
    with pytest.raises(RuntimeError):
        await insert(db, "x", fail=True)
    await insert(db, "y")
    assert await labels(db) == ["y"]
    await db.close()


async def test_writes_are_visible_to_another_connection_once_the_transaction_returns(
    db: SqliteDatabase, tmp_path: Path
) -> None:
    await asyncio.gather(insert(db, "one"), insert(db, "two"))
    other = sqlite3.connect(tmp_path / "group.db")
    try:
        assert [row[0] for row in other.execute("SELECT label FROM items ORDER BY id")] == ["one", "two"]
    finally:
        other.close()
    await db.close()


async def test_two_database_objects_on_one_file_share_a_connection_and_never_block_each_other(
    db: SqliteDatabase, tmp_path: Path
) -> None:
    second = SqliteDatabase(f"sqlite:///{tmp_path}/group.db")
    await second.open(migrate=False)
    await asyncio.wait_for(
        asyncio.gather(*(insert(db if index % 2 else second, f"item-{index}") for index in range(20))), 5
    )
    await second.close()
    assert len(await labels(db)) == 20
    await db.close()
