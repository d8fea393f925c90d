"""What the tests of the raw HTTP API share: a server and a raw HTTP caller of it (fixtures), a start
request, and the check of an error body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from aiki import Server, database, server
from tests.transport_support import raw_http

#: a start of a workflow no worker serves: the run stays queued
IDLE_START = {
    "name": "idle",
    "version_id": "1.0.0",
    "input": {"n": 1},
    "input_hash": "hash-1",
    "options": {},
}


@pytest.fixture
async def srv(db_url: str) -> AsyncIterator[Server]:
    instance = server(db=database(db_url), opts={"poll_interval_ms": 200})
    yield instance
    await instance.close()


@pytest.fixture
async def http(srv: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with raw_http(srv) as caller:
        yield caller


async def start_run(http: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await http.post("/api/v1/runs", json={**IDLE_START, **changes})
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    return run


def assert_error(response: httpx.Response, status_code: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"] == "application/json"
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"type", "code", "message", "data"}
    assert error["type"] == error_type, error
    assert error["message"]
    return error
