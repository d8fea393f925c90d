"""``schedule(...)`` as a value: checked at once, copied by ``opt``, turned into an activation request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from aiki import ConfigurationError, InvalidOptionError, SchemaValidationError, schedule, workflow
from aiki.contract.recurrence import CronTiming, IntervalTiming

report = workflow(name="report")


@report.v("1.0.0", opts={"retry": {"type": "fixed", "max_attempts": 3, "delay_ms": 500}, "shard": "eu"})
async def report_v1(run: Any, input: Any) -> None:
    return None


def _positive(value: Any) -> Any:
    if not isinstance(value, dict) or value.get("days", 0) <= 0:
        raise ValueError("days must be positive")
    return value


@report.v("2.0.0", schema={"input": _positive})
async def report_v2(run: Any, input: Any) -> None:
    return None


def test_a_cron_schedule_defaults_to_utc_and_overlap_allow() -> None:
    daily = schedule(type="cron", expression="0 9 * * *")
    assert daily.timing == CronTiming("0 9 * * *", "UTC")
    assert daily.overlap_policy == "allow"


def test_an_interval_takes_any_duration_form() -> None:
    assert schedule(type="interval", every={"hours": 1}).timing == IntervalTiming(3_600_000)
    assert schedule(type="interval", every=250).timing == IntervalTiming(250)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"type": "cron", "expression": "every day"}, "Invalid cron expression"),
        ({"type": "cron", "expression": "0 9 * * *", "timezone": "Nowhere/Land"}, "Unknown timezone"),
        ({"type": "interval", "every": 0}, "positive"),
        ({"type": "interval", "every": {"minutes": -1}}, "negative"),
        ({"type": "interval", "every": {"weeks": 1}}, "unknown unit"),
        ({"type": "interval"}, "needs 'every'"),
        ({"type": "interval", "every": 1_000, "expression": "0 9 * * *"}, "not 'expression'"),
        ({"type": "cron", "expression": "0 9 * * *", "every": 1_000}, "not 'every'"),
        ({"type": "cron", "expression": "0 9 * * *", "overlap_policy": "queue"}, "overlap_policy"),
        ({"type": "weekly"}, "Unknown schedule type"),
    ],
)
def test_a_bad_schedule_is_a_configuration_error_at_definition(
    arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        schedule(**arguments)


def test_opt_returns_a_copy_and_leaves_its_source_unchanged() -> None:
    daily = schedule(type="cron", expression="0 9 * * *")
    named = daily.with_().opt("reference.id", "daily-sales")
    assert named.reference_id == "daily-sales"
    assert named.conflict_policy == "error"
    assert daily.reference_id is None


def test_the_reference_option_takes_an_id_and_a_conflict_policy() -> None:
    daily = schedule(type="cron", expression="0 9 * * *")
    named = daily.with_().opt("reference", {"id": "daily", "conflict_policy": "return_existing"})
    assert (named.reference_id, named.conflict_policy) == ("daily", "return_existing")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("reference.id", ""),
        ("reference", {"id": "x", "conflict_policy": "replace"}),
        ("reference", {"id": "x", "other": 1}),
        ("reference", "x"),
        ("overlap_policy", "skip"),
    ],
)
def test_a_bad_schedule_option_is_an_invalid_option_error(path: str, value: Any) -> None:
    with pytest.raises(InvalidOptionError):
        schedule(type="interval", every=1_000).with_().opt(path, value)


def test_the_versions_retry_and_shard_travel_in_the_activation_request() -> None:
    request = schedule(type="interval", every=1_000).activation_request(report_v1, {"kind": "sales"})
    assert request.run_options == {"retry": {"type": "fixed", "max_attempts": 3, "delay_ms": 500}}
    assert request.shard == "eu"
    assert request.input == {"kind": "sales"}


def test_retry_and_shard_set_with_opt_override_the_versions_defaults() -> None:
    starter = report_v1.with_().opt("retry", {"type": "never"}).opt("shard", "us")
    request = schedule(type="interval", every=1_000).activation_request(starter)
    assert request.run_options == {"retry": {"type": "never"}}
    assert request.shard == "us"


def test_a_version_with_a_reference_option_cannot_be_scheduled() -> None:
    starter = report_v1.with_().opt("reference.id", "once")
    with pytest.raises(InvalidOptionError, match="'reference'"):
        schedule(type="interval", every=1_000).activation_request(starter)


@pytest.mark.parametrize("trigger", [{"delay": {"minutes": 5}}, {"at": datetime(2030, 1, 1, tzinfo=UTC)}])
def test_a_version_with_a_trigger_option_cannot_be_scheduled(trigger: dict[str, Any]) -> None:
    starter = report_v1.with_().opt("trigger", trigger)
    with pytest.raises(InvalidOptionError, match="'trigger'"):
        schedule(type="interval", every=1_000).activation_request(starter)


def test_the_input_is_validated_against_the_versions_schema_at_activation() -> None:
    with pytest.raises(SchemaValidationError):
        schedule(type="interval", every=1_000).activation_request(report_v2, {"days": 0})


def test_something_other_than_a_workflow_version_cannot_be_scheduled() -> None:
    with pytest.raises(ConfigurationError, match="workflow version"):
        schedule(type="interval", every=1_000).activation_request(report)  # type: ignore[arg-type]
