"""How a CLI command reaches aiki: over HTTP (``--url``) or straight to the database (``--db``)."""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiki.client.client import Client, client
from aiki.errors import ConfigurationError
from aiki.server.server import Server, server
from aiki.store.factory import database


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=os.environ.get("AIKI_URL"), help="aiki server URL (env AIKI_URL)")
    parser.add_argument(
        "--api-key", default=os.environ.get("AIKI_API_KEY"), help="API key (env AIKI_API_KEY)"
    )
    parser.add_argument("--db", default=os.environ.get("AIKI_DB"), help="database URL (env AIKI_DB)")


@asynccontextmanager
async def open_server(db_url: str | None, *, read_only: bool = False) -> AsyncIterator[Server]:
    """An embedded server on ``db_url`` (no runtime), closed afterwards; ``read_only`` opens the database so
    that nothing can be written (and never migrates it)."""
    if not db_url:
        raise ConfigurationError("This command needs --db (or AIKI_DB), e.g. --db sqlite:///aiki.db")
    srv = server(db=database(db_url, read_only=read_only))
    try:
        await srv.open()
        yield srv
    finally:
        await srv.close()


@asynccontextmanager
async def open_client(arguments: argparse.Namespace, *, read_only: bool = False) -> AsyncIterator[Client]:
    """A client by ``--url`` (HTTP) or ``--db`` (embedded; opened read-only with ``read_only``)."""
    if arguments.url:
        c = client(url=arguments.url, api_key=arguments.api_key)
        try:
            yield c
        finally:
            await c.close()
        return
    async with open_server(arguments.db, read_only=read_only) as srv:
        yield client(server=srv)
