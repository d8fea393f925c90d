"""Per-call task options: ``task.with_().opt(path, value)`` checks at once, returns copies, and never
changes the task or its address; ``task(..., timeout=...)`` is checked like the option."""

from __future__ import annotations

from typing import Any

import pytest

from aiki import InvalidOptionError, task
from aiki.definitions.retry import parse_retry


@task(name="charge", retry={"type": "fixed", "max_attempts": 2, "delay_ms": 10}, timeout={"seconds": 5})
async def charge(amount: int) -> int:
    return amount


def test_opt_returns_a_new_starter_and_never_changes_its_source() -> None:
    plain = charge.with_()
    timed = plain.opt("timeout", {"seconds": 30})
    retried = timed.opt("retry", {"type": "never"})

    assert plain.options.timeout_ms is None and plain.options.retry is None
    assert timed.options.timeout_ms == 30_000 and timed.options.retry is None
    assert retried.options.timeout_ms == 30_000 and retried.options.retry == parse_retry(None, "x")
    assert (charge.timeout_ms, charge.retry.max_attempts) == (5_000, 2)


def test_the_configured_task_is_a_copy_with_the_same_name_and_handler() -> None:
    configured = charge.with_().opt("timeout", 100).opt("retry", {"type": "never"})
    copy = charge.configured(configured.options)

    assert copy is not charge
    assert (copy.name, copy.handler, copy.timeout_ms, copy.retry.type) == (
        "charge",
        charge.handler,
        100,
        "never",
    )
    assert (charge.timeout_ms, charge.retry.type) == (5_000, "fixed")
    assert charge.configured(charge.with_().options) is charge


def test_an_unknown_path_names_the_paths() -> None:
    with pytest.raises(
        InvalidOptionError, match=r"Unknown option path 'timeout_ms' for task 'charge'.*retry, timeout"
    ):
        charge.with_().opt("timeout_ms", 100)


@pytest.mark.parametrize("value", [0, -1, "30s", None, {"weeks": 1}, True])
def test_a_timeout_that_is_not_a_positive_duration_is_refused_at_once(value: Any) -> None:
    with pytest.raises(InvalidOptionError, match="option 'timeout' of task 'charge'"):
        charge.with_().opt("timeout", value)


@pytest.mark.parametrize("value", [0, -1, "30s", {"weeks": 1}])
def test_a_task_defined_with_a_bad_timeout_is_refused(value: Any) -> None:
    with pytest.raises(InvalidOptionError, match="timeout of task 'slow'"):
        task(name="slow", handler=charge.handler, timeout=value)


def test_a_wrong_retry_option_is_refused_at_once() -> None:
    with pytest.raises(InvalidOptionError, match="option 'retry' of task 'charge'"):
        charge.with_().opt("retry", {"type": "fixed"})
