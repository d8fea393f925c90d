"""The HTTP API as seen by a raw HTTP caller: routes, the OpenAPI description, error bodies and status codes,
and bad input of every kind answered with a 4xx JSON error, never a 500."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiki import (
    InvalidOptionError,
    NotFoundError,
    RevisionConflictError,
    ScheduleConflictError,
    SchemaValidationError,
    Server,
    UnauthorizedError,
    WorkflowRunConflictError,
    database,
    server,
)
from aiki.errors import (
    AikiError,
    ConfigurationError,
    ForbiddenError,
    InvalidRequestError,
    InvalidTransitionError,
    SerializationError,
)
from aiki.server.http.endpoint import Api
from tests.transport_support import IN_PROCESS_URL, raw_http

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


# Routes and their description


async def test_healthz_answers_ok(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_a_started_run_is_json_with_its_state(http: httpx.AsyncClient) -> None:
    run = await start_run(http)

    assert run["name"] == "idle" and run["input"] == {"n": 1} and run["revision"] == 0
    assert run["state"] == {"status": "queued", "reason": "new"}
    fetched = await http.get(f"/api/v1/runs/{run['id']}")
    assert fetched.json() == run


async def test_the_openapi_description_documents_every_route_with_its_methods(
    http: httpx.AsyncClient, srv: Server
) -> None:
    document = (await http.get("/api/v1/openapi.json")).json()

    assert document["openapi"].startswith("3.1")
    served: dict[str, set[str]] = {}
    for route in srv.app.routes:
        if isinstance(route, Route) and route.path.startswith(("/api/", "/healthz", "/metrics")):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            served.setdefault(path, set()).update(
                method.lower() for method in route.methods or () if method != "HEAD"
            )
    documented = {path: set(operations) for path, operations in document["paths"].items()}
    assert documented == served


async def test_every_schema_reference_of_the_openapi_description_resolves(http: httpx.AsyncClient) -> None:
    document = (await http.get("/api/v1/openapi.json")).json()
    text = str(document)
    references = set(re.findall(r"#/components/schemas/(\w+)", text))

    assert references <= set(document["components"]["schemas"])
    assert {"WorkflowRun", "StartRequest", "ClaimRequest", "RunOutcome", "Error"} <= references


# Error bodies and status codes


async def test_an_unknown_run_is_a_404_with_the_error_fields(http: httpx.AsyncClient) -> None:
    error = assert_error(await http.get("/api/v1/runs/nope"), 404, "NotFoundError")
    assert error["code"] == "NOT_FOUND"
    assert error["data"] == {"kind": "workflow run", "identifier": "nope"}


async def test_a_reference_conflict_is_a_409(http: httpx.AsyncClient) -> None:
    first = await start_run(http, reference_id="ref")
    response = await http.post(
        "/api/v1/runs", json={**IDLE_START, "reference_id": "ref", "input_hash": "other"}
    )
    error = assert_error(response, 409, "WorkflowRunConflictError")
    assert error["data"]["existing_run_id"] == first["id"]


async def test_an_invalid_transition_is_a_400(http: httpx.AsyncClient) -> None:
    run = await start_run(http)
    error = assert_error(await http.post(f"/api/v1/runs/{run['id']}/awake"), 409, "InvalidTransitionError")
    assert error["data"]["status"] == "queued"


async def test_a_stale_worker_write_is_a_409(http: httpx.AsyncClient) -> None:
    run = await start_run(http)
    outcome = {"run_id": run["id"], "claim_token": "stale", "expected_revision": 0, "kind": "complete"}
    assert_error(await http.post("/api/v1/worker/finish", json=outcome), 409, "RevisionConflictError")


class RaisingFeature:
    """A server feature that raises the error it is asked for: every error class reaches the HTTP edge."""

    ERRORS: dict[str, AikiError] = {
        "not_found": NotFoundError("schedule", "s1"),
        "run_conflict": WorkflowRunConflictError("w", "1", "r", "run-1"),
        "schedule_conflict": ScheduleConflictError("r", "s1"),
        "revision": RevisionConflictError("run-1", 3),
        "schema": SchemaValidationError("input of w", "must be an int", "amount"),
        "option": InvalidOptionError("bad option"),
        "transition": InvalidTransitionError("run-1", "completed", "paused"),
        "serialization": SerializationError("input", "a set"),
        "configuration": ConfigurationError("bad setting"),
        "unauthorized": UnauthorizedError("no key"),
        "forbidden": ForbiddenError("revoked"),
        "request": InvalidRequestError("bad field", "x"),
    }

    @classmethod
    def app(cls, srv: Server) -> Starlette:
        """An app with one route, built as every API route is, that raises the error its path names."""

        async def raising(request: Request, namespace: str) -> Response:
            raise cls.ERRORS[request.path_params["operation"]]

        return Starlette(routes=[Api(srv.commands).route("/raise/{operation}", ["POST"], raising)])


@pytest.mark.parametrize(
    ("operation", "status_code"),
    [
        ("not_found", 404),
        ("run_conflict", 409),
        ("schedule_conflict", 409),
        ("revision", 409),
        ("schema", 422),
        ("option", 400),
        ("transition", 409),
        ("serialization", 400),
        ("configuration", 400),
        ("unauthorized", 401),
        ("forbidden", 403),
        ("request", 400),
    ],
)
async def test_each_error_class_has_its_status_code_and_fields(
    http: httpx.AsyncClient, srv: Server, operation: str, status_code: int
) -> None:
    expected = RaisingFeature.ERRORS[operation]
    raising = httpx.AsyncClient(
        transport=httpx.ASGITransport(RaisingFeature.app(srv)), base_url=IN_PROCESS_URL
    )
    async with raising:
        response = await raising.post(f"/api/v1/raise/{operation}")

    error = assert_error(response, status_code, type(expected).__name__)

    assert error == expected.to_dict()


async def test_an_unknown_route_is_a_json_404(http: httpx.AsyncClient) -> None:
    error = assert_error(await http.get("/api/v2/runs"), 404, "NotFoundError")
    assert "/api/v1" in error["message"]


async def test_a_wrong_method_is_a_json_405(http: httpx.AsyncClient) -> None:
    error = assert_error(await http.delete("/api/v1/runs"), 405, "InvalidRequestError")
    assert "DELETE is not allowed" in error["message"]


async def test_a_body_that_is_not_json_is_a_400_saying_so(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/api/v1/runs", content=b'{"name": "idle",', headers={"content-type": "application/json"}
    )
    error = assert_error(response, 400, "InvalidRequestError")
    assert "not valid JSON" in error["message"]


async def test_a_field_of_the_wrong_type_is_a_400_naming_the_field(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/v1/runs", json={**IDLE_START, "delay_ms": "soon"})
    error = assert_error(response, 400, "InvalidRequestError")
    assert error["data"] == {"detail": "must be an integer, got a string ('soon').", "field": "delay_ms"}


async def test_an_unknown_field_is_a_400_listing_the_fields(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/v1/runs", json={**IDLE_START, "delay": 5})
    error = assert_error(response, 400, "InvalidRequestError")
    assert "unknown field(s) 'delay'" in error["message"] and "delay_ms" in error["message"]


async def test_an_outcome_without_the_fields_of_its_kind_is_a_400(http: httpx.AsyncClient) -> None:
    await start_run(http)
    claim = {"worker_id": "w", "workflows": [["idle", "1.0.0"]], "shards": None, "limit": 1}
    (claimed,) = (await http.post("/api/v1/worker/claim", json=claim)).json()["claimed"]
    outcome = {
        "run_id": claimed["run"]["id"],
        "claim_token": claimed["claim_token"],
        "expected_revision": claimed["run"]["revision"],
        "kind": "sleep",
        "name": "nap",
    }

    error = assert_error(await http.post("/api/v1/worker/finish", json=outcome), 400, "InvalidRequestError")

    assert error["data"]["field"] == "duration_ms"


# Fuzzing: bad input on every route is a 4xx JSON error


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
    import json

    return json.dumps(value).encode()
