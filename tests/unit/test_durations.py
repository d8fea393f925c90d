"""Durations: milliseconds, timedeltas and unit mappings, rounded up to whole milliseconds."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from aiki.durations import MAX_SLEEP_MS, Duration, to_bounded_milliseconds, to_milliseconds
from aiki.errors import InvalidOptionError


def test_an_int_is_a_number_of_milliseconds() -> None:
    assert to_milliseconds(1500, "sleep") == 1500


def test_a_fractional_millisecond_is_rounded_up() -> None:
    assert to_milliseconds(0.2, "sleep") == 1


def test_a_float_with_a_whole_number_of_milliseconds_is_not_rounded_up() -> None:
    assert to_milliseconds(250.0, "sleep") == 250


def test_zero_is_zero_milliseconds() -> None:
    assert to_milliseconds(0, "sleep") == 0


def test_a_timedelta_is_converted_with_microseconds_rounded_up() -> None:
    assert to_milliseconds(timedelta(seconds=2, microseconds=1), "sleep") == 2001


def test_a_mapping_adds_up_all_its_units() -> None:
    duration = {"days": 1, "hours": 2, "minutes": 3, "seconds": 4, "milliseconds": 5}
    assert to_milliseconds(duration, "sleep") == 93_784_005


def test_fractional_seconds_are_read_as_written_not_as_their_binary_value() -> None:
    # 0.1 * 1000 is 100.00000000000001 in float arithmetic; the user meant 100 ms.
    assert to_milliseconds({"seconds": 0.1}, "sleep") == 100


def test_an_empty_mapping_is_zero_milliseconds() -> None:
    assert to_milliseconds({}, "sleep") == 0


def test_an_unknown_unit_is_rejected_naming_it_and_the_allowed_units() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        to_milliseconds({"weeks": 1}, "duration of sleep 'nap'")
    message = str(caught.value)
    assert "duration of sleep 'nap'" in message
    assert "'weeks'" in message
    assert "'days', 'hours', 'minutes', 'seconds', 'milliseconds'" in message


@pytest.mark.parametrize("duration", [True, {"seconds": False}])
def test_booleans_are_rejected(duration: Duration) -> None:
    with pytest.raises(InvalidOptionError):
        to_milliseconds(duration, "sleep")


@pytest.mark.parametrize("duration", [-1, -0.5, {"seconds": -1}, timedelta(seconds=-1)])
def test_negative_durations_are_rejected(duration: Duration) -> None:
    with pytest.raises(InvalidOptionError, match="negative"):
        to_milliseconds(duration, "sleep")


@pytest.mark.parametrize("duration", [math.nan, math.inf, {"hours": math.inf}])
def test_non_finite_durations_are_rejected(duration: Duration) -> None:
    with pytest.raises(InvalidOptionError, match="finite"):
        to_milliseconds(duration, "sleep")


def test_a_string_is_rejected() -> None:
    with pytest.raises(InvalidOptionError, match="'5s'"):
        to_milliseconds("5s", "sleep")  # type: ignore[arg-type]  # the wrong type is the point


def test_the_longest_sleep_is_ten_years_of_365_days() -> None:
    assert to_milliseconds({"days": 3650}, "sleep") == MAX_SLEEP_MS


def test_a_bounded_duration_is_refused_over_ten_years_and_at_zero_unless_zero_is_allowed() -> None:
    assert to_bounded_milliseconds({"days": 1}, "timeout") == 86_400_000
    assert to_bounded_milliseconds(0, "trigger delay", allow_zero=True) == 0
    with pytest.raises(InvalidOptionError, match="longer than zero and at most 10 years"):
        to_bounded_milliseconds(0, "timeout")
    with pytest.raises(InvalidOptionError, match="at most 10 years"):
        to_bounded_milliseconds(MAX_SLEEP_MS + 1, "timeout")
