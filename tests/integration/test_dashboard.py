"""The dashboard's static files as ``srv.app`` serves them, and the API routes its script calls."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from aiki import Server, database, server
from aiki.server.http.dashboard import FILES, MODULES
from tests.transport_support import raw_http

#: an API path the modules call: ``api("/runs")``, ``post(`/runs/bulk/${action}`)``, ``runPath(id, "/history")``
CALLED_PATH = re.compile(r"""(?:api|post)\(\s*(["`])(/[^"`]*)\1""")
RUN_PATH = re.compile(r"""runPath\([^,()]+(?:,\s*(["`])(/[^"`]*)\1)?\)""")
IMPORT = re.compile(r"""^import .* from "\./([\w.]+)";$""", re.MULTILINE)


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


async def scripts(http: httpx.AsyncClient) -> dict[str, str]:
    return {name: await get_text(http, f"/{name}") for name in MODULES}


def called_paths(script: str) -> set[str]:
    """The API paths a module calls, with each ``${...}`` of a template replaced by one segment ``x``."""
    paths = {match[1] for match in CALLED_PATH.findall(script)}
    paths |= {"/runs/x" + (match[1] or "") for match in RUN_PATH.findall(script)}
    return {re.sub(r"\$\{[^}]*\}", "x", path) for path in paths if path != "/runs/${id}"}


@pytest.mark.parametrize(("path", "media_type"), [(path, media) for path, (_name, media) in FILES.items()])
async def test_each_dashboard_file_is_served_with_its_media_type(
    http: httpx.AsyncClient, path: str, media_type: str
) -> None:
    response = await http.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.text.strip()


async def test_every_file_the_page_and_its_modules_load_is_served(http: httpx.AsyncClient) -> None:
    page = await get_text(http, "/")
    linked = [name for name in re.findall(r'(?:src|href)="([^"#]+)"', page) if not name.startswith("data:")]
    imported = {name for script in (await scripts(http)).values() for name in IMPORT.findall(script)}

    assert sorted(linked) == ["dashboard.css", "main.js"]
    assert imported == set(MODULES) - {"main.js"}
    for name in [*linked, *imported]:
        assert (await http.get(f"/{name}")).status_code == 200


async def test_every_api_path_the_modules_call_exists_in_the_openapi_description(
    http: httpx.AsyncClient,
) -> None:
    document = (await http.get("/api/v1/openapi.json")).json()
    called = set().union(*(called_paths(script) for script in (await scripts(http)).values()))

    assert {"/runs", "/runs/count", "/workflows/stats", "/runs/x/history", "/runs/bulk/x"} <= called, called
    templates = [template.split("/") for template in document["paths"]]
    for path in called:
        segments = ("/api/v1" + path).split("/")
        assert any(
            len(template) == len(segments)
            and all(a == b or a.startswith("{") or b == "x" for a, b in zip(template, segments, strict=True))
            for template in templates
        ), path


async def test_the_page_loads_nothing_from_another_origin_and_fetches_only_in_one_module(
    http: httpx.AsyncClient,
) -> None:
    texts = {"index.html": await get_text(http, "/"), "dashboard.css": await get_text(http, "/dashboard.css")}
    texts.update(await scripts(http))

    for name, text in texts.items():
        assert not re.search(r"https?://|//cdn|@import", text), name
    assert [name for name, text in texts.items() if "fetch(" in text] == ["api.js"]


async def test_the_dashboard_files_are_public_while_the_api_requires_a_key(
    srv: Server, http: httpx.AsyncClient
) -> None:
    await srv.open()
    await srv.keys.create("default", "ops")

    assert (await http.get("/api/v1/runs")).status_code == 401
    for path in FILES:
        assert (await http.get(path)).status_code == 200
