"""Routes workers use: claim (a long poll), refresh claims, record tasks, finish and release runs."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiki.contract import ClaimedRun, ClaimRequest, RunOutcome, TaskWrite
from aiki.contract.checks import check_claim
from aiki.contract.codec import decode
from aiki.contract.wire import API_PREFIX, MAX_CLAIM_WAIT_MS
from aiki.contract.workers import WorkerAnnouncement
from aiki.server.commands import Commands
from aiki.server.http.endpoint import Api, unless_disconnected
from aiki.server.http.io import json_response, read_body, read_request
from aiki.server.http.openapi_schema import JSON, array, obj, operation, ref


@dataclass(frozen=True, slots=True)
class RefreshBody:
    """``POST /worker/refresh``: the ``[run_id, claim_token]`` pairs the worker holds."""

    claims: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class StoppedBody:
    """``POST /worker/stopped``: the worker that stopped."""

    worker_id: str


@dataclass(frozen=True, slots=True)
class ReleaseBody:
    """``POST /worker/release``: a claimed run the worker gives back unstarted."""

    run_id: str
    claim_token: str


#: the bodies and answers of these routes, for the OpenAPI description
WORKER_SCHEMAS = (
    ClaimRequest,
    ClaimedRun,
    TaskWrite,
    RunOutcome,
    RefreshBody,
    ReleaseBody,
    WorkerAnnouncement,
    StoppedBody,
)


def worker_routes(api: Api) -> list[Route]:
    """The routes under ``/api/v1/worker``."""
    commands = api.commands
    workers = commands.workers

    async def claim(request: Request, namespace: str) -> Response:
        claim_request = check_claim(await read_request(request, ClaimRequest))
        return json_response({"claimed": await _long_poll_claim(commands, request, namespace, claim_request)})

    async def refresh_claims(request: Request, namespace: str) -> Response:
        body = decode(RefreshBody, await read_body(request))
        return json_response({"lost": await workers.refresh_claims(namespace, body.claims)})

    async def record_task(request: Request, namespace: str) -> Response:
        write = await read_request(request, TaskWrite)
        return json_response({"status": await workers.record_task(namespace, write)})

    async def finish(request: Request, namespace: str) -> Response:
        outcome = await read_request(request, RunOutcome)
        return json_response(await workers.finish(namespace, outcome))

    async def release(request: Request, namespace: str) -> Response:
        body = decode(ReleaseBody, await read_body(request))
        await workers.release(namespace, body.run_id, body.claim_token)
        return Response(status_code=204)

    async def announce(request: Request, namespace: str) -> Response:
        await commands.registry.announce(namespace, await read_request(request, WorkerAnnouncement))
        return Response(status_code=204)

    async def stopped(request: Request, namespace: str) -> Response:
        body = decode(StoppedBody, await read_body(request))
        await commands.registry.stopped(namespace, body.worker_id)
        return Response(status_code=204)

    return [
        api.route("/worker/claim", ["POST"], claim),
        api.route("/worker/refresh", ["POST"], refresh_claims),
        api.route("/worker/tasks", ["POST"], record_task),
        api.route("/worker/finish", ["POST"], finish),
        api.route("/worker/release", ["POST"], release),
        api.route("/worker/announce", ["POST"], announce),
        api.route("/worker/stopped", ["POST"], stopped),
    ]


async def _long_poll_claim(
    commands: Commands, request: Request, namespace: str, claim_request: ClaimRequest
) -> list[ClaimedRun]:
    """Claim at once, or wait for work (up to ``wait_ms``, at most 30 s) and try again.

    When the worker hangs up, the wait ends, and runs claimed just before are released at once rather than
    left to the claim timeout.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(max(claim_request.wait_ms, 0), MAX_CLAIM_WAIT_MS) / 1000
    poll_s = commands.core.settings.poll_interval_ms / 1000
    once = dataclasses.replace(claim_request, wait_ms=0)
    while True:
        claimed = await commands.workers.claim(namespace, once)
        if claimed and await request.is_disconnected():
            for item in claimed:
                await commands.workers.release(namespace, item.run.id, item.claim_token)
            return []
        remaining_s = deadline - loop.time()
        if claimed or remaining_s <= 0:
            return claimed
        woken = await unless_disconnected(request, _wait_for_work(commands, min(remaining_s, poll_s)))
        if not woken:
            return []


async def _wait_for_work(commands: Commands, timeout_s: float) -> bool:
    await commands.core.notifier.wait_for_work(timeout_s)
    return True


def worker_paths() -> JSON:
    """The OpenAPI description of ``worker_routes``."""
    worker = f"{API_PREFIX}/worker"
    return {
        f"{worker}/claim": {
            "post": operation(
                "Long poll: claim queued runs of the given versions (wait_ms at most 30 000)",
                obj(claimed=array(ref("ClaimedRun"))),
                body="ClaimRequest",
            )
        },
        f"{worker}/refresh": {
            "post": operation(
                "Extend claims; returns the runs whose claim was taken back",
                obj(lost=array({"type": "string"})),
                body="RefreshBody",
            )
        },
        f"{worker}/tasks": {
            "post": operation(
                "Record a task's result under the run's claim; returns the run's status",
                obj(status={"type": "string"}),
                body="TaskWrite",
                errors=(400, 401, 403, 409),
            )
        },
        f"{worker}/finish": {
            "post": operation(
                "End one execution of a run (suspend, retry, complete or fail)",
                ref("WorkflowRun"),
                body="RunOutcome",
                errors=(400, 401, 403, 409),
            )
        },
        f"{worker}/announce": {
            "post": operation(
                "A worker is alive (at start and at every claim refresh)", None, body="WorkerAnnouncement"
            )
        },
        f"{worker}/stopped": {
            "post": operation(
                "A worker stopped gracefully: it leaves the list at once", None, body="StoppedBody"
            )
        },
        f"{worker}/release": {
            "post": operation("Give a claimed, unstarted run back to the queue", None, body="ReleaseBody")
        },
    }
