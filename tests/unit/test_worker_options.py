"""``worker(workflows=[...], opts={...})``: its options are checked, and a version registers once."""

from __future__ import annotations

from typing import Any

import pytest

from aiki import ConfigurationError, WorkflowVersion, worker, workflow


async def _handler(run: Any, input: Any) -> None:
    return None


def _version(name: str = "orders", version: str = "1.0.0") -> WorkflowVersion:
    created: WorkflowVersion = workflow(name=name).v(version, handler=_handler)
    return created


def test_defaults_match_the_spec() -> None:
    settings = worker(workflows=[_version()]).settings
    assert settings.max_concurrent_workflow_runs == 10
    assert settings.shards is None
    assert settings.claim_refresh_interval_ms == 30_000
    assert settings.graceful_shutdown_timeout_ms == 5_000


def test_the_options_of_the_spec_are_accepted() -> None:
    opts = {
        "max_concurrent_workflow_runs": 3,
        "shards": ["us-east"],
        "claim_refresh_interval_ms": 1_000,
        "graceful_shutdown_timeout_ms": 2_000,
    }
    settings = worker(workflows=[_version()], opts=opts).settings
    assert (
        settings.max_concurrent_workflow_runs,
        settings.shards,
        settings.claim_refresh_interval_ms,
        settings.graceful_shutdown_timeout_ms,
    ) == (3, ["us-east"], 1_000, 2_000)


def test_the_shards_list_is_copied() -> None:
    shards = ["us-east"]
    settings = worker(workflows=[_version()], opts={"shards": shards}).settings
    shards.append("eu")
    assert settings.shards == ["us-east"]


def test_an_unknown_option_raises_listing_the_options() -> None:
    with pytest.raises(ConfigurationError, match=r"Unknown worker option\(s\) \['max_concurrency'\]"):
        worker(workflows=[_version()], opts={"max_concurrency": 3})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_concurrent_workflow_runs", 0),
        ("max_concurrent_workflow_runs", -1),
        ("max_concurrent_workflow_runs", "10"),
        ("max_concurrent_workflow_runs", 2.5),
        ("max_concurrent_workflow_runs", True),
        ("claim_refresh_interval_ms", 0),
        ("claim_refresh_interval_ms", None),
        ("graceful_shutdown_timeout_ms", "5s"),
        ("poll_interval_ms", 0),
        ("max_inline_retry_delay_ms", -1),
    ],
)
def test_a_wrongly_typed_number_raises_naming_the_option(key: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=rf"'{key}' must be"):
        worker(workflows=[_version()], opts={key: value})


@pytest.mark.parametrize("shards", ["us-east", [""], [1], ["us-east", None]])
def test_shards_must_be_a_list_of_names(shards: Any) -> None:
    with pytest.raises(ConfigurationError, match="'shards' must be a list of shard names"):
        worker(workflows=[_version()], opts={"shards": shards})


def test_no_inline_retry_wait_is_allowed() -> None:
    assert (
        worker(
            workflows=[_version()], opts={"max_inline_retry_delay_ms": 0}
        ).settings.max_inline_retry_delay_ms
        == 0
    )


def test_a_version_registered_twice_raises_at_worker_naming_it() -> None:
    version = _version("orders", "1.0.0")
    with pytest.raises(ConfigurationError, match=r"'orders' version '1\.0\.0' is registered twice"):
        worker(workflows=[version, _version("other"), version])


def test_two_definitions_of_one_name_and_version_in_one_worker_raise_too() -> None:
    # Two workflow objects with the same name and version (one "redeployed"): which handler would run?
    with pytest.raises(ConfigurationError, match=r"'orders' version '2\.0\.0' is registered twice"):
        worker(workflows=[_version("orders", "2.0.0"), _version("orders", "2.0.0")])


def test_two_versions_of_one_workflow_register_side_by_side() -> None:
    orders = workflow(name="orders")
    first = orders.v("1.0.0", handler=_handler)
    second = orders.v("2.0.0", handler=_handler)
    assert set(worker(workflows=[first, second]).registry) == {("orders", "1.0.0"), ("orders", "2.0.0")}


def test_something_that_is_not_a_version_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"takes workflow versions"):
        worker(workflows=[workflow(name="orders")])  # type: ignore[list-item]
