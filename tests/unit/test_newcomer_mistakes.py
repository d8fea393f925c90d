"""Mistakes a newcomer makes while defining things: each raises where it is made, with one message that names
the mistake and shows the fix."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from aiki import ConfigurationError, WorkflowVersion, event, task, worker, workflow


async def order_v1(run: Any, input: Any) -> str:
    return "done"


def plain_handler(run: Any, input: Any) -> str:
    return "done"


def test_a_plain_def_workflow_handler_is_refused_at_v_showing_async_def() -> None:
    with pytest.raises(ConfigurationError) as caught:
        workflow(name="orders").v("1.0.0", handler=plain_handler)  # type: ignore[arg-type]

    assert "must be `async def`" in caught.value.message
    assert "`async def plain_handler(run, input): ...`" in caught.value.message


def test_a_plain_def_workflow_handler_is_refused_by_the_decorator_too() -> None:
    orders = workflow(name="orders")

    with pytest.raises(ConfigurationError, match="must be `async def`"):
        orders.v("1.0.0")(plain_handler)  # type: ignore[arg-type]

    assert orders.versions == {}  # nothing was defined: the version string is still free


def test_a_plain_lambda_workflow_handler_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"`async def handler\(run, input\): \.\.\.`"):
        workflow(name="orders").v("1.0.0", handler=lambda run, input: None)


def test_async_callables_that_are_not_plain_coroutine_functions_are_accepted_as_handlers() -> None:
    class Handler:
        async def __call__(self, run: Any, input: Any) -> str:
            return "done"

    def traced(function: Callable[..., Awaitable[str]]) -> Callable[..., Awaitable[str]]:
        @functools.wraps(function)
        def wrapper(*arguments: Any) -> Awaitable[str]:  # a plain wrapper that returns the coroutine
            return function(*arguments)

        return wrapper

    orders = workflow(name="orders")
    versions = [
        orders.v("1.0.0", handler=Handler()),
        orders.v("2.0.0", handler=functools.partial(order_v1)),
        orders.v("3.0.0", handler=traced(order_v1)),
    ]
    assert all(isinstance(version, WorkflowVersion) for version in versions)


def test_a_plain_def_task_is_accepted() -> None:
    def send_email(input: Any) -> str:
        return "sent"

    assert task(name="send-email", handler=send_email).handler is send_email


def test_calling_a_task_directly_raises_a_type_error_showing_start() -> None:
    @task(name="send-email")
    async def send_email(input: dict[str, str]) -> str:
        return "sent"

    with pytest.raises(TypeError) as caught:
        send_email({"to": "a@b.c"})  # type: ignore[operator]

    assert "`await send_email.start(run, input)`" in str(caught.value)
    assert "'send-email'" in str(caught.value)


def test_a_single_version_for_workflows_raises_showing_the_list() -> None:
    version = workflow(name="orders").v("1.0.0", handler=order_v1)

    with pytest.raises(ConfigurationError) as caught:
        worker(workflows=version)  # type: ignore[arg-type]

    assert "worker(workflows=[order_v1])" in caught.value.message


def test_a_workflow_instead_of_its_versions_raises_asking_for_versions() -> None:
    orders = workflow(name="orders")
    orders.v("1.0.0", handler=order_v1)

    with pytest.raises(ConfigurationError, match=r"got the workflow 'orders' itself: pass the versions"):
        worker(workflows=orders)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("events", "shown"),
    [
        (["paid"], '{"paid": event()}'),
        (["paid", "shipped"], '{"paid": event(), "shipped": event()}'),
        ({"shipped", "paid"}, '{"paid": event(), "shipped": event()}'),
        ("shipped", '{"shipped": event()}'),
    ],
    ids=["list", "two names", "set", "string"],
)
def test_events_given_as_names_raise_showing_the_mapping_to_write(events: Any, shown: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        workflow(name="orders").v("1.0.0", handler=order_v1, events=events)

    assert f"write events={shown}" in caught.value.message


def test_events_as_a_mapping_of_definitions_are_accepted() -> None:
    version = workflow(name="orders").v("1.0.0", handler=order_v1, events={"paid": event()})
    assert list(version.events) == ["paid"]
