"""Retention: finished runs are deleted (with everything recorded of them) once their retention has passed,
by the deadline loop, a parent keeping its children until the whole tree may go; and ``purge_runs`` for a
one-off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from aiki import (
    FakeClock,
    InvalidOptionError,
    NotFoundError,
    RunStatus,
    client,
    database,
    server,
    task,
    workflow,
)
from aiki.server.commands import purge as purge_commands
from aiki.server.server import Server
from tests.conftest import Env
from tests.integration.run_watch import until

HOUR_MS = 3_600_000


@task(name="note")
async def note(value: Any) -> Any:
    return value


@workflow(name="kept").v("1.0.0")
async def kept_v1(run: Any, input: Any) -> Any:
    return await note.start(run, input)


@workflow(name="lingering-child").v("1.0.0")
async def lingering_child_v1(run: Any, input: Any) -> Any:
    await run.sleep("linger", {"hours": 3})
    return input


@workflow(name="fire-and-forget").v("1.0.0")
async def parent_v1(run: Any, input: Any) -> Any:
    child = await lingering_child_v1.start_as_child(run, input)
    return child.id


@pytest.fixture
async def env_kept_an_hour(db_url: str) -> AsyncIterator[Env]:
    clock = FakeClock()
    srv = server(
        db=database(db_url),
        clock=clock,
        opts={"retention": HOUR_MS, "retention_by_namespace": {"forever": None}, "poll_interval_ms": 200},
    )
    environment = Env(srv, client(server=srv), clock)
    yield environment
    await environment.close()


def clock_of(env: Env) -> FakeClock:
    assert env.clock is not None
    return env.clock


async def test_a_finished_run_is_deleted_once_its_retention_has_passed(env_kept_an_hour: Env) -> None:
    env = env_kept_an_hour
    await env.start_worker(kept_v1)
    handle = await kept_v1.start(env.client, "keep me an hour")
    assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).success

    clock_of(env).advance(HOUR_MS - 1)
    await env.server.runtime.tick()
    assert (await env.client.get_history(handle.id)).tasks
    clock_of(env).advance(1)
    await env.server.runtime.tick()

    with pytest.raises(NotFoundError):
        await handle.refresh()
    async with env.server.core.read() as connection:
        for table in ("tasks", "transitions", "events", "sleeps"):
            rows = await connection._fetch_all(f"SELECT 1 FROM {table} WHERE run_id = ?", (handle.id,))
            assert rows == [], table


async def test_a_namespace_without_retention_keeps_its_runs(env_kept_an_hour: Env) -> None:
    env = env_kept_an_hour
    forever = client(server=env.server, namespace="forever")
    await env.start_worker(kept_v1)
    await worker_for(env, forever)
    handle = await kept_v1.start(forever, 1)
    assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).success

    clock_of(env).advance(100 * HOUR_MS)
    await env.server.runtime.tick()

    assert (await handle.refresh()).status is RunStatus.COMPLETED


async def worker_for(env: Env, c: Any) -> None:
    from aiki import worker

    env.workers.append(await worker(workflows=[kept_v1], opts={"poll_interval_ms": 200}).start(c))


async def test_a_parent_keeps_its_children_until_the_whole_tree_is_past_retention(
    env_kept_an_hour: Env,
) -> None:
    env = env_kept_an_hour
    await env.start_worker(parent_v1, lingering_child_v1)
    parent = await parent_v1.start(env.client, "tree")
    done = await parent.wait_for_status("completed", timeout={"seconds": 15})
    assert done.state is not None
    child = await lingering_child_v1.get_handle(env.client, done.state.output)
    await until(child, RunStatus.SLEEPING)

    # The parent is past its hour, its child still sleeps: both stay.
    clock_of(env).advance(2 * HOUR_MS)
    await env.server.runtime.tick()
    assert (await parent.refresh()).status is RunStatus.COMPLETED

    # The child wakes and finishes; an hour later, the tree goes as one.
    clock_of(env).advance(HOUR_MS)
    await env.server.runtime.tick()
    assert (await child.wait_for_status("completed", timeout={"seconds": 15})).success
    clock_of(env).advance(HOUR_MS + 1)
    await env.server.runtime.tick()
    await env.server.runtime.tick()

    for handle in (parent, child):
        with pytest.raises(NotFoundError):
            await handle.refresh()


async def test_one_batch_deletes_every_expired_tree_and_keeps_each_tree_with_a_run_going(
    env_kept_an_hour: Env,
) -> None:
    env = env_kept_an_hour
    await env.start_worker(kept_v1, parent_v1, lingering_child_v1)
    singles = [await kept_v1.start(env.client, n) for n in range(5)]
    parents = [await parent_v1.start(env.client, f"tree {n}") for n in range(3)]
    children = []
    for handle in [*singles, *parents]:
        done = await handle.wait_for_status("completed", timeout={"seconds": 15})
        assert done.success and done.state is not None
        if handle in parents:
            children.append(await lingering_child_v1.get_handle(env.client, done.state.output))
    for child in children:
        await until(child, RunStatus.SLEEPING)

    # Past the hour: the five single runs go, in one batch; each tree stays, its child still sleeping.
    clock_of(env).advance(2 * HOUR_MS)
    await env.server.runtime.tick()
    for handle in singles:
        with pytest.raises(NotFoundError):
            await handle.refresh()
    for handle in [*parents, *children]:
        await handle.refresh()

    # The children finish; an hour later the three trees go together.
    clock_of(env).advance(HOUR_MS)
    await env.server.runtime.tick()
    for child in children:
        assert (await child.wait_for_status("completed", timeout={"seconds": 15})).success
    clock_of(env).advance(HOUR_MS + 1)
    await env.server.runtime.tick()
    await env.server.runtime.tick()
    for handle in [*parents, *children]:
        with pytest.raises(NotFoundError):
            await handle.refresh()


async def test_purge_keeps_a_tree_whose_child_has_not_finished(env: Env) -> None:
    await env.start_worker(kept_v1, parent_v1, lingering_child_v1)
    parent = await parent_v1.start(env.client, "tree")
    done = await parent.wait_for_status("completed", timeout={"seconds": 15})
    assert done.state is not None
    child = await lingering_child_v1.get_handle(env.client, done.state.output)
    await until(child, RunStatus.SLEEPING)
    single = await kept_v1.start(env.client, "alone")
    assert (await single.wait_for_status("completed", timeout={"seconds": 15})).success

    assert await env.client.purge_runs(before=env.server.clock.now_ms() + 1) == 1

    with pytest.raises(NotFoundError):
        await single.refresh()
    assert (await parent.refresh()).status is RunStatus.COMPLETED
    assert (await child.refresh()).status is RunStatus.SLEEPING


async def test_expired_runs_go_in_paced_batches_after_every_due_timer(db_url: str) -> None:
    clock = FakeClock()
    srv = server(
        db=database(db_url),
        clock=clock,
        opts={"retention": HOUR_MS, "timer_batch_size": 10, "poll_interval_ms": 200},
    )
    env = Env(srv, client(server=srv), clock)
    try:
        await env.start_worker(kept_v1, lingering_child_v1)
        finished = [await kept_v1.start(env.client, n) for n in range(25)]
        for handle in finished:
            assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).success
        sleeper = await lingering_child_v1.start(env.client, "wake me")
        await until(sleeper, RunStatus.SLEEPING)

        # Three hours on: 25 runs are past retention and the sleeper is due. The tick wakes the sleeper
        # first, then deletes one batch of expired runs, and pauses the deletions.
        clock.advance(3 * HOUR_MS)
        await srv.runtime.tick()
        assert (await sleeper.wait_for_status("completed", timeout={"seconds": 15})).success
        assert await env.client.count_runs(workflow="kept") == 15
        await srv.runtime.tick()
        assert await env.client.count_runs(workflow="kept") == 15

        # After the pause, one batch per tick again.
        clock.advance(60_000)
        await srv.runtime.tick()
        assert await env.client.count_runs(workflow="kept") == 5
        clock.advance(60_000)
        await srv.runtime.tick()
        assert await env.client.count_runs(workflow="kept") == 0
    finally:
        await env.close()


async def test_purge_deletes_runs_finished_before_a_time_of_the_statuses_asked(env: Env) -> None:
    await env.start_worker(kept_v1)
    done = await kept_v1.start(env.client, 1)
    assert (await done.wait_for_status("completed", timeout={"seconds": 15})).success
    cancelled = await kept_v1.with_().opt("trigger", {"delay": {"hours": 1}}).start(env.client, 2)
    await cancelled.cancel()
    waiting = await kept_v1.with_().opt("trigger", {"delay": {"hours": 1}}).start(env.client, 3)
    now_ms = env.server.clock.now_ms() + 1

    assert await env.client.purge_runs(before=now_ms, status="cancelled") == 1
    assert await env.client.purge_runs(before=now_ms) == 1

    assert (await waiting.refresh()).status is RunStatus.SCHEDULED
    for handle in (done, cancelled):
        with pytest.raises(NotFoundError):
            await handle.refresh()
    with pytest.raises(InvalidOptionError, match="Only finished runs"):
        await env.client.purge_runs(before=now_ms, status="queued")


async def test_purge_over_http_says_how_many_runs_it_deleted(transport_env: Any) -> None:
    c = transport_env.client
    handle = await kept_v1.with_().opt("trigger", {"delay": {"hours": 1}}).start(c, 1)
    await handle.cancel()

    assert await c.purge_runs(before=transport_env.server.clock.now_ms() + 1) == 1


async def test_retention_is_a_server_option_checked_at_creation(db_url: str) -> None:
    from aiki import ConfigurationError

    for opts in ({"retention": 0}, {"retention": {"weeks": 1}}, {"retention_by_namespace": ["a"]}):
        with pytest.raises(ConfigurationError):
            server(db=database(db_url), opts=opts)
    srv: Server = server(
        db=database(db_url), opts={"retention": {"days": 7}, "retention_by_namespace": {"x": None}}
    )
    assert (
        srv.settings.retention_for("default") == 7 * 24 * HOUR_MS and srv.settings.retention_for("x") is None
    )


async def test_purge_goes_page_by_page_through_runs_created_in_the_same_millisecond(
    fake_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(purge_commands, "PURGE_BATCH", 2)
    assert fake_env.clock is not None
    await fake_env.start_worker(kept_v1)
    handles = [await kept_v1.start(fake_env.client, index) for index in range(5)]
    for handle in handles:
        assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).success
    # The fake clock did not move: the pages after the first are told apart by run id alone.
    assert len({(await handle.refresh()).created_at_ms for handle in handles}) == 1
    fake_env.clock.advance(1)

    assert await fake_env.client.purge_runs(before=fake_env.clock.now_ms()) == 5
    assert await fake_env.client.count_runs(workflow="kept") == 0
