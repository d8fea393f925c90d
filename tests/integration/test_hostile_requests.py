"""Requests no aiki client would send, answered with a 4xx that says what was wrong, storing nothing: bodies
too large or not JSON, durations and times out of range, unknown options, out-of-range pages, methods a route
does not have, another namespace's claims; and the headers every answer carries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from aiki import Server
from aiki.contract.limits import MAX_BODY_BYTES, MAX_DURATION_MS
from tests.http_api_support import http, srv
from tests.transport_support import raw_http

__all__ = ["http", "srv"]  # fixtures

START = {"name": "idle", "version_id": "1.0.0", "input": 1, "input_hash": "h", "options": {}}
CLAIM = {"worker_id": "w", "workflows": [["idle", "1.0.0"]], "shards": None, "limit": 1}


def error_of(response: httpx.Response, status_code: int) -> dict[str, Any]:
    assert response.status_code == status_code, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def runs_stored(http: httpx.AsyncClient) -> int:
    return int((await http.get("/api/v1/runs/count")).json()["count"])


async def claimed_run(http: httpx.AsyncClient) -> dict[str, Any]:
    assert (await http.post("/api/v1/runs", json=START)).status_code == 200
    (claimed,) = (await http.post("/api/v1/worker/claim", json=CLAIM)).json()["claimed"]
    item: dict[str, Any] = claimed
    return item


# Bodies


async def test_a_body_declared_larger_than_the_limit_is_refused_413_unread(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/api/v1/runs",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": str(MAX_BODY_BYTES + 1)},
    )
    error = error_of(response, 413)
    assert "Content-Length" in error["message"] and "16,777,216" in error["message"]


async def chunks(total: int, size: int = 1024 * 1024) -> AsyncIterator[bytes]:
    """A chunked body of ``total`` bytes that never exists in memory as a whole."""
    yield b'{"name": "'
    sent = 10
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b"x" * piece


async def test_a_chunked_body_over_the_limit_is_refused_413_while_it_streams(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        "/api/v1/runs", content=chunks(MAX_BODY_BYTES * 4), headers={"content-type": "application/json"}
    )
    error = error_of(response, 413)
    assert "more than 16,777,216 bytes arrived" in error["message"]
    assert await runs_stored(http) == 0


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_not_declared_as_json_is_refused_415(
    http: httpx.AsyncClient, content_type: str | None
) -> None:
    request = http.build_request("POST", "/api/v1/runs", content=b'{"name": "idle"}')
    request.headers.pop("content-type", None)
    if content_type is not None:
        request.headers["content-type"] = content_type
    error = error_of(await http.send(request), 415)
    assert "application/json" in error["message"]


async def test_json_with_a_charset_and_an_empty_body_without_a_type_are_accepted(
    http: httpx.AsyncClient,
) -> None:
    accepted = await http.post(
        "/api/v1/runs", json=START, headers={"content-type": "application/json; charset=utf-8"}
    )
    run_id = accepted.json()["id"]
    paused = await http.post(f"/api/v1/runs/{run_id}/pause")
    assert (accepted.status_code, paused.status_code) == (200, 200)


# Durations, times, counts and options


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "sleep", "name": "nap", "index": 0, "duration_ms": 2**53 - 1}, "duration_ms"),
        ({"kind": "sleep", "name": "nap", "index": 0, "duration_ms": -5}, "duration_ms"),
        ({"kind": "sleep", "name": "nap", "index": 0, "duration_ms": 0}, "duration_ms"),
        ({"kind": "sleep", "name": "nap", "index": -1, "duration_ms": 10}, "index"),
        ({"kind": "retry", "retry_kind": "workflow", "duration_ms": MAX_DURATION_MS + 1}, "duration_ms"),
        ({"kind": "event_wait", "name": "paid", "timeout_ms": -1}, "timeout_ms"),
        ({"kind": "sleep", "name": "nap"}, "duration_ms"),
        ({"kind": "child_wait", "child_run_id": "c", "child_status": "running"}, "child_status"),
    ],
)
async def test_an_outcome_with_a_duration_or_count_out_of_range_is_refused(
    http: httpx.AsyncClient, changes: dict[str, Any], field: str
) -> None:
    claimed = await claimed_run(http)
    outcome = {
        "run_id": claimed["run"]["id"],
        "claim_token": claimed["claim_token"],
        "expected_revision": claimed["run"]["revision"],
        **changes,
    }
    error = error_of(await http.post("/api/v1/worker/finish", json=outcome), 400)
    assert error["data"]["field"] == field
    run = (await http.get(f"/api/v1/runs/{claimed['run']['id']}")).json()
    assert run["state"]["status"] == "running" and run["revision"] == claimed["run"]["revision"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": "awaiting_retry", "retry_delay_ms": 2**53 - 1}, "retry_delay_ms"),
        ({"status": "awaiting_retry"}, "retry_delay_ms"),
        ({"attempts": 0}, "attempts"),
        ({"occurrence": -1}, "occurrence"),
    ],
)
async def test_a_task_result_out_of_range_is_refused(
    http: httpx.AsyncClient, changes: dict[str, Any], field: str
) -> None:
    claimed = await claimed_run(http)
    write = {
        "run_id": claimed["run"]["id"],
        "claim_token": claimed["claim_token"],
        "name": "t",
        "address": "t:h",
        "occurrence": 0,
        "status": "completed",
        "attempts": 1,
        **changes,
    }
    error = error_of(await http.post("/api/v1/worker/tasks", json=write), 400)
    assert error["data"]["field"] == field
    assert (await http.get(f"/api/v1/runs/{claimed['run']['id']}/history")).json()["tasks"] == []


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"delay_ms": MAX_DURATION_MS + 1}, "delay_ms", "from 0 to"),
        ({"at_ms": 2**53 - 1}, "at_ms", "from -62135596800000"),
        ({"options": {"retry": {"type": "fixed"}}}, "options.retry", "needs the key 'max_attempts'"),
        (
            {"options": {"retry": {"type": "fixed", "max_attempts": 2, "delay_ms": 2**53 - 1}}},
            "options.retry",
            "ten years",
        ),
        ({"options": {"retry": "always"}}, "options.retry", "retry policy"),
        ({"options": {"deadline": 5}}, "options", "unknown run option(s) 'deadline'"),
    ],
)
async def test_a_start_with_a_time_or_options_out_of_range_is_refused_and_stores_nothing(
    http: httpx.AsyncClient, changes: dict[str, Any], field: str, fragment: str
) -> None:
    error = error_of(await http.post("/api/v1/runs", json={**START, **changes}), 400)
    assert error["data"]["field"] == field and fragment in error["message"]
    assert await runs_stored(http) == 0


@pytest.mark.parametrize(
    "path",
    ["/api/v1/runs", "/api/v1/schedules", "/api/v1/schedules/some-id/runs"],
)
@pytest.mark.parametrize("limit", ["0", "1001", "-5", "many", ""])
async def test_every_list_refuses_a_page_size_outside_1_to_1000(
    http: httpx.AsyncClient, path: str, limit: str
) -> None:
    error = error_of(await http.get(path, params={"limit": limit}), 400)
    assert error["data"]["field"] == "limit"


@pytest.mark.parametrize(
    ("query", "field"), [("timeout_ms=60001", "timeout_ms"), ("known_revision=-2", "known_revision")]
)
async def test_a_long_poll_out_of_range_is_refused_not_clamped(
    http: httpx.AsyncClient, query: str, field: str
) -> None:
    run_id = (await http.post("/api/v1/runs", json=START)).json()["id"]
    error = error_of(await http.get(f"/api/v1/runs/{run_id}/wait?{query}"), 400)
    assert error["data"]["field"] == field


async def test_a_claim_out_of_range_is_refused(http: httpx.AsyncClient) -> None:
    for changes, field in (
        ({"limit": 1001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"wait_ms": 30_001}, "wait_ms"),
    ):
        error = error_of(await http.post("/api/v1/worker/claim", json={**CLAIM, **changes}), 400)
        assert error["data"]["field"] == field


async def test_an_unknown_query_parameter_is_refused_naming_the_ones_there_are(
    http: httpx.AsyncClient,
) -> None:
    error = error_of(await http.get("/api/v1/runs", params={"statuss": "failed"}), 400)
    assert "'statuss'" in error["message"] and "status" in error["message"]


# Methods, namespaces, headers


async def test_a_method_a_path_does_not_have_is_405_with_every_method_it_has(http: httpx.AsyncClient) -> None:
    response = await http.delete("/api/v1/runs")
    error_of(response, 405)
    assert response.headers["allow"] == "GET, HEAD, POST"


async def test_refreshing_another_namespaces_claim_reports_it_lost(srv: Server) -> None:
    _acme, acme_secret = await srv.keys.create("acme", "acme")
    _globex, globex_secret = await srv.keys.create("globex", "globex")
    async with raw_http(srv, {"authorization": f"Bearer {acme_secret}"}) as acme:
        claimed = await claimed_run(acme)
    async with raw_http(srv, {"authorization": f"Bearer {globex_secret}"}) as globex:
        answer = await globex.post(
            "/api/v1/worker/refresh", json={"claims": [[claimed["run"]["id"], claimed["claim_token"]]]}
        )
    assert answer.status_code == 200 and answer.json() == {"lost": [claimed["run"]["id"]]}


async def test_every_answer_says_nosniff_and_the_dashboard_may_not_be_framed(http: httpx.AsyncClient) -> None:
    api = await http.get("/api/v1/runs")
    missing = await http.get("/api/v1/nothing-here")
    page = await http.get("/")
    script = await http.get("/main.js")

    for response in (api, missing, page, script):
        assert response.headers["x-content-type-options"] == "nosniff"
    for response in (page, script):
        assert response.headers["x-frame-options"] == "DENY"
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
        assert "default-src 'none'" in policy
