"""``task(...)``: a checkpointed step of a workflow."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, overload

from aiki.definitions.handler import count_parameters
from aiki.definitions.retry import RetryPolicy, parse_retry
from aiki.definitions.schema import SchemaPair, parse_schema
from aiki.errors import ConfigurationError

if TYPE_CHECKING:
    from aiki.execution.context import WorkflowRunContext


class Task:
    """A named step whose result is recorded; on replay it returns the recorded result."""

    def __init__(
        self,
        name: str,
        handler: Callable[..., Any],
        retry: RetryPolicy,
        schema: SchemaPair,
    ) -> None:
        self.name = name
        self.handler = handler
        self.retry = retry
        self.schema = schema
        self.parameter_count = count_parameters(handler, f"task {name!r}", 1)

    async def start(self, run: WorkflowRunContext, input: Any = None) -> Any:
        """Run the task inside a workflow handler (or return its recorded result on replay)."""
        from aiki.execution.task_runner import run_task

        return await run_task(run, self, input)

    def __repr__(self) -> str:
        return f"<Task {self.name!r}>"


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or ":" in name:
        raise ConfigurationError(f"A task name must be a non-empty string without ':', got {name!r}.")
    return name


@overload
def task(
    *,
    name: str,
    handler: None = None,
    retry: Mapping[str, Any] | None = None,
    schema: Mapping[str, object] | None = None,
) -> Callable[[Callable[..., Any]], Task]: ...


@overload
def task(
    *,
    name: str,
    handler: Callable[..., Any],
    retry: Mapping[str, Any] | None = None,
    schema: Mapping[str, object] | None = None,
) -> Task: ...


def task(
    *,
    name: str,
    handler: Callable[..., Any] | None = None,
    retry: Mapping[str, Any] | None = None,
    schema: Mapping[str, object] | None = None,
) -> Task | Callable[[Callable[..., Any]], Task]:
    """Define a task, as a decorator (``@task(name=...)``) or a call (``task(name=..., handler=fn)``).

    Args:
        name: the task's name; with the hash of its input it makes the task's address in a run.
        handler: ``async def`` or plain ``def`` (run in a thread) taking the input, or nothing.
        retry: ``{"type": "never" | "fixed" | "exponential" | "jittered", ...}`` (default never).
        schema: ``{"input": V, "output": V}``; V is a pydantic model, a TypeAdapter, or anything with
            ``parse``/``model_validate``, or a callable.
    """
    checked_name = _check_name(name)
    policy = parse_retry(retry, f"retry of task {checked_name!r}")
    pair = parse_schema(schema, f"task {checked_name!r}")

    def build(function: Callable[..., Any]) -> Task:
        return Task(checked_name, function, policy, pair)

    if handler is None:
        return build
    return build(handler)
