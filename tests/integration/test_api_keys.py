"""API keys and namespaces: keys are stored hashed; once one exists every request needs one; a key's
namespace scopes everything it does, and another namespace's runs are invisible (404) and untouchable."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aiki import (
    Client,
    ConfigurationError,
    InvalidOptionError,
    NotFoundError,
    RevisionConflictError,
    RunStatus,
    Server,
    UnauthorizedError,
    database,
    server,
    worker,
    workflow,
)
from aiki.contract import ClaimRequest, RunOutcome, TaskWrite
from aiki.errors import ForbiddenError
from aiki.server.commands import keys as keys_module
from tests.transport_support import http_client, raw_http

shared = workflow(name="shared")


@shared.v("1.0.0")
async def shared_v1(run: Any, input: Any) -> Any:
    return {"echo": input}


@pytest.fixture
async def srv(db_url: str) -> AsyncIterator[Server]:
    instance = server(db=database(db_url), opts={"poll_interval_ms": 200})
    await instance.runtime.start()
    yield instance
    await instance.close()


@pytest.fixture
async def clients(srv: Server) -> AsyncIterator[dict[str, Client]]:
    """Clients of namespaces ``acme`` and ``globex``, each with its own key."""
    made: dict[str, Client] = {}
    for namespace in ("acme", "globex"):
        _key_id, secret = await srv.keys.create(namespace, f"{namespace} app")
        made[namespace] = http_client(srv, api_key=secret)
    yield made
    for each in made.values():
        await each.close()


def claim_request(wait_ms: int = 0) -> ClaimRequest:
    return ClaimRequest(
        worker_id="w", workflows=[("shared", "1.0.0")], shards=None, limit=10, wait_ms=wait_ms
    )


# Managing keys


async def test_a_created_key_is_stored_only_as_the_hash_of_its_secret(srv: Server) -> None:
    key_id, secret = await srv.keys.create("acme", "billing workers")

    assert secret.startswith(f"aiki_{key_id}_") and len(secret) > len(key_id) + 40
    async with srv.core.read() as connection:
        row = await connection._fetch_one("SELECT * FROM api_keys WHERE id = ?", (key_id,))
    assert row is not None
    assert row["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {str(value) for value in row.values()}


async def test_list_keys_shows_names_and_namespaces_and_filters_by_namespace(srv: Server) -> None:
    acme_id, _ = await srv.keys.create("acme", "workers")
    globex_id, _ = await srv.keys.create("globex", "dashboard")

    everything = await srv.keys.list()
    only_acme = await srv.keys.list("acme")

    assert {(key.id, key.namespace, key.name) for key in everything} == {
        (acme_id, "acme", "workers"),
        (globex_id, "globex", "dashboard"),
    }
    assert [key.id for key in only_acme] == [acme_id]
    assert not any(key.revoked for key in everything)


async def test_revoking_a_key_marks_it_and_revoking_again_keeps_the_first_time(srv: Server) -> None:
    key_id, _ = await srv.keys.create("acme", "workers")

    revoked = await srv.keys.revoke(key_id)
    again = await srv.keys.revoke(key_id)

    assert revoked.revoked and revoked.revoked_at_ms is not None
    assert again.revoked_at_ms == revoked.revoked_at_ms
    assert (await srv.keys.list())[0].revoked


async def test_revoking_an_unknown_key_raises_not_found(srv: Server) -> None:
    with pytest.raises(NotFoundError, match="No API key 'nope'"):
        await srv.keys.revoke("nope")


@pytest.mark.parametrize("namespace", ["", "has space", "-leading-dash", "x" * 101, "naïve"])
async def test_a_key_for_an_invalid_namespace_is_refused(srv: Server, namespace: str) -> None:
    with pytest.raises(InvalidOptionError, match="is not valid"):
        await srv.keys.create(namespace, "app")


async def test_a_key_without_a_name_is_refused(srv: Server) -> None:
    with pytest.raises(InvalidOptionError, match="needs a name"):
        await srv.keys.create("acme", "  ")


# Authentication


async def test_without_any_key_requests_need_none_and_work_in_the_default_namespace(srv: Server) -> None:
    anonymous = http_client(srv)
    try:
        handle = await shared_v1.start(anonymous, 1)
        assert handle.run.namespace == "default"
        assert anonymous.namespace == "default"
    finally:
        await anonymous.close()


async def test_once_a_key_exists_a_request_without_one_is_unauthorized(srv: Server) -> None:
    await srv.keys.create("acme", "app")
    anonymous = http_client(srv)
    try:
        with pytest.raises(UnauthorizedError, match="requires an API key") as raised:
            await anonymous.list_runs()
        assert type(raised.value) is UnauthorizedError
    finally:
        await anonymous.close()


async def test_a_key_another_process_creates_is_required_here_within_a_second(
    srv: Server, db_url: str
) -> None:
    """Each request asks whether keys are required; while they are not, the answer is trusted for
    ``KEYS_RECHECK_S`` (one second), so a key created elsewhere (another server on the database, or
    `aiki keys create`) closes this server within that time."""
    anonymous = http_client(srv)
    elsewhere = server(db=database(db_url))
    try:
        await shared_v1.start(anonymous, 1)  # open: the answer "not required" is now trusted for a while
        await elsewhere.keys.create("acme", "made by another process")
        await asyncio.sleep(keys_module.KEYS_RECHECK_S + 0.1)
        with pytest.raises(UnauthorizedError, match="requires an API key"):
            await anonymous.list_runs()
    finally:
        await anonymous.close()
        await elsewhere.close()


async def test_an_unknown_key_is_unauthorized_with_a_401(srv: Server) -> None:
    await srv.keys.create("acme", "app")
    async with raw_http(srv, {"authorization": "Bearer aiki_made_up"}) as caller:
        response = await caller.get("/api/v1/runs")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "UnauthorizedError"


async def test_an_authorization_header_that_is_not_bearer_is_unauthorized(srv: Server) -> None:
    async with raw_http(srv, {"authorization": "Basic dXNlcjpwYXNz"}) as caller:
        response = await caller.get("/api/v1/runs")
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]["message"]


async def test_a_revoked_key_is_forbidden_with_a_403(srv: Server) -> None:
    await srv.keys.create("acme", "still valid")
    key_id, secret = await srv.keys.create("acme", "leaked")
    await srv.keys.revoke(key_id)
    revoked = http_client(srv, api_key=secret)
    try:
        with pytest.raises(ForbiddenError, match="was revoked"):
            await revoked.list_runs()
    finally:
        await revoked.close()


async def test_healthz_needs_no_key(srv: Server) -> None:
    await srv.keys.create("acme", "app")
    async with raw_http(srv) as caller:
        assert (await caller.get("/healthz")).status_code == 200
        assert (await caller.get("/api/v1/openapi.json")).status_code == 401


async def test_when_every_key_is_revoked_the_server_stays_closed(srv: Server) -> None:
    key_id, _ = await srv.keys.create("acme", "app")
    await srv.keys.revoke(key_id)
    anonymous = http_client(srv)
    try:
        with pytest.raises(UnauthorizedError, match="requires an API key"):
            await anonymous.list_runs()
    finally:
        await anonymous.close()


async def test_a_server_restarted_after_every_key_was_revoked_stays_closed(db_url: str) -> None:
    first = server(db=database(db_url))
    key_id, _ = await first.keys.create("acme", "app")
    await first.keys.revoke(key_id)
    await first.close()
    again = server(db=database(db_url))
    async with raw_http(again) as caller:
        response = await caller.get("/api/v1/runs")
    await again.close()
    assert response.status_code == 401


async def test_with_auth_keys_a_server_without_any_key_refuses_every_request(db_url: str) -> None:
    closed = server(db=database(db_url), opts={"auth": "keys"})
    async with raw_http(closed) as caller:
        refused = await caller.get("/api/v1/runs")
        health = await caller.get("/healthz")
    assert "auth: API keys required (--auth keys)" in await closed.keys.describe_mode()
    await closed.close()
    assert refused.status_code == 401 and "aiki keys create" in refused.json()["error"]["message"]
    assert health.status_code == 200


async def test_with_auth_open_requests_need_no_key_but_a_key_sent_still_counts(db_url: str) -> None:
    open_server = server(db=database(db_url), opts={"auth": "open"})
    _key_id, secret = await open_server.keys.create("acme", "app")
    async with raw_http(open_server) as anonymous:
        assert (await anonymous.get("/api/v1/runs")).status_code == 200
    async with raw_http(open_server, {"authorization": f"Bearer {secret}"}) as keyed:
        answer = await keys_namespace(keyed)
    async with raw_http(open_server, {"authorization": "Bearer aiki_wrong"}) as wrong:
        refused = await wrong.get("/api/v1/runs")
    await open_server.close()
    assert answer == "acme"
    assert refused.status_code == 401


async def keys_namespace(caller: Any) -> str:
    response = await caller.get("/api/v1/runs")
    assert response.status_code == 200, response.text
    return str(response.headers["x-aiki-namespace"])


@pytest.mark.parametrize("auth", ["none", "sometimes", True])
def test_an_unknown_auth_mode_is_a_configuration_error(auth: object) -> None:
    with pytest.raises(ConfigurationError, match="'open' or 'keys'"):
        server(db="sqlite:///unused.db", opts={"auth": auth})


async def test_a_key_naming_another_namespace_is_forbidden(srv: Server) -> None:
    _key_id, secret = await srv.keys.create("acme", "app")
    confused = http_client(srv, api_key=secret, namespace="globex")
    try:
        with pytest.raises(ForbiddenError, match="belongs to namespace 'acme'"):
            await confused.list_runs()
    finally:
        await confused.close()


async def test_a_key_works_in_its_own_namespace_which_the_client_learns(
    srv: Server, clients: dict[str, Client]
) -> None:
    acme = clients["acme"]
    handle = await shared_v1.start(acme, 1)

    assert handle.run.namespace == "acme"
    assert acme.namespace == "acme"
    assert [run.id for run in await srv.runs.list("acme")] == [handle.id]
    assert (await srv.runs.list("default")).runs == []


# Isolation between namespaces


async def test_another_namespace_cannot_read_a_run(clients: dict[str, Client]) -> None:
    handle = await shared_v1.start(clients["acme"], 1)
    globex = clients["globex"].transport

    with pytest.raises(NotFoundError):
        await globex.get_run(handle.id)
    with pytest.raises(NotFoundError):
        await globex.get_history(handle.id)
    with pytest.raises(NotFoundError):
        await globex.get_timeline(handle.id)
    with pytest.raises(NotFoundError):
        await globex.wait_for_change(handle.id, -1, 0)
    assert (await clients["globex"].list_runs()).runs == []


async def test_another_namespace_cannot_steer_a_run_or_send_it_events(clients: dict[str, Client]) -> None:
    handle = await shared_v1.start(clients["acme"], 1)
    globex = clients["globex"].transport

    for operation in (globex.pause_run, globex.resume_run, globex.awake_run):
        with pytest.raises(NotFoundError):
            await operation(handle.id)
    with pytest.raises(NotFoundError):
        await globex.cancel_run(handle.id, "hostile")
    with pytest.raises(NotFoundError):
        await globex.send_event(handle.id, "anything", {"x": 1}, None)

    untouched = await clients["acme"].get_run(handle.id)
    assert untouched.revision == 0 and untouched.status is RunStatus.QUEUED
    assert (await clients["acme"].transport.get_history(handle.id)).events == []


async def test_another_namespace_cannot_claim_or_write_to_a_run(clients: dict[str, Client]) -> None:
    acme = clients["acme"].transport
    globex = clients["globex"].transport
    handle = await shared_v1.start(clients["acme"], 1)

    assert await globex.claim(claim_request()) == []
    (claimed,) = await acme.claim(claim_request())
    token = claimed.claim_token
    with pytest.raises(RevisionConflictError):
        await globex.record_task(
            TaskWrite(
                run_id=handle.id,
                claim_token=token,
                name="t",
                address="t:1",
                occurrence=0,
                status="completed",
                attempts=1,
            )
        )
    with pytest.raises(RevisionConflictError):
        await globex.finish(RunOutcome(run_id=handle.id, claim_token=token, expected_revision=1, kind="fail"))
    await globex.release(handle.id, token)

    still_claimed = await acme.get_run(handle.id)
    assert still_claimed.status is RunStatus.RUNNING and still_claimed.revision == claimed.run.revision
    assert (await acme.get_history(handle.id)).tasks == []


async def test_the_same_reference_id_in_two_namespaces_names_two_runs(clients: dict[str, Client]) -> None:
    starter = shared_v1.with_().opt("reference.id", "order-1")

    in_acme = await starter.start(clients["acme"], {"n": 1})
    in_globex = await starter.start(clients["globex"], {"n": 2})

    assert in_acme.id != in_globex.id
    assert (in_acme.run.namespace, in_globex.run.namespace) == ("acme", "globex")


async def test_a_worker_runs_only_the_runs_of_its_keys_namespace(clients: dict[str, Client]) -> None:
    acme_run = await shared_v1.start(clients["acme"], "a")
    globex_worker = await worker(workflows=[shared_v1], opts={"poll_interval_ms": 200}).start(
        clients["globex"]
    )
    acme_worker = await worker(workflows=[shared_v1], opts={"poll_interval_ms": 200}).start(clients["acme"])
    try:
        result = await acme_run.wait_for_status("completed", timeout={"seconds": 15})
        globex_run = await shared_v1.start(clients["globex"], "g")
        globex_result = await globex_run.wait_for_status("completed", timeout={"seconds": 15})
    finally:
        await acme_worker.stop()
        await globex_worker.stop()

    assert result.success and result.state is not None and result.state.output == {"echo": "a"}
    assert globex_result.success
    acme_claims = [
        t for t in await clients["acme"].transport.get_timeline(acme_run.id) if t.to_status == "running"
    ]
    assert len(acme_claims) == 1
