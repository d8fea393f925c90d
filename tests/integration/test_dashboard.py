"""The dashboard's static files as ``srv.app`` serves them, and the API routes its script calls."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiki import Server, database, server
from tests.transport_support import raw_http

#: ``name: ["METHOD", "/path"]`` entries of the script's ROUTES table
ROUTE_ENTRY = re.compile(r'^\s*(\w+): \["(GET|POST|PUT|PATCH|DELETE)", "(/[^"]*)"\],?$', re.MULTILINE)
STRING_LITERAL = re.compile(r"\"([^\"\\\n]*)\"|'([^'\\\n]*)'|`([^`\\]*)`")


@pytest.fixture
async def srv(tmp_path: Path) -> AsyncIterator[Server]:
    instance = server(db=database(f"sqlite:///{tmp_path}/dashboard.db"))
    yield instance
    await instance.close()


@pytest.fixture
async def http(srv: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with raw_http(srv) as caller:
        yield caller


async def get_text(http: httpx.AsyncClient, path: str) -> str:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    return response.text


def script_routes(script: str) -> dict[str, tuple[str, str]]:
    return {name: (method, path) for name, method, path in ROUTE_ENTRY.findall(script)}


def openapi_operations(document: dict[str, Any]) -> list[tuple[str, re.Pattern[str]]]:
    """``(METHOD, pattern)`` for every operation; a ``{parameter}`` matches one path segment."""
    operations = []
    for template, methods in document["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$")
        operations += [(method.upper(), pattern) for method in methods]
    return operations


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/dashboard.js", "text/javascript; charset=utf-8"),
        ("/dashboard.css", "text/css; charset=utf-8"),
    ],
)
async def test_each_dashboard_file_is_served_with_its_media_type(
    http: httpx.AsyncClient, path: str, media_type: str
) -> None:
    response = await http.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.text.strip()


async def test_every_file_the_page_links_to_is_served(http: httpx.AsyncClient) -> None:
    page = await get_text(http, "/")
    linked = re.findall(r'(?:src|href)="([^"]+)"', page)

    assert sorted(linked) == ["dashboard.css", "dashboard.js"]
    for name in linked:
        assert (await http.get(f"/{name}")).status_code == 200


async def test_every_api_route_the_script_calls_exists_in_the_openapi_description(
    http: httpx.AsyncClient,
) -> None:
    script = await get_text(http, "/dashboard.js")
    document = (await http.get("/api/v1/openapi.json")).json()
    operations = openapi_operations(document)
    routes = script_routes(script)

    assert len(routes) >= 9, routes
    for name, (method, path) in routes.items():
        concrete = "/api/v1" + re.sub(r"\{\w+\}", "x", path)
        assert any(method == known and pattern.match(concrete) for known, pattern in operations), (name, path)


async def test_the_script_reaches_the_api_only_through_its_route_table(http: httpx.AsyncClient) -> None:
    script = await get_text(http, "/dashboard.js")
    routes = script_routes(script)
    page = await get_text(http, "/")
    literals = ["".join(groups) for groups in STRING_LITERAL.findall(script)]

    assert script.count("fetch(") == 1
    assert [text for text in literals if "api/" in text] == ["api/v1"]
    assert {text for text in literals if text.startswith("/")} == {path for _method, path in routes.values()}
    called = set(re.findall(r'\bcall\("(\w+)"', script))
    assert called and called <= set(routes)
    # The detail panel's buttons call the route named by their data-action.
    actions = set(re.findall(r'data-action="(\w+)"', page))
    assert actions == {"pause", "resume", "awake", "cancel"}
    assert actions <= set(routes)


async def test_the_dashboard_files_are_public_while_the_api_requires_a_key(
    srv: Server, http: httpx.AsyncClient
) -> None:
    await srv.open()
    await srv.keys.create("default", "ops")

    assert (await http.get("/api/v1/runs")).status_code == 401
    for path in ("/", "/dashboard.js", "/dashboard.css"):
        assert (await http.get(path)).status_code == 200
