"""Clocks: the system clock, and the fake clock that tests move by hand."""

from __future__ import annotations

import asyncio
import time

import pytest

from aiki.clock import Clock, FakeClock, SystemClock, sleep_until


async def _started(clock: FakeClock, ms: float) -> asyncio.Task[None]:
    """A task sleeping ``ms`` on ``clock``, run until it is actually asleep."""
    sleeper = asyncio.create_task(clock.sleep_ms(ms))
    await asyncio.sleep(0)
    return sleeper


def test_both_clocks_satisfy_the_clock_protocol() -> None:
    clocks: list[Clock] = [SystemClock(), FakeClock()]
    assert len(clocks) == 2


def test_the_system_clock_reads_epoch_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    now = SystemClock().now_ms()
    assert before <= now <= time.time_ns() // 1_000_000


async def test_the_system_clock_sleeps_in_milliseconds() -> None:
    started = time.monotonic()
    await SystemClock().sleep_ms(20)
    assert time.monotonic() - started >= 0.015


async def test_the_system_clock_returns_at_once_for_a_negative_sleep() -> None:
    await asyncio.wait_for(SystemClock().sleep_ms(-5), timeout=1)


async def test_sleep_until_on_the_system_clock_never_returns_before_the_target() -> None:
    clock = SystemClock()
    for _ in range(5):
        target_ms = clock.now_ms() + 3
        await sleep_until(clock, target_ms)
        assert time.time_ns() >= target_ms * 1_000_000
        assert clock.now_ms() >= target_ms


async def test_sleep_until_a_past_time_returns_at_once() -> None:
    clock = SystemClock()
    await asyncio.wait_for(sleep_until(clock, clock.now_ms() - 1_000), timeout=1)


async def test_sleep_until_on_a_clock_without_sleep_until_ms_sleeps_the_difference() -> None:
    clock = FakeClock()
    sleeper = asyncio.create_task(sleep_until(clock, clock.now_ms() + 5_000))
    await asyncio.sleep(0)
    clock.advance(4_999)
    await asyncio.sleep(0)
    assert not sleeper.done()
    clock.advance(1)
    await asyncio.wait_for(sleeper, timeout=1)


def test_the_fake_clock_starts_at_the_given_time() -> None:
    assert FakeClock(start_ms=42).now_ms() == 42


def test_the_fake_clock_starts_in_november_2023_by_default() -> None:
    assert FakeClock().now_ms() == 1_700_000_000_000


def test_advance_moves_the_fake_time_forward() -> None:
    clock = FakeClock(start_ms=1_000)
    clock.advance(250)
    assert clock.now_ms() == 1_250


def test_set_jumps_to_the_given_time_even_backwards() -> None:
    clock = FakeClock(start_ms=1_000)
    clock.set(500)
    assert clock.now_ms() == 500


def test_advance_refuses_a_negative_step() -> None:
    with pytest.raises(ValueError, match="set"):
        FakeClock().advance(-1)


async def test_a_sleeper_is_not_woken_before_its_time() -> None:
    clock = FakeClock()
    sleeper = await _started(clock, 100)
    clock.advance(99)
    await asyncio.sleep(0)
    assert not sleeper.done()
    clock.advance(1)
    await sleeper


async def test_advance_wakes_a_sleeper_whose_time_has_come() -> None:
    clock = FakeClock()
    sleeper = await _started(clock, 100)
    clock.advance(100)
    await asyncio.wait_for(sleeper, timeout=1)


async def test_set_wakes_a_sleeper_whose_time_has_come() -> None:
    clock = FakeClock(start_ms=0)
    sleeper = await _started(clock, 100)
    clock.set(1_000)
    await asyncio.wait_for(sleeper, timeout=1)


async def test_a_fractional_sleep_needs_the_next_whole_millisecond() -> None:
    clock = FakeClock(start_ms=0)
    sleeper = await _started(clock, 0.5)
    clock.advance(0)
    await asyncio.sleep(0)
    assert not sleeper.done()
    clock.advance(1)
    await asyncio.wait_for(sleeper, timeout=1)


async def test_sleepers_wake_in_the_order_of_their_wake_up_times() -> None:
    clock = FakeClock()
    woken: list[str] = []

    async def sleep_then_note(name: str, ms: int) -> None:
        await clock.sleep_ms(ms)
        woken.append(name)

    async with asyncio.TaskGroup() as group:
        group.create_task(sleep_then_note("late", 300))
        group.create_task(sleep_then_note("early", 100))
        await asyncio.sleep(0)
        clock.advance(1_000)
    assert woken == ["early", "late"]


async def test_moving_only_part_way_wakes_only_the_due_sleepers() -> None:
    clock = FakeClock()
    early = await _started(clock, 100)
    late = await _started(clock, 300)
    clock.advance(200)
    await asyncio.wait_for(early, timeout=1)
    assert not late.done()
    assert clock.sleeper_count == 1
    clock.advance(100)
    await late


@pytest.mark.parametrize("ms", [0, -10])
async def test_a_fake_sleep_of_zero_or_less_returns_at_once(ms: float) -> None:
    clock = FakeClock()
    await asyncio.wait_for(clock.sleep_ms(ms), timeout=1)
    assert clock.sleeper_count == 0


async def test_sleeper_count_tells_how_many_sleeps_are_waiting() -> None:
    clock = FakeClock()
    sleepers = [await _started(clock, 10), await _started(clock, 20)]
    assert clock.sleeper_count == 2
    clock.advance(20)
    await asyncio.gather(*sleepers)
    assert clock.sleeper_count == 0


async def test_a_cancelled_sleep_no_longer_counts_as_a_sleeper() -> None:
    clock = FakeClock()
    sleeper = await _started(clock, 100)
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    assert clock.sleeper_count == 0


async def test_moving_the_clock_after_a_cancel_but_before_the_task_resumes_is_harmless() -> None:
    clock = FakeClock()
    sleeper = await _started(clock, 100)
    sleeper.cancel()
    clock.advance(100)
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    assert clock.sleeper_count == 0
