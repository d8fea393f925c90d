"""``GET /metrics``: Prometheus text, parsed back with ``prometheus_client``'s parser after runs complete.
Each server has a registry of its own, so two servers in one process count apart."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from aiki import Server, task, workflow
from tests.conftest import Env
from tests.transport_support import http_client, raw_http

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@workflow(name="unserved").v("2")
async def unserved_v2(run: Any) -> None:
    return None


async def _scrape(srv: Server, headers: dict[str, str] | None = None) -> tuple[httpx.Response, Samples]:
    async with raw_http(srv, headers) as http:
        response = await http.get("/metrics")
    samples: Samples = {}
    if response.status_code == 200:
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return response, samples


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_runs_tasks_claims_timers_queues_and_requests_are_counted(env: Env) -> None:
    attempts_seen: dict[str, int] = {}

    @task(name="wobbly", retry={"type": "fixed", "max_attempts": 2, "delay_ms": 0})
    async def wobbly(key: str) -> str:
        attempts_seen[key] = attempts_seen.get(key, 0) + 1
        if attempts_seen[key] == 1:
            raise RuntimeError("first attempt fails")
        return key

    @workflow(name="metered").v("1")
    async def metered_v1(run: Any, input: dict[str, Any]) -> str:
        value = await wobbly.start(run, input["key"])
        await run.sleep("blink", 1)
        if input.get("fail"):
            raise ValueError("asked to fail")
        return value

    await env.start_worker(metered_v1)
    over_http = http_client(env.server)
    try:
        good = await metered_v1.start(over_http, {"key": "good"})
        bad = await metered_v1.start(env.client, {"key": "bad", "fail": True})
        assert (await good.wait_for_status("completed", timeout={"seconds": 15})).success
        assert (await bad.wait_for_status("failed", timeout={"seconds": 15})).success
    finally:
        await over_http.close()
    await unserved_v2.start(env.client)
    await unserved_v2.start(env.client)

    response, samples = await _scrape(env.server)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert _value(samples, "aiki_runs_started_total") == 4
    assert _value(samples, "aiki_runs_finished_total", status="completed") == 1
    assert _value(samples, "aiki_runs_finished_total", status="failed") == 1
    # Each run is claimed once before its sleep and once after it.
    assert _value(samples, "aiki_claims_total") == 4
    assert _value(samples, "aiki_task_attempts_total", task="wobbly", outcome="failed") == 2
    assert _value(samples, "aiki_task_attempts_total", task="wobbly", outcome="completed") == 2
    assert _value(samples, "aiki_task_duration_seconds_count", task="wobbly") == 4
    assert _value(samples, "aiki_timer_lateness_seconds_count") >= 2
    assert _value(samples, "aiki_queue_depth", workflow="unserved", version="2") == 2
    assert _value(samples, "aiki_queue_depth", workflow="metered", version="1") == 0
    assert _value(samples, "aiki_stalled_runs") == 0
    assert _value(samples, "aiki_http_requests_total", method="POST", route="/api/v1/runs", status="200") == 1
    assert _value(samples, "aiki_http_requests_total", method="GET", route="/nowhere", status="404") == 0


async def test_requests_no_route_matches_share_one_label(env: Env) -> None:
    async with raw_http(env.server) as http:
        assert (await http.get("/api/v1/no-such-thing")).status_code == 404
        assert (await http.get("/another/missing/path")).status_code == 404

    _response, samples = await _scrape(env.server)

    assert _value(samples, "aiki_http_requests_total", method="GET", route="unmatched", status="404") == 2


async def test_two_servers_in_one_process_count_apart(env: Env, tmp_path: Any) -> None:
    from aiki import database, server

    other = server(db=database(f"sqlite:///{tmp_path}/other.db"))
    try:
        await unserved_v2.start(env.client)
        _response, mine = await _scrape(env.server)
        _response, theirs = await _scrape(other)
    finally:
        await other.close()

    assert _value(mine, "aiki_runs_started_total") == 1
    assert _value(theirs, "aiki_runs_started_total") == 0


async def test_metrics_need_an_api_key_once_the_server_has_keys(env: Env) -> None:
    _key, secret = await env.server.keys.create("team-a", "prometheus")

    refused, _samples = await _scrape(env.server)
    allowed, samples = await _scrape(env.server, {"authorization": f"Bearer {secret}"})

    assert refused.status_code == 401
    assert allowed.status_code == 200
    assert ("aiki_stalled_runs", ()) in samples


async def test_the_gauges_read_only_the_partial_indexes_of_queued_and_stalled_runs(env: Env) -> None:
    from aiki.store.queries.gauges import RUN_GAUGES_SQL
    from aiki.store.sqlite.database import SqliteDatabase

    async with env.server.core.read() as connection:
        if isinstance(env.server.db, SqliteDatabase):
            rows = await connection._fetch_all("EXPLAIN QUERY PLAN " + RUN_GAUGES_SQL)
            plan = " | ".join(str(row["detail"]) for row in rows)
        else:
            rows = await connection._fetch_all("EXPLAIN (COSTS OFF) " + RUN_GAUGES_SQL)
            plan = " | ".join(str(next(iter(row.values()))) for row in rows)

    for index in ("runs_queued ", "runs_queued_by_shard", "runs_stalled"):
        assert index in plan + " ", plan
    assert "Seq Scan" not in plan and "SCAN runs |" not in plan + " |", plan
