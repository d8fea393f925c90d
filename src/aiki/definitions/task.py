"""``task(...)``: a checkpointed step of a workflow."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, NoReturn, overload

from aiki.definitions.handler import count_parameters
from aiki.definitions.retry import RetryPolicy, parse_retry
from aiki.definitions.run_context import RunContext, is_run_context, outside_a_handler
from aiki.definitions.schema import SchemaPair, parse_schema
from aiki.definitions.task_options import TaskOptions, apply_task_option
from aiki.definitions.type_variables import InputT, OutputT
from aiki.durations import Duration, positive_milliseconds
from aiki.errors import ConfigurationError


class Task(Generic[InputT, OutputT]):
    """A named step whose result is recorded; on replay it returns the recorded result.

    ``Task[InputT, OutputT]`` is read from the handler: ``@task(name="charge")`` on
    ``async def charge(input: ChargeIn) -> ChargeOut`` (or a plain ``def``) is a ``Task[ChargeIn, ChargeOut]``,
    and ``await charge.start(run, charge_in)`` is a ``ChargeOut``. A handler without parameters gives
    ``Task[Any, OutputT]``. A handler whose signature holds ``Any`` (``dict[str, Any]``, say) gives
    ``Task[Any, Any]``: with ``Any`` in play, mypy cannot tell the plain ``def`` reading from the ``async def``
    one, so it types the task as ``Any`` rather than guess.
    """

    def __init__(
        self,
        name: str,
        handler: Callable[..., Any],
        retry: RetryPolicy,
        schema: SchemaPair,
        timeout_ms: int | None = None,
    ) -> None:
        self.name = name
        self.handler = handler
        self.retry = retry
        self.schema = schema
        #: how long one attempt may run before it is stopped and counted as failed (``None``: no limit)
        self.timeout_ms = timeout_ms
        self.parameter_count = count_parameters(handler, f"task {name!r}", 1)

    def with_(self) -> TaskStarter[InputT, OutputT]:
        """An option builder for one call: ``await charge.with_().opt("timeout", {"seconds": 30}).start(run,
        input)``. Options never change the task's address (name and input hash)."""
        return TaskStarter(self, TaskOptions())

    def configured(self, options: TaskOptions) -> Task[InputT, OutputT]:
        """This task with ``options`` applied (a copy; the task itself never changes)."""
        if options.retry is None and options.timeout_ms is None:
            return self
        changed = copy.copy(self)
        if options.retry is not None:
            changed.retry = options.retry
        if options.timeout_ms is not None:
            changed.timeout_ms = options.timeout_ms
        return changed

    @overload
    async def start(self: Task[None, OutputT], run: RunContext) -> OutputT: ...

    @overload
    async def start(self, run: RunContext, input: InputT) -> OutputT: ...

    async def start(self, run: RunContext, input: Any = None) -> Any:
        """Run the task inside a workflow handler (or return its recorded result on replay).

        Args:
            run: the ``run`` argument of the workflow handler.
            input: the task's input (JSON, or a pydantic model); left out, the input is ``None``.
        """
        if not is_run_context(run):
            raise outside_a_handler(f"task {self.name!r}", "start(run, input)", run)
        return await run.run_task(self, input)

    if not TYPE_CHECKING:
        # Hidden from type checkers, which then report a direct call as an error of their own.

        def __call__(self, *arguments: object, **keywords: object) -> NoReturn:
            """A task is not called directly: its result must be recorded, so it runs through ``start``."""
            raise TypeError(
                f"Task {self.name!r} is not called directly: inside a workflow handler, write "
                f"`await {_identifier(self)}.start(run, input)`, so that its result is recorded and replayed."
            )

    def __repr__(self) -> str:
        return f"<Task {self.name!r}>"


class TaskStarter(Generic[InputT, OutputT]):
    """A task with call options; ``opt`` returns a new starter and never changes its source."""

    def __init__(self, task: Task[InputT, OutputT], options: TaskOptions) -> None:
        self.task = task
        self.options = options

    def opt(self, path: str, value: Any) -> TaskStarter[InputT, OutputT]:
        """Set ``retry`` (a retry mapping) or ``timeout`` (a duration) for this call."""
        return TaskStarter(self.task, apply_task_option(self.options, path, value, self.task.name))

    @overload
    async def start(self: TaskStarter[None, OutputT], run: RunContext) -> OutputT: ...

    @overload
    async def start(self, run: RunContext, input: InputT) -> OutputT: ...

    async def start(self, run: RunContext, input: Any = None) -> Any:
        """Run the task with these options (see ``Task.start``)."""
        if not is_run_context(run):
            raise outside_a_handler(f"task {self.task.name!r}", "start(run, input)", run)
        return await run.run_task(self.task.configured(self.options), input)

    def __repr__(self) -> str:
        return f"<TaskStarter {self.task.name!r} {self.options}>"


def _identifier(task: Task[Any, Any]) -> str:
    """The name the user's code most likely uses for ``task``: its handler's name."""
    name = getattr(task.handler, "__name__", "")
    return name if name.isidentifier() else "task"


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or ":" in name:
        raise ConfigurationError(f"A task name must be a non-empty string without ':', got {name!r}.")
    return name


class TaskDecorator:
    """What ``task(name=...)`` returns without ``handler=``: applied to a function, it gives the task."""

    def __init__(self, name: str, retry: RetryPolicy, schema: SchemaPair, timeout_ms: int | None) -> None:
        self._name = name
        self._retry = retry
        self._schema = schema
        self._timeout_ms = timeout_ms

    @overload
    def __call__(self, handler: Callable[[InputT], Awaitable[OutputT]]) -> Task[InputT, OutputT]: ...

    @overload
    def __call__(self, handler: Callable[[], Awaitable[OutputT]]) -> Task[Any, OutputT]: ...

    @overload
    def __call__(self, handler: Callable[[InputT], OutputT]) -> Task[InputT, OutputT]: ...

    @overload
    def __call__(self, handler: Callable[[], OutputT]) -> Task[Any, OutputT]: ...

    def __call__(self, handler: Callable[..., Any]) -> Task[Any, Any]:
        return Task(self._name, handler, self._retry, self._schema, self._timeout_ms)


@overload
def task(
    *,
    name: str,
    handler: None = None,
    retry: Mapping[str, Any] | None = None,
    schema: Mapping[str, object] | None = None,
    timeout: Duration | None = None,
) -> TaskDecorator: ...


@overload
def task(
    *,
    name: str,
    handler: Callable[[InputT], Awaitable[OutputT]],
    retry: Mapping[str, Any] | None = None,
    schema: Mapping[str, object] | None = None,
    timeout: Duration | None = None,
) -> Task[InputT, OutputT]: ...


@overload
def task(
    *,
    name: str,
    handler: Callable[[], Awaitable[OutputT]],
    retry: Mapping[str, Any] | None = None,
    schema: Mapping[str, object] | None = None,
    timeout: Duration | None = None,
) -> Task[Any, OutputT]: ...


@overload
def task(
    *,
    name: str,
    handler: Callable[[InputT], OutputT],
    retry: Mapping[str, Any] | None = None,
    schema: Mapping[str, object] | None = None,
    timeout: Duration | None = None,
) -> Task[InputT, OutputT]: ...


@overload
def task(
    *,
    name: str,
    handler: Callable[[], OutputT],
    retry: Mapping[str, Any] | None = None,
    schema: Mapping[str, object] | None = None,
    timeout: Duration | None = None,
) -> Task[Any, OutputT]: ...


def task(
    *,
    name: str,
    handler: Callable[..., Any] | None = None,
    retry: Mapping[str, Any] | None = None,
    schema: Mapping[str, object] | None = None,
    timeout: Duration | None = None,
) -> Task[Any, Any] | TaskDecorator:
    """Define a task, as a decorator (``@task(name=...)``) or a call (``task(name=..., handler=fn)``).

    Args:
        name: the task's name; with the hash of its input it makes the task's address in a run.
        handler: ``async def`` or plain ``def`` (run in a thread) taking the input, or nothing.
        retry: ``{"type": "never" | "fixed" | "exponential" | "jittered", ...}`` (default never).
        schema: ``{"input": V, "output": V}``; V is a pydantic model, a TypeAdapter, or anything with
            ``parse``/``model_validate``, or a callable.
        timeout: how long one attempt may run (a duration); a longer one is stopped and fails with
            ``TaskTimeoutError``, and the retry policy applies. A plain ``def`` attempt cannot be
            interrupted: it is abandoned in its thread and its late result ignored.

    Example:
        @task(name="send-email")
        async def send_email(input: Email) -> Sent: ...

        sent = await send_email.start(run, Email(to="a@b.c"))   # inside a workflow handler
    """
    checked_name = _check_name(name)
    decorator = TaskDecorator(
        checked_name,
        parse_retry(retry, f"retry of task {checked_name!r}"),
        parse_schema(schema, f"task {checked_name!r}"),
        None if timeout is None else positive_milliseconds(timeout, f"timeout of task {checked_name!r}"),
    )
    if handler is None:
        return decorator
    return decorator(handler)
