"""Definitions: workflows, versions and tasks in decorator and call form; how handlers are called."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from pydantic import BaseModel

from aiki import ConfigurationError, EventDefinition, Task, WorkflowVersion, event, task, workflow
from aiki.definitions.handler import call_handler, count_parameters
from aiki.definitions.retry import RetryPolicy


class OrderIn(BaseModel):
    order_id: str


async def _handler(run: Any, input: Any) -> None:
    return None


def test_a_version_defined_with_the_decorator_is_a_workflow_version() -> None:
    orders = workflow(name="orders")

    @orders.v("1.0.0")
    async def orders_v1(run: Any, input: Any) -> None:
        return None

    assert isinstance(orders_v1, WorkflowVersion)
    assert (orders_v1.name, orders_v1.version_id, orders_v1.handler.__name__) == (
        "orders",
        "1.0.0",
        "orders_v1",
    )


def test_a_version_defined_with_a_call_is_the_same_kind_of_object() -> None:
    async def build_report(run: Any, input: Any) -> None:
        return None

    report_v1 = workflow(name="report").v("1.0.0", handler=build_report)
    assert isinstance(report_v1, WorkflowVersion)
    assert report_v1.handler is build_report


def test_decorator_and_call_forms_take_the_same_keywords() -> None:
    keywords: dict[str, Any] = {
        "opts": {"retry": {"type": "fixed", "max_attempts": 3, "delay_ms": 500}, "shard": "eu"},
        "schema": {"input": OrderIn},
        "events": {"paid": event()},
    }

    async def handler(run: Any, input: Any) -> None:
        return None

    decorated = workflow(name="a").v("1.0.0", **keywords)(handler)
    called = workflow(name="b").v("1.0.0", handler=handler, **keywords)
    for version in (decorated, called):
        assert version.retry == RetryPolicy("fixed", max_attempts=3, delay_ms=500)
        assert version.shard == "eu"
        assert version.schema.input is not None and version.schema.output is None
        assert isinstance(version.events["paid"], EventDefinition)


def test_the_versions_of_a_workflow_are_kept_by_version_string() -> None:
    orders = workflow(name="orders")
    first = orders.v("1.0.0", handler=_handler)
    second = orders.v("2.0.0", handler=_handler)
    assert orders.versions == {"1.0.0": first, "2.0.0": second}


def test_defining_a_version_twice_raises_naming_the_workflow_and_the_version() -> None:
    orders = workflow(name="orders")
    orders.v("1.0.0", handler=_handler)
    with pytest.raises(ConfigurationError, match=r"'orders' already has version '1\.0\.0'"):
        orders.v("1.0.0", handler=_handler)


def test_defining_a_version_twice_with_the_decorator_raises_too() -> None:
    orders = workflow(name="orders")

    @orders.v("1.0.0")
    async def first(run: Any, input: Any) -> None:
        return None

    with pytest.raises(ConfigurationError, match=r"already has version '1\.0\.0'"):

        @orders.v("1.0.0")
        async def second(run: Any, input: Any) -> None:
            return None


def test_a_pending_decorator_is_refused_once_the_version_exists() -> None:
    orders = workflow(name="orders")
    pending = orders.v("1.0.0")
    orders.v("1.0.0", handler=_handler)
    with pytest.raises(ConfigurationError, match="already has version"):
        pending(lambda run, input: None)


@pytest.mark.parametrize("name", ["", "  ", "a:b", 5, None])
def test_a_bad_workflow_name_raises(name: Any) -> None:
    with pytest.raises(ConfigurationError, match="workflow name"):
        workflow(name=name)


@pytest.mark.parametrize("version", ["", "1:0", 1])
def test_a_bad_version_string_raises(version: Any) -> None:
    with pytest.raises(ConfigurationError, match="version of workflow 'orders'"):
        workflow(name="orders").v(version, handler=_handler)


def test_an_unknown_version_option_raises_listing_the_options() -> None:
    with pytest.raises(
        ConfigurationError, match=r"Unknown option\(s\) \['shards'\].*\['deadline', 'retry', 'shard'\]"
    ):
        workflow(name="orders").v("1.0.0", handler=_handler, opts={"shards": ["eu"]})


def test_an_event_not_declared_with_event_raises() -> None:
    with pytest.raises(ConfigurationError, match=r"Event 'paid'.*event\(\.\.\.\)"):
        workflow(name="orders").v("1.0.0", handler=_handler, events={"paid": OrderIn})  # type: ignore[dict-item]


def test_a_task_defined_with_the_decorator_is_a_task() -> None:
    @task(name="send-email", retry={"type": "exponential", "max_attempts": 3, "base_delay_ms": 1000})
    async def send_email(input: dict[str, Any]) -> dict[str, Any]:
        return input

    assert isinstance(send_email, Task)
    assert send_email.name == "send-email"
    assert send_email.retry == RetryPolicy("exponential", max_attempts=3, base_delay_ms=1000)


def test_a_task_defined_with_a_call_wraps_the_given_function() -> None:
    def charge_fn(input: Any) -> Any:
        return input

    charge = task(name="charge", handler=charge_fn, schema={"input": OrderIn, "output": OrderIn})
    assert isinstance(charge, Task)
    assert charge.handler is charge_fn
    assert charge.schema.input is not None and charge.schema.output is not None


def test_a_task_without_retry_never_retries() -> None:
    assert task(name="t", handler=lambda: None).retry == RetryPolicy("never")


@pytest.mark.parametrize("name", ["", "a:b", 3])
def test_a_bad_task_name_raises(name: Any) -> None:
    with pytest.raises(ConfigurationError, match="task name"):
        task(name=name, handler=lambda: None)


def test_a_task_handler_taking_two_required_arguments_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"task 'pair' takes 2 required arguments"):
        task(name="pair", handler=lambda a, b: None)


def test_a_workflow_handler_taking_three_required_arguments_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="takes 3 required arguments"):
        workflow(name="w").v("1.0.0", handler=lambda run, input, extra: None)


def test_a_handler_that_is_not_callable_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="must be a function"):
        task(name="t", handler="not a function")  # type: ignore[call-overload]


def test_handlers_without_parameters_are_counted_as_taking_none() -> None:
    async def nothing() -> str:
        return "ok"

    assert task(name="t", handler=nothing).parameter_count == 0
    assert workflow(name="w").v("1.0.0", handler=nothing).parameter_count == 0


def test_a_workflow_handler_taking_only_run_is_counted_as_taking_one() -> None:
    async def only_run(run: Any) -> None:
        return None

    assert workflow(name="w").v("1.0.0", handler=only_run).parameter_count == 1


def test_optional_and_variadic_parameters_count_up_to_the_maximum() -> None:
    assert count_parameters(lambda input=None: None, "task", 1) == 1
    assert count_parameters(lambda *args: None, "task", 1) == 1


async def test_a_handler_without_parameters_is_called_without_arguments() -> None:
    calls: list[tuple[Any, ...]] = []

    async def nothing(*args: Any) -> str:
        calls.append(args)
        return "ok"

    assert await call_handler(nothing, ()) == "ok"
    assert calls == [()]


async def test_an_async_handler_runs_on_the_event_loop_thread() -> None:
    async def where() -> int:
        return threading.get_ident()

    assert await call_handler(where, ()) == threading.get_ident()


async def test_a_plain_def_runs_in_another_thread() -> None:
    def where(input: int) -> tuple[int, int]:
        return threading.get_ident(), input * 2

    thread_id, doubled = await call_handler(where, (21,))
    assert thread_id != threading.get_ident()
    assert doubled == 42


async def test_a_blocking_plain_def_does_not_block_the_event_loop() -> None:
    # The def blocks until a coroutine on the loop releases it: with a blocked loop this could never happen.
    released = threading.Event()

    def blocking() -> bool:
        return released.wait(timeout=10)

    async def release_soon() -> None:
        await asyncio.sleep(0)
        released.set()

    result, _ = await asyncio.gather(call_handler(blocking, ()), release_soon())
    assert result is True


async def test_a_plain_def_returning_an_awaitable_is_awaited() -> None:
    async def inner() -> str:
        return "awaited"

    def outer() -> Any:
        return inner()

    assert await call_handler(outer, ()) == "awaited"
