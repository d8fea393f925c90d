"""Retry policies: parsing the user's mapping, and the delay before each retry."""

from __future__ import annotations

import pytest

from aiki.definitions.retry import MAX_RETRY_DELAY_MS, RetryPolicy, parse_retry
from aiki.errors import InvalidOptionError


def _delays(policy: RetryPolicy, random_value: float = 0.5) -> list[int | None]:
    """The delay after each attempt, until the policy gives up."""
    return [
        policy.next_delay_ms(attempts, lambda: random_value) for attempts in range(1, policy.max_attempts + 1)
    ]


def test_no_retry_option_means_never() -> None:
    assert parse_retry(None, "retry of task 'x'") == RetryPolicy("never")


def test_never_gives_no_delay_even_after_no_attempts() -> None:
    assert RetryPolicy("never", max_attempts=5).next_delay_ms(1) is None


def test_fixed_waits_the_same_delay_until_max_attempts_is_reached() -> None:
    policy = parse_retry({"type": "fixed", "max_attempts": 3, "delay_ms": 500}, "retry")
    assert _delays(policy) == [500, 500, None]


def test_fixed_accepts_a_zero_delay_for_immediate_retries() -> None:
    policy = parse_retry({"type": "fixed", "max_attempts": 2, "delay_ms": 0}, "retry")
    assert policy.next_delay_ms(1) == 0


def test_exponential_doubles_by_default() -> None:
    policy = parse_retry({"type": "exponential", "max_attempts": 4, "base_delay_ms": 100}, "retry")
    assert _delays(policy) == [100, 200, 400, None]


def test_exponential_multiplies_by_its_factor() -> None:
    options = {"type": "exponential", "max_attempts": 4, "base_delay_ms": 100, "factor": 3}
    assert _delays(parse_retry(options, "retry")) == [100, 300, 900, None]


def test_exponential_is_capped_by_max_delay() -> None:
    options = {
        "type": "exponential",
        "max_attempts": 4,
        "base_delay_ms": 100,
        "factor": 3,
        "max_delay_ms": 300,
    }
    assert _delays(parse_retry(options, "retry")) == [100, 300, 300, None]


def test_a_fractional_factor_gives_whole_milliseconds_without_float_noise() -> None:
    options = {"type": "exponential", "max_attempts": 4, "base_delay_ms": 100, "factor": 1.1}
    assert _delays(parse_retry(options, "retry")) == [100, 110, 121, None]


def test_a_fractional_delay_is_rounded_up() -> None:
    options = {"type": "exponential", "max_attempts": 3, "base_delay_ms": 3, "factor": 1.5}
    assert _delays(parse_retry(options, "retry")) == [3, 5, None]


def test_an_uncapped_exponential_delay_stops_growing_at_ten_years() -> None:
    policy = RetryPolicy("exponential", max_attempts=10_000, base_delay_ms=1_000, factor=10)
    assert policy.next_delay_ms(5_000) == MAX_RETRY_DELAY_MS


def test_jittered_with_full_jitter_and_random_one_half_halves_the_delay() -> None:
    # jitter_factor 1 with random() = 0.5 halves every delay: 100, 200, 400 become 50, 100, 200.
    options = {"type": "jittered", "max_attempts": 4, "base_delay_ms": 100, "jitter_factor": 1}
    assert _delays(parse_retry(options, "retry"), random_value=0.5) == [50, 100, 200, None]


def test_jittered_with_the_default_jitter_factor_cuts_at_most_half_the_delay() -> None:
    policy = parse_retry({"type": "jittered", "max_attempts": 2, "base_delay_ms": 1000}, "retry")
    assert policy.next_delay_ms(1, lambda: 0.0) == 1000
    assert policy.next_delay_ms(1, lambda: 0.999999) == 501


def test_jittered_is_capped_by_max_delay_after_the_jitter() -> None:
    options = {"type": "jittered", "max_attempts": 4, "base_delay_ms": 100, "max_delay_ms": 150}
    assert _delays(parse_retry(options, "retry"), random_value=0.0) == [100, 150, 150, None]


def test_jittered_delays_are_at_least_one_millisecond() -> None:
    policy = RetryPolicy("jittered", max_attempts=2, base_delay_ms=1, jitter_factor=1)
    assert policy.next_delay_ms(1, lambda: 0.9999) == 1


@pytest.mark.parametrize(
    "options",
    [
        {"type": "never"},
        {"type": "fixed", "max_attempts": 3, "delay_ms": 0},
        {"type": "exponential", "max_attempts": 3, "base_delay_ms": 10, "factor": 3, "max_delay_ms": 50},
        {"type": "jittered", "max_attempts": 3, "base_delay_ms": 10, "factor": 2, "jitter_factor": 0.25},
    ],
)
def test_to_dict_round_trips_through_parse_retry(options: dict[str, object]) -> None:
    policy = parse_retry(options, "retry")
    assert parse_retry(policy.to_dict(), "retry") == policy


def test_to_dict_keeps_only_the_keys_of_its_type() -> None:
    policy = RetryPolicy("fixed", max_attempts=3, delay_ms=5, base_delay_ms=7, max_delay_ms=9)
    assert policy.to_dict() == {"type": "fixed", "max_attempts": 3, "delay_ms": 5}


def test_to_dict_fills_in_defaults_for_exponential() -> None:
    policy = parse_retry({"type": "exponential", "max_attempts": 2, "base_delay_ms": 10}, "retry")
    assert policy.to_dict() == {"type": "exponential", "max_attempts": 2, "base_delay_ms": 10, "factor": 2}


def test_a_policy_instance_is_checked_too() -> None:
    with pytest.raises(InvalidOptionError, match="'max_attempts' must be an integer > 0"):
        parse_retry(RetryPolicy("fixed", max_attempts=0), "retry")


def test_an_explicit_null_max_delay_means_no_cap() -> None:
    options = {"type": "exponential", "max_attempts": 2, "base_delay_ms": 10, "max_delay_ms": None}
    assert parse_retry(options, "retry").max_delay_ms is None


def test_a_non_mapping_is_rejected() -> None:
    with pytest.raises(InvalidOptionError, match="retry of task 'x' must be a mapping"):
        parse_retry("never", "retry of task 'x'")  # type: ignore[arg-type]  # the wrong type is the point


@pytest.mark.parametrize("options", [{}, {"type": "linear"}, {"type": ["never"]}])
def test_a_missing_or_unknown_type_is_rejected_listing_the_types(options: dict[str, object]) -> None:
    with pytest.raises(InvalidOptionError, match="'never', 'fixed', 'exponential', 'jittered'"):
        parse_retry(options, "retry")


def test_a_key_of_another_type_is_rejected_as_unknown() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        parse_retry({"type": "fixed", "max_attempts": 3, "delay_ms": 1, "factor": 2}, "retry of task 'x'")
    message = str(caught.value)
    assert "retry of task 'x'" in message
    assert "unknown key 'factor'" in message
    assert "'type', 'max_attempts', 'delay_ms'" in message


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"type": "fixed", "delay_ms": 1}, "max_attempts"),
        ({"type": "fixed", "max_attempts": 3}, "delay_ms"),
        ({"type": "exponential", "max_attempts": 3}, "base_delay_ms"),
        ({"type": "jittered", "max_attempts": 3}, "base_delay_ms"),
    ],
)
def test_a_missing_required_key_is_rejected_naming_it(options: dict[str, object], key: str) -> None:
    with pytest.raises(InvalidOptionError, match=f"needs the key '{key}'"):
        parse_retry(options, "retry")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("max_attempts", 0, "an integer > 0"),
        ("max_attempts", 2.0, "an integer > 0"),
        ("max_attempts", True, "an integer > 0"),
        ("base_delay_ms", 0, "an integer > 0"),
        ("max_delay_ms", -5, "an integer > 0"),
        ("factor", 0, "a number > 0"),
        ("factor", float("inf"), "a number > 0"),
        ("factor", "2", "a number > 0"),
        ("jitter_factor", 1.5, "a number from 0 to 1"),
        ("jitter_factor", -0.1, "a number from 0 to 1"),
    ],
)
def test_a_wrongly_typed_value_is_rejected_naming_the_key_and_what_it_expects(
    key: str, value: object, expected: str
) -> None:
    options = {"type": "jittered", "max_attempts": 3, "base_delay_ms": 100, key: value}
    with pytest.raises(InvalidOptionError) as caught:
        parse_retry(options, "retry of task 'x'")
    assert str(caught.value) == f"retry of task 'x': {key!r} must be {expected}, got {value!r}."


def test_a_negative_fixed_delay_is_rejected() -> None:
    with pytest.raises(InvalidOptionError, match="'delay_ms' must be an integer >= 0"):
        parse_retry({"type": "fixed", "max_attempts": 3, "delay_ms": -1}, "retry")


@pytest.mark.parametrize("key", ["delay_ms", "max_delay_ms"])
def test_a_delay_over_ten_years_is_rejected(key: str) -> None:
    options = {"type": "fixed", "max_attempts": 3, "delay_ms": 1}
    if key == "max_delay_ms":
        options = {"type": "exponential", "max_attempts": 3, "base_delay_ms": 1}
    with pytest.raises(InvalidOptionError, match=f"'{key}' must be at most ten years"):
        parse_retry({**options, key: MAX_RETRY_DELAY_MS + 1}, "retry")
