"""When schedule occurrences fall: intervals on their grid, cron in a timezone, daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from aiki.contract.recurrence import CronTiming, IntervalTiming, parse_overlap_policy, parse_timing
from aiki.errors import ConfigurationError

BERLIN = ZoneInfo("Europe/Berlin")


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def utc(text: str) -> int:
    return ms(datetime.fromisoformat(text).replace(tzinfo=UTC))


def occurrences(timing: CronTiming, after_ms: int, count: int) -> list[int]:
    found = [timing.next_after(after_ms)]
    while len(found) < count:
        found.append(timing.next_after(found[-1]))
    return found


def test_an_interval_fires_on_the_grid_through_its_anchor() -> None:
    every_minute = IntervalTiming(60_000)
    assert every_minute.next_after(1_000, grid_ms=1_000) == 61_000
    assert every_minute.next_after(61_000, grid_ms=1_000) == 121_000
    assert every_minute.next_after(90_500, grid_ms=1_000) == 121_000


def test_the_latest_interval_occurrence_is_the_last_grid_point_not_after_the_time() -> None:
    every_minute = IntervalTiming(60_000)
    assert every_minute.latest_at_or_before(301_000, grid_ms=61_000) == 301_000
    assert every_minute.latest_at_or_before(330_999, grid_ms=61_000) == 301_000


def test_a_cron_without_a_timezone_is_utc() -> None:
    daily = CronTiming.parse("0 9 * * *")
    assert daily.timezone == "UTC"
    assert daily.next_after(utc("2024-01-01T08:00:00")) == utc("2024-01-01T09:00:00")


def test_the_next_cron_occurrence_is_strictly_after_the_given_time() -> None:
    daily = CronTiming.parse("0 9 * * *")
    assert daily.next_after(utc("2024-01-01T09:00:00")) == utc("2024-01-02T09:00:00")
    assert daily.next_after(utc("2024-01-01T08:59:59.999")) == utc("2024-01-01T09:00:00")


def test_a_cron_in_a_named_timezone_fires_at_that_zones_wall_clock_time() -> None:
    daily = CronTiming.parse("0 9 * * *", "Europe/Berlin")
    assert daily.next_after(utc("2024-01-15T00:00:00")) == utc("2024-01-15T08:00:00")  # CET, UTC+1
    assert daily.next_after(utc("2024-07-15T00:00:00")) == utc("2024-07-15T07:00:00")  # CEST, UTC+2


def test_a_wall_time_skipped_by_the_spring_change_fires_once_at_the_jump() -> None:
    daily = CronTiming.parse("30 2 * * *", "Europe/Berlin")
    start = ms(datetime(2024, 3, 29, 12, 0, tzinfo=BERLIN))
    assert occurrences(daily, start, 3) == [
        utc("2024-03-30T01:30:00"),  # 02:30 CET
        utc("2024-03-31T01:00:00"),  # 02:30 does not exist: 03:00 CEST, the moment of the jump
        utc("2024-04-01T00:30:00"),  # 02:30 CEST
    ]


def test_a_wall_time_repeated_by_the_autumn_change_fires_once_for_a_fixed_hour() -> None:
    daily = CronTiming.parse("30 2 * * *", "Europe/Berlin")
    start = ms(datetime(2024, 10, 26, 12, 0, tzinfo=BERLIN))
    assert occurrences(daily, start, 2) == [
        utc("2024-10-27T00:30:00"),  # the first 02:30 (CEST); the second (CET) does not fire
        utc("2024-10-28T01:30:00"),
    ]


def test_an_hourly_cron_fires_in_both_repeated_hours_of_the_autumn_change() -> None:
    hourly = CronTiming.parse("30 * * * *", "Europe/Berlin")
    start = ms(datetime(2024, 10, 27, 1, 0, tzinfo=BERLIN))
    assert occurrences(hourly, start, 4) == [
        utc("2024-10-26T23:30:00"),  # 01:30 CEST
        utc("2024-10-27T00:30:00"),  # 02:30 CEST
        utc("2024-10-27T01:30:00"),  # 02:30 CET: an hour later in real time
        utc("2024-10-27T02:30:00"),  # 03:30 CET
    ]


def test_the_latest_cron_occurrence_skips_the_repeated_wall_time() -> None:
    daily = CronTiming.parse("30 2 * * *", "Europe/Berlin")
    assert daily.latest_at_or_before(utc("2024-10-27T03:00:00")) == utc("2024-10-27T00:30:00")
    assert daily.latest_at_or_before(utc("2024-10-27T00:30:00")) == utc("2024-10-27T00:30:00")


def test_a_six_field_cron_has_a_leading_seconds_field() -> None:
    every_ten_seconds = CronTiming.parse("*/10 * * * * *")
    assert every_ten_seconds.next_after(utc("2024-01-01T00:00:01")) == utc("2024-01-01T00:00:10")


def test_cron_nicknames_are_accepted() -> None:
    assert CronTiming.parse("@daily").next_after(utc("2024-01-01T12:00:00")) == utc("2024-01-02T00:00:00")


def test_a_cron_expression_is_normalised_to_single_spaces() -> None:
    assert CronTiming.parse("  0   9 * * * ").expression == "0 9 * * *"


@pytest.mark.parametrize(
    "expression",
    ["", "0 9 * *", "0 25 * * *", "not a cron", "0 9 * * * * *", "@reboot", "H 9 * * *", "0 0 30 2 *"],
)
def test_an_invalid_cron_expression_is_a_configuration_error(expression: str) -> None:
    with pytest.raises(ConfigurationError, match="cron"):
        CronTiming.parse(expression)


def test_an_unknown_timezone_is_a_configuration_error_naming_it() -> None:
    with pytest.raises(ConfigurationError, match="Mars/Olympus"):
        CronTiming.parse("0 9 * * *", "Mars/Olympus")


@pytest.mark.parametrize("every_ms", [0, -1, 1.5, True, None])
def test_a_non_positive_or_non_integer_interval_is_a_configuration_error(every_ms: object) -> None:
    with pytest.raises(ConfigurationError, match="positive"):
        IntervalTiming.parse(every_ms)


def test_an_unknown_overlap_policy_is_a_configuration_error_listing_the_policies() -> None:
    with pytest.raises(ConfigurationError, match="allow, skip, cancel_previous"):
        parse_overlap_policy("queue")


def test_a_timing_round_trips_through_its_dict_form() -> None:
    for timing in (CronTiming.parse("0 9 * * 1-5", "America/New_York"), IntervalTiming(5_000)):
        assert parse_timing(timing.to_dict()) == timing


def test_an_unknown_timing_type_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="'weekly'"):
        parse_timing({"type": "weekly"})


def test_timings_describe_themselves_for_people() -> None:
    assert CronTiming.parse("0 9 * * *").describe() == "cron '0 9 * * *' (UTC)"
    assert IntervalTiming(5_400_250).describe() == "every 1h 30m 250ms"
