"""Start options: ``version.with_().opt(path, value)`` builds copies and checks every option path at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aiki import InvalidOptionError, workflow
from aiki.definitions.retry import RetryPolicy
from aiki.definitions.start_options import StartOptions
from aiki.definitions.workflow_version import WorkflowVersion


def _version(**opts: Any) -> WorkflowVersion:
    async def handler(run: object, input: object) -> None:
        return None

    version: WorkflowVersion = workflow(name="orders").v("1.0.0", handler=handler, opts=opts or None)
    return version


def test_with_returns_a_starter_with_no_options_set() -> None:
    assert _version().with_().options == StartOptions()


def test_opt_returns_a_new_starter_and_leaves_its_source_unchanged() -> None:
    source = _version().with_()
    sharded = source.opt("shard", "us-east")
    assert sharded is not source
    assert sharded.options.shard == "us-east"
    assert source.options == StartOptions()


def test_chained_opts_accumulate_without_touching_the_intermediate_starters() -> None:
    first = _version().with_().opt("shard", "eu")
    second = first.opt("reference.id", "order-1")
    assert (first.options.shard, first.options.reference_id) == ("eu", None)
    assert (second.options.shard, second.options.reference_id) == ("eu", "order-1")


def test_two_with_calls_give_independent_builders() -> None:
    version = _version()
    version.with_().opt("shard", "eu")
    assert version.with_().options.shard is None


def test_shard_is_sent_with_the_start_request() -> None:
    request = _version().with_().opt("shard", "us-east").request({"a": 1})
    assert request.shard == "us-east"


def test_the_start_shard_overrides_the_version_shard() -> None:
    version = _version(shard="eu")
    assert version.with_().request(None).shard == "eu"
    assert version.with_().opt("shard", "us").request(None).shard == "us"


def test_reference_id_is_sent_with_the_default_conflict_policy() -> None:
    request = _version().with_().opt("reference.id", "order-123").request(None)
    assert (request.reference_id, request.conflict_policy) == ("order-123", "error")


def test_reference_takes_an_id_and_a_conflict_policy() -> None:
    starter = _version().with_().opt("reference", {"id": "order-123", "conflict_policy": "return_existing"})
    request = starter.request(None)
    assert (request.reference_id, request.conflict_policy) == ("order-123", "return_existing")


def test_reference_without_a_policy_uses_error() -> None:
    request = _version().with_().opt("reference", {"id": "order-123"}).request(None)
    assert request.conflict_policy == "error"


def test_trigger_delay_takes_a_duration_mapping() -> None:
    request = _version().with_().opt("trigger", {"delay": {"minutes": 5}}).request(None)
    assert (request.delay_ms, request.at_ms) == (300_000, None)


@pytest.mark.parametrize("delay", [1500, timedelta(seconds=1.5), {"seconds": 1.5}])
def test_trigger_delay_takes_every_duration_form(delay: Any) -> None:
    assert _version().with_().opt("trigger", {"delay": delay}).options.delay_ms == 1500


def test_trigger_at_takes_an_aware_datetime() -> None:
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    request = _version().with_().opt("trigger", {"at": at}).request(None)
    assert (request.at_ms, request.delay_ms) == (int(at.timestamp() * 1000), None)


def test_a_later_trigger_replaces_an_earlier_one() -> None:
    at = datetime(2030, 1, 1, tzinfo=UTC)
    options = _version().with_().opt("trigger", {"delay": 10}).opt("trigger", {"at": at}).options
    assert (options.delay_ms, options.at_ms) == (None, int(at.timestamp() * 1000))


def test_retry_overrides_the_version_retry_for_this_run() -> None:
    version = _version(retry={"type": "fixed", "max_attempts": 3, "delay_ms": 500})
    assert version.with_().request(None).options == {
        "retry": {"type": "fixed", "max_attempts": 3, "delay_ms": 500}
    }
    overridden = version.with_().opt("retry", {"type": "never"}).request(None)
    assert overridden.options == {"retry": {"type": "never"}}


def test_retry_option_is_parsed_into_a_policy() -> None:
    options = (
        _version()
        .with_()
        .opt("retry", {"type": "exponential", "max_attempts": 2, "base_delay_ms": 10})
        .options
    )
    assert options.retry == RetryPolicy("exponential", max_attempts=2, base_delay_ms=10)


@pytest.mark.parametrize("path", ["shards", "reference.key", "pool", "", "retry.type", "Shard"])
def test_an_unknown_path_raises_at_once_listing_the_paths(path: str) -> None:
    with pytest.raises(InvalidOptionError, match=r"Unknown option path .* shard, reference\.id, reference"):
        _version().with_().opt(path, "x")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("shard", 5),
        ("shard", ""),
        ("shard", None),
        ("shard", ["us-east"]),
        ("reference.id", 123),
        ("reference.id", ""),
        ("reference", "order-1"),
        ("reference", {"id": 7}),
        ("reference", {"conflict_policy": "error"}),
        ("reference", {"id": "x", "conflict_policy": "overwrite"}),
        ("reference", {"id": "x", "policy": "error"}),
        ("trigger", {"delay": "5 minutes"}),
        ("trigger", {"delay": -1}),
        ("trigger", {"delay": {"weeks": 1}}),
        ("trigger", {"at": "2030-01-01"}),
        ("trigger", {"at": datetime(2030, 1, 1)}),  # naive: which timezone?
        ("trigger", {"delay": 5, "at": datetime(2030, 1, 1, tzinfo=UTC)}),
        ("trigger", {}),
        ("trigger", 5000),
        ("retry", {"type": "sometimes"}),
        ("retry", {"type": "fixed", "max_attempts": 3}),
        ("retry", {"type": "fixed", "max_attempts": "3", "delay_ms": 1}),
        ("retry", "never"),
    ],
)
def test_a_wrongly_typed_value_raises_at_once_and_leaves_the_source_unchanged(path: str, value: Any) -> None:
    source = _version().with_()
    with pytest.raises(InvalidOptionError):
        source.opt(path, value)
    assert source.options == StartOptions()


def test_the_error_names_the_option_and_the_value() -> None:
    with pytest.raises(InvalidOptionError, match=r"'shard'.*5"):
        _version().with_().opt("shard", 5)
