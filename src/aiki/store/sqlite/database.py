"""SQLite backend: one file in WAL mode, one connection per process and event loop, group commit.

Other processes on the same file are serialised by ``BEGIN IMMEDIATE`` and ``busy_timeout``.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from urllib.parse import quote

from aiki.errors import ConfigurationError
from aiki.store.connection import Connection
from aiki.store.migrations import check_schema_current, migrate, migration_files
from aiki.store.sqlite.connection import SqliteConnection, dict_row
from aiki.store.sqlite.shared_file import OPEN_FILES, SharedFile

BUSY_TIMEOUT_MS = 10_000


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite://`` URL (``sqlite:///rel.db``, ``sqlite:////abs.db``, ``:memory:``)."""
    rest = url.split("://", 1)[1]
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/") or rest == "/":
        raise ConfigurationError(
            f"SQLite URL {url!r} has no file path: use 'sqlite:///relative.db' or 'sqlite:////abs/path.db'."
        )
    return rest[1:]


class SqliteDatabase:
    """An aiki database in one SQLite file."""

    def __init__(self, url: str, *, synchronous: str = "FULL", read_only: bool = False) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigurationError(
                f"synchronous={synchronous!r} is not a SQLite synchronous level: use FULL or NORMAL."
            )
        self.url = url
        self.path = sqlite_path(url)
        if read_only and self.path == ":memory:":
            raise ConfigurationError(
                f"{url} cannot be opened read-only: an in-memory database starts empty. Name a file."
            )
        #: opened with ``mode=ro``: SQLite refuses every write, and the file is never migrated
        self.read_only = read_only
        #: the file, resolved against the working directory when the database object is made
        self.real_path = os.path.realpath(self.path) if self.path != ":memory:" else self.path
        self.synchronous = synchronous.upper()
        self._file: SharedFile | None = None
        self._open_lock: asyncio.Lock | None = None

    @property
    def redacted_url(self) -> str:
        return self.url

    async def exists(self) -> bool:
        return self.path == ":memory:" or await asyncio.to_thread(os.path.exists, self.path)

    async def open(self, *, migrate: bool = True) -> None:
        if self._file is not None:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._file is not None:
                return
            if self.read_only:
                self._file = await self._open_read_only()
                return
            key = None
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                key = (self.real_path, asyncio.get_running_loop())
                shared = OPEN_FILES.get(key)
                if shared is not None:
                    shared.users += 1
                    self._file = shared
                    return
            raw = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            raw.row_factory = dict_row
            raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            raw.execute("PRAGMA journal_mode = WAL")
            raw.execute(f"PRAGMA synchronous = {self.synchronous}")
            if migrate:
                raw.execute("BEGIN IMMEDIATE")
                try:
                    await _migrate(SqliteConnection(raw))
                    raw.execute("COMMIT")
                except BaseException:
                    raw.execute("ROLLBACK")
                    raw.close()
                    raise
            opened = SharedFile(raw, key)
            opened.users = 1
            if key is not None:
                OPEN_FILES[key] = opened
            self._file = opened

    def _read_only_uri(self) -> str:
        """The URI that opens the file with ``mode=ro``; the file must exist (SQLite would not create it)."""
        if not Path(self.path).is_file():
            raise ConfigurationError(
                f"There is no SQLite database at {self.real_path} to open read-only: check the URL ({self.url})."
            )
        return f"file:{quote(self.real_path)}?mode=ro"

    async def _open_read_only(self) -> SharedFile:
        """A connection of its own (never shared with writers of the file) that cannot write."""
        raw = sqlite3.connect(self._read_only_uri(), uri=True, isolation_level=None, check_same_thread=False)
        raw.row_factory = dict_row
        raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        try:
            await check_schema_current(SqliteConnection(raw), "sqlite", self.url)
        except BaseException:
            raw.close()
            raise
        opened = SharedFile(raw, None)
        opened.users = 1
        return opened

    async def close(self) -> None:
        opened, self._file = self._file, None
        if opened is None:
            return
        opened.users -= 1
        if opened.users > 0:
            return
        if opened.key is not None and OPEN_FILES.get(opened.key) is opened:
            del OPEN_FILES[opened.key]
        await opened.close()

    def _opened(self) -> SharedFile:
        if self._file is None:
            raise ConfigurationError(f"The database {self.url} is not open (or was closed).")
        return self._file

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A write transaction (see ``SharedFile.transaction``: group commit)."""
        return self._opened().transaction()

    def read(self) -> AbstractAsyncContextManager[Connection]:
        return self._opened().read()

    def statement(self) -> AbstractAsyncContextManager[Connection]:
        """A transaction of exactly one store method (here simply a transaction)."""
        return self._opened().transaction()

    async def listen(self, channel: str, callback: Callable[[str], Awaitable[None] | None]) -> None:
        """SQLite has no cross-process notifications: other processes are found by polling."""

    async def notify(self, connection: Connection, channel: str, payload: str) -> None:
        """No-op: see ``listen``."""

    def is_transient(self, error: BaseException) -> bool:
        """A busy file (another process held the write lock past ``busy_timeout``) is worth another try."""
        return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)

    def migration_names(self) -> list[str]:
        return [name for _number, name, _sql in migration_files("sqlite")]


async def _migrate(connection: SqliteConnection) -> None:
    await migrate(connection, "sqlite", int(time.time() * 1000))
