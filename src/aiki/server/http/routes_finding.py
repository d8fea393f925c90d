"""Routes that find runs: pages of a filter (``GET /runs``), counts, the run a reference id names, and the
statistics of every workflow version. Registered before ``/runs/{run_id}``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiki.contract.limits import check_limit
from aiki.contract.listing import RunFilter, RunPage, WorkflowStats, build_filter, parse_order
from aiki.contract.wire import API_PREFIX
from aiki.errors import InvalidOptionError, InvalidRequestError
from aiki.server.http.endpoint import Api
from aiki.server.http.io import json_response, query_int, query_optional_int, query_text
from aiki.server.http.openapi_schema import JSON, array, obj, operation, query, ref

T = TypeVar("T")

#: the answers of these routes, for the OpenAPI description
FINDING_SCHEMAS = (RunPage, WorkflowStats)

#: the query parameters of a run filter (``GET /runs`` and ``GET /runs/count``)
FILTER_PARAMETERS = [
    query("status", {"type": "string"}, "one status, or several separated by commas"),
    query("workflow", {"type": "string"}, "only runs of this workflow name"),
    query("version", {"type": "string"}, "only runs of this version (with workflow)"),
    query("reference_id", {"type": "string"}, "only runs with this reference id"),
    query("parent_run_id", {"type": "string"}, "only children of this run"),
    query("schedule_id", {"type": "string"}, "only runs this schedule started"),
    query("created_after", {"type": "integer"}, "created at or after this epoch millisecond"),
    query("created_before", {"type": "integer"}, "created before this epoch millisecond"),
]


def as_request_error(field: str, parse: Callable[[], T]) -> T:
    """``parse()``, with an ``InvalidOptionError`` turned into the ``InvalidRequestError`` of ``field``."""
    try:
        return parse()
    except InvalidOptionError as error:
        raise InvalidRequestError(error.message, field) from None


def query_filter(request: Request) -> RunFilter:
    """The run filter of a request's query parameters."""
    return as_request_error(
        "query",
        lambda: build_filter(
            status=query_text(request, "status"),
            workflow=query_text(request, "workflow"),
            version=query_text(request, "version"),
            reference_id=query_text(request, "reference_id"),
            parent_run_id=query_text(request, "parent_run_id"),
            schedule_id=query_text(request, "schedule_id"),
            created_after=query_optional_int(request, "created_after"),
            created_before=query_optional_int(request, "created_before"),
        ),
    )


def required_text(request: Request, name: str) -> str:
    value = query_text(request, name)
    if value is None:
        raise InvalidRequestError("is required.", name)
    return value


def finding_routes(api: Api) -> list[Route]:
    """``GET /runs``, ``/runs/count``, ``/runs/by-reference`` and ``/workflows/stats``."""
    runs = api.commands.runs

    async def list_runs(request: Request, namespace: str) -> Response:
        page = await runs.list(
            namespace,
            query_filter(request),
            order=as_request_error("order", lambda: parse_order(query_text(request, "order") or "newest")),
            limit=as_request_error(
                "limit", lambda: check_limit(query_int(request, "limit", 50, minimum=-(2**31)))
            ),
            cursor=query_text(request, "cursor"),
            include_values=query_int(request, "include_values", 0, maximum=1) == 1,
        )
        return json_response(page)

    async def count_runs(request: Request, namespace: str) -> Response:
        return json_response({"count": await runs.count(namespace, query_filter(request))})

    async def run_by_reference(request: Request, namespace: str) -> Response:
        run = await runs.get_by_reference(
            namespace,
            required_text(request, "workflow"),
            required_text(request, "version"),
            required_text(request, "reference_id"),
        )
        return json_response(run)

    async def workflow_stats(request: Request, namespace: str) -> Response:
        return json_response({"workflows": await runs.workflow_stats(namespace)})

    return [
        api.route("/runs", ["GET"], list_runs),
        api.route("/runs/count", ["GET"], count_runs),
        api.route("/runs/by-reference", ["GET"], run_by_reference),
        api.route("/workflows/stats", ["GET"], workflow_stats),
    ]


def finding_paths() -> JSON:
    """The OpenAPI description of ``finding_routes``."""
    runs = f"{API_PREFIX}/runs"
    return {
        runs: {
            "get": operation(
                "One page of runs, newest first by default; next_cursor continues the list",
                ref("RunPage"),
                parameters=[
                    *FILTER_PARAMETERS,
                    query(
                        "order",
                        {"type": "string", "enum": ["newest", "oldest"], "default": "newest"},
                        "order",
                    ),
                    query(
                        "limit",
                        {"type": "integer", "default": 50, "minimum": 1, "maximum": 1000},
                        "page size",
                    ),
                    query("cursor", {"type": "string"}, "the next_cursor of the previous page"),
                    query(
                        "include_values",
                        {"type": "integer", "enum": [0, 1], "default": 0},
                        "1: whole runs (inputs, outputs, errors) up to 4 MB per page, instead of summaries",
                    ),
                ],
            ),
        },
        f"{runs}/count": {
            "get": operation(
                "How many runs match", obj(count={"type": "integer"}), parameters=FILTER_PARAMETERS
            )
        },
        f"{runs}/by-reference": {
            "get": operation(
                "The run a reference id names within a workflow version",
                ref("WorkflowRun"),
                parameters=[
                    query("workflow", {"type": "string"}, "the workflow name", required=True),
                    query("version", {"type": "string"}, "the version", required=True),
                    query("reference_id", {"type": "string"}, "the reference id", required=True),
                ],
            )
        },
        f"{API_PREFIX}/workflows/stats": {
            "get": operation(
                "Runs by status for every workflow version, and whether a live worker serves it",
                obj(workflows=array(ref("WorkflowStats"))),
            )
        },
    }
