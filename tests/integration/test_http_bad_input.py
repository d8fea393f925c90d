"""Bad input of every kind on every route of the HTTP API, answered with a 4xx JSON error, never a 500."""

from __future__ import annotations

import json
from typing import Any

import httpx

from aiki import Server
from tests.http_api_support import IDLE_START, assert_error, http, srv, start_run

__all__ = ["http", "srv"]  # fixtures


GARBAGE_BODIES: list[bytes] = [
    b"{",
    b"[1, 2]",
    b'"text"',
    b"null",
    b"42",
    b"\xff\xfe\x00",
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"a": 1e999}',
    b"[" * 50_000,
    b'{"a": 1' + b"0" * 5000 + b"}",
    b'{"zzz": 1}',
    b'{"name": "\\u0000", "reference_id": "\\ud800"}',
]

TYPED_BODIES: dict[str, list[dict[str, Any]]] = {
    "/api/v1/runs": [
        {},
        {**IDLE_START, "name": 1},
        {**IDLE_START, "name": "a\u0000b"},
        {**IDLE_START, "reference_id": "\ud800"},
        {**IDLE_START, "options": []},
        {**IDLE_START, "conflict_policy": "maybe"},
        {**IDLE_START, "delay_ms": 2**63},
        {**IDLE_START, "at_ms": -(2**64)},
        {**IDLE_START, "delay_ms": True},
        {**IDLE_START, "at_ms": 1.5},
        {**IDLE_START, "parent": "p"},
        {**IDLE_START, "parent": {"run_id": 1}},
        {**IDLE_START, "parent": {"run_id": "x", "claim_token": "t", "address": "a", "occurrence": 0}},
        {**IDLE_START, "input": {"deep": [[[["\ud800"]]]]}},
    ],
    "/api/v1/runs/{id}/cancel": [{"reason": 5}, {"reason": ["x"]}, {"why": "x"}],
    "/api/v1/runs/{id}/pause": [{"now": True}],
    "/api/v1/runs/{id}/resume": [{"x": None}],
    "/api/v1/runs/{id}/awake": [{"x": 1}],
    "/api/v1/runs/{id}/events/approval": [
        {"reference_id": 5},
        {"data": 1, "extra": 2},
        {"reference_id": "\u0000"},
    ],
    "/api/v1/worker/claim": [
        {},
        {"worker_id": "w", "workflows": "idle", "shards": None, "limit": 1},
        {"worker_id": "w", "workflows": [["idle"]], "shards": None, "limit": 1},
        {"worker_id": "w", "workflows": [[1, 2]], "shards": None, "limit": 1},
        {"worker_id": "w", "workflows": [], "shards": "abc", "limit": 1},
        {"worker_id": "w", "workflows": [], "shards": None, "limit": "1"},
        {"worker_id": "w", "workflows": [["idle", "1.0.0"]], "shards": None, "limit": 2**70},
        {"worker_id": "w", "workflows": [], "shards": None, "limit": 1, "wait_ms": True},
    ],
    "/api/v1/worker/refresh": [
        {},
        {"claims": "x"},
        {"claims": [["a"]]},
        {"claims": [[1, "b"]]},
        {"claims": [None]},
    ],
    "/api/v1/worker/tasks": [
        {},
        {
            "run_id": "{id}",
            "claim_token": "t",
            "name": "n",
            "address": "a",
            "occurrence": 0,
            "status": "done",
            "attempts": 1,
        },
        {
            "run_id": "{id}",
            "claim_token": "t",
            "name": "n",
            "address": "a",
            "occurrence": "0",
            "status": "completed",
            "attempts": 1,
        },
        {
            "run_id": "{id}",
            "claim_token": "t",
            "name": "n",
            "address": "a",
            "occurrence": 0,
            "status": "completed",
            "attempts": 1,
            "error": "boom",
        },
    ],
    "/api/v1/worker/finish": [
        {},
        {"run_id": "{id}", "claim_token": "t", "expected_revision": 0, "kind": "explode"},
        {"run_id": "{id}", "claim_token": "t", "expected_revision": "0", "kind": "complete"},
        {"run_id": "{id}", "claim_token": "t", "expected_revision": 0, "kind": "sleep"},
        {
            "run_id": "{id}",
            "claim_token": "t",
            "expected_revision": 0,
            "kind": "child_wait",
            "child_run_id": "c",
            "child_status": "running",
        },
        {
            "run_id": "{id}",
            "claim_token": "t",
            "expected_revision": 0,
            "kind": "retry",
            "duration_ms": 1,
            "retry_kind": "forever",
        },
    ],
    "/api/v1/worker/release": [{}, {"run_id": 1, "claim_token": "t"}, {"run_id": "{id}"}],
    "/api/v1/schedules": [
        {"workflow_name": 1},
        {
            "workflow_name": "w",
            "version_id": "1",
            "timing": "x",
            "overlap_policy": "skip",
            "input": None,
            "run_options": {},
        },
        {
            "workflow_name": "w",
            "version_id": "1",
            "timing": {"type": "interval", "every_ms": -1},
            "overlap_policy": "nah",
            "input": None,
            "run_options": [],
        },
    ],
    "/api/v1/schedules/nope/pause": [{"x": 1}],
}

BAD_GETS = [
    "/api/v1/runs?limit=abc",
    "/api/v1/runs?limit=99999999999999999999999",
    "/api/v1/runs?status=sleepy",
    "/api/v1/runs?cursor=%00",
    "/api/v1/runs?cursor=bm90LWEtY3Vyc29y",
    "/api/v1/runs?order=sideways",
    "/api/v1/runs?limit=0",
    "/api/v1/runs?limit=1001",
    "/api/v1/runs?status=queued,sleepy",
    "/api/v1/runs?version=1.0.0",
    "/api/v1/runs?created_after=yesterday",
    "/api/v1/runs/count?status=sleepy",
    "/api/v1/runs/%00",
    "/api/v1/runs/%00/history",
    "/api/v1/runs/{id}/wait?known_revision=abc",
    "/api/v1/runs/{id}/wait?known_revision=0&timeout_ms=-5",
    "/api/v1/runs/{id}/wait?known_revision=0&timeout_ms=1e3",
    "/api/v1/runs/{id}/events/x",
    "/api/v1/schedules?limit=x",
    "/api/v1/schedules?limit=0",
    "/api/v1/schedules?status=sleepy",
    "/api/v1/schedules/%00",
    "/api/v1/schedules/nope/runs?limit=2000",
]


def _fill(value: Any, run_id: str) -> Any:
    if isinstance(value, str):
        return value.replace("{id}", run_id)
    if isinstance(value, dict):
        return {key: _fill(item, run_id) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, run_id) for item in value]
    return value


async def test_malformed_bodies_on_every_post_route_get_a_4xx_json_error(
    http: httpx.AsyncClient, srv: Server
) -> None:
    run_id = (await start_run(http))["id"]
    failures = []
    for route, typed in TYPED_BODIES.items():
        path = route.replace("{id}", run_id)
        bodies = [*GARBAGE_BODIES, *(_json_bytes(_fill(body, run_id)) for body in typed)]
        for body in bodies:
            response = await http.post(path, content=body, headers={"content-type": "application/json"})
            if response.status_code in (200, 204):
                continue
            if not 400 <= response.status_code < 500 or "error" not in response.json():
                failures.append((path, body[:80], response.status_code, response.text[:200]))
    assert failures == []


async def test_malformed_query_and_path_parameters_get_a_4xx_json_error(http: httpx.AsyncClient) -> None:
    run_id = (await start_run(http))["id"]
    failures = []
    for url in BAD_GETS:
        response = await http.get(url.replace("{id}", run_id))
        if not 400 <= response.status_code < 500 or "error" not in response.json():
            failures.append((url, response.status_code, response.text[:200]))
    assert failures == []


async def test_a_malformed_namespace_header_is_a_400(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/runs", headers={"x-aiki-namespace": "no spaces allowed"})
    error = assert_error(response, 400, "InvalidRequestError")
    assert error["data"]["field"] == "x-aiki-namespace"


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()
