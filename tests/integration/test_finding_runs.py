"""Finding runs: by reference id, lists with every filter and a cursor, iteration, counts and statistics,
over both transports and both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from aiki import InvalidOptionError, NotFoundError, RunStatus, workflow
from tests.transport_support import TransportEnv

idle = workflow(name="idle")


@idle.v("1.0.0")
async def idle_v1(run: Any, input: Any) -> Any:
    await run.sleep("forever", {"days": 1})
    return input


@idle.v("2.0.0")
async def idle_v2(run: Any, input: Any) -> Any:
    return input


other = workflow(name="other")


@other.v("1.0.0")
async def other_v1(run: Any, input: Any) -> Any:
    return input


async def test_a_run_is_found_by_its_reference_id_within_its_version(transport_env: TransportEnv) -> None:
    c = transport_env.client
    started = await idle_v1.with_().opt("reference.id", "order-123").start(c, 1)

    found = await idle_v1.get_handle_by_reference_id(c, "order-123")

    assert found.id == started.id and found.run.reference_id == "order-123"
    with pytest.raises(NotFoundError, match="order-123"):
        await idle_v2.get_handle_by_reference_id(c, "order-123")
    with pytest.raises(NotFoundError, match="nope"):
        await idle_v1.get_handle_by_reference_id(c, "nope")


async def test_filters_combine_with_and(transport_env: TransportEnv) -> None:
    c = transport_env.client
    first = await idle_v1.start(c, 1)
    second = await idle_v1.with_().opt("reference.id", "r-2").start(c, 2)
    newer = await idle_v2.start(c, 3)
    elsewhere = await other_v1.start(c, 4)
    await second.cancel("not needed")

    async def ids(**filters: Any) -> list[str]:
        return [run.id for run in await c.list_runs(**filters)]

    assert await ids(workflow="idle") == [newer.id, second.id, first.id]
    assert await ids(workflow="idle", version="1.0.0") == [second.id, first.id]
    assert await ids(status=["cancelled", "queued"], workflow="idle") == [newer.id, second.id, first.id]
    assert await ids(status="cancelled") == [second.id]
    assert await ids(status="queued,cancelled", workflow="idle", version="1.0.0") == [second.id, first.id]
    assert await ids(reference_id="r-2") == [second.id]
    assert await ids(order="oldest", workflow="other") == [elsewhere.id]
    assert await ids(order="oldest") == [first.id, second.id, newer.id, elsewhere.id]
    assert await c.count_runs(workflow="idle") == 3
    assert await c.count_runs(workflow="idle", status=[RunStatus.QUEUED]) == 2
    assert await c.count_runs() == 4


async def test_the_created_range_takes_aware_datetimes_and_epoch_milliseconds(
    transport_env: TransportEnv,
) -> None:
    c = transport_env.client
    run = (await idle_v1.start(c, 1)).run
    at = run.created_at_ms

    assert [r.id for r in await c.list_runs(created_after=at, created_before=at + 1)] == [run.id]
    assert (await c.list_runs(created_after=at + 1)).runs == []
    assert (await c.list_runs(created_before=at)).runs == []
    moment = datetime.fromtimestamp(at / 1000, tz=UTC)
    assert await c.count_runs(created_after=moment) == 1
    with pytest.raises(InvalidOptionError, match="timezone-aware"):
        await c.list_runs(created_after=datetime(2024, 1, 1))


async def test_walking_every_page_returns_each_run_once_while_new_runs_are_started(
    transport_env: TransportEnv,
) -> None:
    c = transport_env.client
    existing = {(await idle_v2.start(c, n)).id for n in range(23)}

    seen: list[str] = []
    cursor = None
    while True:
        page = await c.list_runs(workflow="idle", limit=5, cursor=cursor)
        seen += [run.id for run in page]
        await idle_v2.start(c, "started meanwhile")
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert sorted(seen) == sorted(existing)
    assert len(seen) == len(set(seen))


async def test_iter_runs_yields_every_match_page_by_page(transport_env: TransportEnv) -> None:
    c = transport_env.client
    ids = {(await other_v1.start(c, n)).id for n in range(7)}

    assert {run.id async for run in c.iter_runs(workflow="other", page_size=2)} == ids


async def test_children_and_schedules_are_found_by_their_parent_and_schedule(
    transport_env: TransportEnv,
) -> None:
    c = transport_env.client
    assert (await c.list_runs(parent_run_id="no-such-parent")).runs == []
    assert await c.count_runs(schedule_id="no-such-schedule") == 0


async def test_workflow_stats_count_runs_by_status_per_version(transport_env: TransportEnv) -> None:
    c = transport_env.client
    await idle_v1.start(c, 1)
    cancelled = await idle_v1.start(c, 2)
    await idle_v2.start(c, 3)
    await cancelled.cancel()

    stats = {(item.name, item.version_id): item for item in await c.workflow_stats()}

    assert stats[("idle", "1.0.0")].counts == {"cancelled": 1, "queued": 1}
    assert stats[("idle", "2.0.0")].counts == {"queued": 1}
    assert not stats[("idle", "1.0.0")].served
    await transport_env.start_worker(idle_v2)
    stats = {(item.name, item.version_id): item for item in await c.workflow_stats()}
    assert stats[("idle", "2.0.0")].served and not stats[("idle", "1.0.0")].served


async def test_an_empty_created_range_matches_nothing(transport_env: TransportEnv) -> None:
    c = transport_env.client
    started = await idle_v2.start(c, 1)
    at = started.run.created_at_ms
    assert await c.count_runs(created_after=at, created_before=at + 1) == 1
    page = await c.list_runs(created_after=at + 1, created_before=at)
    assert page.runs == [] and page.next_cursor is None
    assert await c.count_runs(created_after=at + 1, created_before=at) == 0


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"status": "sleepy"}, "'sleepy' is not a run status"),
        ({"status": []}, "matches nothing"),
        ({"limit": 0}, "from 1 to 1000"),
        ({"limit": 1001}, "from 1 to 1000"),
        ({"cursor": "garbage"}, "not a cursor"),
        ({"order": "sideways"}, "'newest' or 'oldest'"),
        ({"version": "1.0.0"}, "needs the workflow"),
    ],
)
async def test_bad_filters_raise_invalid_option_error(
    transport_env: TransportEnv, filters: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        await transport_env.client.list_runs(**filters)


async def test_a_cursor_of_one_order_is_refused_by_the_other(transport_env: TransportEnv) -> None:
    c = transport_env.client
    for n in range(3):
        await other_v1.start(c, n)
    page = await c.list_runs(limit=1)
    assert page.next_cursor is not None

    with pytest.raises(InvalidOptionError, match="order 'newest'"):
        await c.list_runs(limit=1, order="oldest", cursor=page.next_cursor)


async def test_an_unknown_filter_keyword_is_pythons_own_type_error(transport_env: TransportEnv) -> None:
    with pytest.raises(TypeError):
        await transport_env.client.list_runs(colour="blue")  # type: ignore[call-arg]


broken = workflow(name="broken")


@broken.v("1.0.0")
async def broken_v1(run: Any, input: Any) -> Any:
    raise ValueError("x" * 1000)


async def test_lists_carry_summaries_and_whole_runs_only_when_asked(transport_env: TransportEnv) -> None:
    await transport_env.start_worker(broken_v1)
    c = transport_env.client
    failed = await broken_v1.start(c, {"big": "input"})
    await failed.wait_for_status("failed", timeout={"seconds": 15})

    [summary] = await c.list_runs(workflow="broken")
    [whole] = await c.list_runs(workflow="broken", include_values=True)

    assert summary.values_omitted and summary.input is None
    assert summary.state.error is not None and summary.state.error["type"] == "ValueError"
    assert summary.state.error["message"] == "x" * 300 and "traceback" not in summary.state.error
    assert not whole.values_omitted and whole.input == {"big": "input"}
    assert whole.state.error is not None and "traceback" in whole.state.error


async def test_whole_runs_fill_a_page_up_to_the_byte_budget_and_the_cursor_continues(
    transport_env: TransportEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiki.server.commands import runs as run_commands

    monkeypatch.setattr(run_commands, "VALUES_BUDGET_BYTES", 1_500)
    c = transport_env.client
    ids = [(await other_v1.start(c, "v" * 600)).id for _ in range(3)]

    first = await c.list_runs(workflow="other", order="oldest", include_values=True)
    rest = await c.list_runs(workflow="other", order="oldest", include_values=True, cursor=first.next_cursor)

    assert [run.id for run in first] == ids[:2] and first.next_cursor is not None
    assert [run.id for run in rest] == ids[2:] and rest.next_cursor is None
    assert all(run.input == "v" * 600 for page in (first, rest) for run in page)
