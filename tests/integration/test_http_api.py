"""The HTTP API as seen by a raw HTTP caller: routes, the OpenAPI description, error bodies and status codes.
(Bad input of every kind: ``test_http_bad_input.py``.)"""

from __future__ import annotations

import re

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
from tests.http_api_support import IDLE_START, assert_error, http, srv, start_run
from tests.transport_support import IN_PROCESS_URL

__all__ = ["http", "srv"]  # fixtures

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
