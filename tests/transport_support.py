"""Contract tests on both transports: ``transport_env`` gives a server with its runtime and a client that is
either embedded or HTTP (``srv.app`` served in-process through ``httpx.ASGITransport``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from aiki import Client, client, database, server
from aiki.client.http import HttpTransport
from aiki.server.server import Server
from tests.conftest import Env

TRANSPORTS = ["embedded", "http"]
#: the base URL of the in-process app (never resolved: requests go straight to the ASGI app)
IN_PROCESS_URL = "http://aiki.test"


def http_client(srv: Server, *, api_key: str | None = None, namespace: str | None = None) -> Client:
    """A client of ``srv.app`` over HTTP, served in this process (no socket)."""
    transport = HttpTransport(
        IN_PROCESS_URL, api_key=api_key, namespace=namespace, http_transport=httpx.ASGITransport(srv.app)
    )
    return Client(transport)


def raw_http(srv: Server, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """A plain httpx client of ``srv.app`` (in-process), to send requests the aiki client never would.

    A failing app answers 500 rather than raising here, so tests can assert on the status.
    """
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(srv.app, raise_app_exceptions=False),
        base_url=IN_PROCESS_URL,
        headers=headers,
    )


class TransportEnv(Env):
    """An ``Env`` whose client speaks the transport ``kind``; the client is closed at teardown too."""

    def __init__(self, srv: Server, c: Client, kind: str) -> None:
        super().__init__(srv, c, None)
        self.kind = kind

    async def close_client(self) -> None:
        await self.client.close()


@pytest.fixture(params=TRANSPORTS)
async def transport_env(request: pytest.FixtureRequest, db_url: str) -> AsyncIterator[TransportEnv]:
    """A server on the system clock with its runtime, and a client over the embedded or the HTTP transport."""
    srv = server(db=database(db_url), opts={"poll_interval_ms": 200})
    await srv.runtime.start()
    c = client(server=srv) if request.param == "embedded" else http_client(srv)
    environment = TransportEnv(srv, c, request.param)
    yield environment
    await environment.close()
