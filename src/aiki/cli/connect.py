"""How a CLI command reaches aiki: over HTTP (``--url``) or straight to the database (``--db``)."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiki.client.client import Client, client
from aiki.errors import ConfigurationError
from aiki.server.server import Server, server
from aiki.store.factory import database


@asynccontextmanager
async def open_server(
    db_url: str | None, *, create: bool = False, read_only: bool = False
) -> AsyncIterator[Server]:
    """An embedded server on ``db_url`` (no runtime), closed afterwards. Unless ``create``, the database must
    exist already: a command that only reads or steers runs never leaves an empty database file behind.
    ``read_only`` opens the database so that nothing can be written (and never migrates it)."""
    if not db_url:
        raise ConfigurationError("This command needs --db (or AIKI_DB), e.g. --db sqlite:///aiki.db")
    db = database(db_url, read_only=read_only)
    if not create and not await db.exists():
        raise ConfigurationError(
            f"There is no aiki database at {db.redacted_url}. Check the path, or create it with "
            f"`aiki migrate --db {db.redacted_url}`."
        )
    srv = server(db=db)
    # A command acts on a database whose timers a runtime elsewhere fires (`aiki server`), not this one.
    srv.runtime.served_elsewhere()
    try:
        await srv.open()
        yield srv
    finally:
        await srv.close()


@asynccontextmanager
async def open_client(arguments: argparse.Namespace, *, read_only: bool = False) -> AsyncIterator[Client]:
    """A client by ``--url`` (HTTP) or ``--db`` (embedded, on a database that exists; opened read-only with
    ``read_only``)."""
    if arguments.url:
        c = client(url=arguments.url, api_key=arguments.api_key)
        try:
            yield c
        finally:
            await c.close()
        return
    if not arguments.db:
        raise ConfigurationError(
            "This command needs --url (an aiki server, env AIKI_URL) or --db (a database URL, env AIKI_DB)."
        )
    async with open_server(arguments.db, read_only=read_only) as srv:
        yield client(server=srv)
