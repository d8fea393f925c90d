"""A workflow version: the handler and its defaults; starts runs and gets handles."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar, overload

from aiki.canonical_json import hash_input, to_jsonable
from aiki.contract import StartRequest
from aiki.definitions.event import EventDefinition
from aiki.definitions.handler import count_parameters
from aiki.definitions.retry import RetryPolicy, parse_retry
from aiki.definitions.run_context import RunContext, outside_a_handler
from aiki.definitions.schema import parse_schema
from aiki.definitions.start_options import StartOptions, apply_option
from aiki.definitions.starting_client import (
    ReferenceHandleFinder,
    RunHandleFinder,
    WorkflowStarter,
    check_client,
)
from aiki.definitions.type_variables import InputT, OutputT
from aiki.definitions.version_events import VersionEvents
from aiki.durations import positive_milliseconds
from aiki.errors import ConfigurationError, InvalidOptionError

VERSION_OPTIONS = {"retry", "shard", "deadline"}

#: the handle type of whatever client or run context a run is started with
HandleT = TypeVar("HandleT")


class WorkflowVersion(Generic[InputT, OutputT]):
    """``workflow(name).v(version)``: what a worker registers and what ``start`` creates runs of.

    ``WorkflowVersion[InputT, OutputT]`` is read from the handler ``async def h(run, input: InputT) ->
    OutputT``; its handles are ``WorkflowRunHandle[OutputT]``.
    """

    def __init__(
        self,
        name: str,
        version_id: str,
        handler: Callable[..., Any],
        *,
        opts: Mapping[str, Any] | None = None,
        schema: Mapping[str, object] | None = None,
        events: Mapping[str, EventDefinition] | None = None,
    ) -> None:
        self.name = name
        self.version_id = version_id
        self.label = f"workflow {name!r} version {version_id!r}"
        self.parameter_count = count_parameters(handler, self.label, 2)
        _check_async(handler, self.label)
        self.handler = handler
        options = _mapping(
            opts, "opts", self.label, "{'retry': {...}, 'shard': 'eu', 'deadline': {'hours': 1}}"
        )
        unknown = set(options) - VERSION_OPTIONS
        if unknown:
            raise ConfigurationError(
                f"Unknown option(s) {sorted(unknown)} for {self.label}; the options are {sorted(VERSION_OPTIONS)}."
            )
        self.retry: RetryPolicy = parse_retry(options.get("retry"), f"retry of {self.label}")
        shard = options.get("shard")
        if shard is not None and (not isinstance(shard, str) or not shard):
            raise ConfigurationError(f"The shard of {self.label} must be a non-empty string, got {shard!r}.")
        self.shard: str | None = shard
        deadline = options.get("deadline")
        #: how long after its start a run of this version may take before it fails (``None``: no limit)
        self.deadline_ms: int | None = (
            None if deadline is None else positive_milliseconds(deadline, f"deadline of {self.label}")
        )
        self.schema = parse_schema(schema, self.label)
        #: the declared events: a mapping of their definitions, and their senders as attributes
        #: (``version.events.payment_received.send(client, run_ids, data)``)
        self.events = VersionEvents(name, version_id, _events(events, self.label))

    def with_(self) -> VersionStarter[InputT, OutputT]:
        """An option builder: ``version.with_().opt("shard", "eu").start(client, input)``."""
        return VersionStarter(self, StartOptions())

    @overload
    async def start(
        self: WorkflowVersion[None, OutputT], client: WorkflowStarter[OutputT, HandleT]
    ) -> HandleT: ...

    @overload
    async def start(self, client: WorkflowStarter[OutputT, HandleT], input: InputT) -> HandleT: ...

    async def start(self, client: WorkflowStarter[Any, Any], input: Any = None) -> Any:
        """Start a run of this version; returns its handle (a ``WorkflowRunHandle[OutputT]``)."""
        return await VersionStarter(self, StartOptions()).start(client, input)

    @overload
    async def start_as_child(
        self: WorkflowVersion[None, OutputT], run: RunContext[OutputT, HandleT]
    ) -> HandleT: ...

    @overload
    async def start_as_child(self, run: RunContext[OutputT, HandleT], input: InputT) -> HandleT: ...

    async def start_as_child(self, run: RunContext[Any, Any], input: Any = None) -> Any:
        """Start a child run from inside a workflow handler (replays return the recorded child).

        Returns a ``ChildRunHandle[OutputT]``, whose ``wait_for_status`` suspends the parent durably.
        """
        return await VersionStarter(self, StartOptions()).start_as_child(run, input)

    async def get_handle(self, client: RunHandleFinder[OutputT, HandleT], run_id: str) -> HandleT:
        """Reattach to an existing run of this version; ``NotFoundError`` if there is none."""
        check_client(client, f"get_handle of {self.label}")
        return await client.get_run_handle(self, run_id)

    async def get_handle_by_reference_id(
        self, client: ReferenceHandleFinder[OutputT, HandleT], reference_id: str
    ) -> HandleT:
        """The handle of the run of this version that ``reference_id`` names; ``NotFoundError`` if none."""
        check_client(client, f"get_handle_by_reference_id of {self.label}")
        if not isinstance(reference_id, str) or not reference_id:
            raise InvalidOptionError(f"A reference id is a non-empty string, got {reference_id!r}.")
        return await client.get_run_handle_by_reference(self, reference_id)

    def prepare_input(self, input: Any) -> tuple[Any, str]:
        """Validate ``input`` against the input schema; returns its JSON form and hash."""
        what = f"input of {self.label}"
        if self.schema.input is not None:
            input = self.schema.input(input)
        jsonable = to_jsonable(input, what)
        return jsonable, hash_input(jsonable)

    def run_options(self, options: StartOptions) -> dict[str, Any]:
        """The options stored with a run (and with a schedule's runs): its retry policy, and its deadline
        as a duration from its start (``deadline_ms``) when it has one."""
        retry = options.retry or self.retry
        stored: dict[str, Any] = {"retry": retry.to_dict()}
        deadline_ms = options.deadline_ms or self.deadline_ms
        if deadline_ms is not None:
            stored["deadline_ms"] = deadline_ms
        return stored

    def __repr__(self) -> str:
        return f"<WorkflowVersion {self.name}@{self.version_id}>"


class VersionStarter(Generic[InputT, OutputT]):
    """A version with start options; ``opt`` returns a new starter and never changes its source."""

    def __init__(self, version: WorkflowVersion[InputT, OutputT], options: StartOptions) -> None:
        self.version = version
        self.options = options

    def opt(self, path: str, value: Any) -> VersionStarter[InputT, OutputT]:
        """Set ``shard``, ``reference.id``, ``reference``, ``trigger``, ``retry`` or ``deadline``."""
        return VersionStarter(self.version, apply_option(self.options, path, value))

    def request(self, input: Any) -> StartRequest:
        """The start request for ``input`` (validated and hashed)."""
        jsonable, digest = self.version.prepare_input(input)
        return StartRequest(
            name=self.version.name,
            version_id=self.version.version_id,
            input=jsonable,
            input_hash=digest,
            options=self.version.run_options(self.options),
            shard=self.options.shard or self.version.shard,
            reference_id=self.options.reference_id,
            conflict_policy=self.options.conflict_policy,
            delay_ms=self.options.delay_ms,
            at_ms=self.options.at_ms,
        )

    @overload
    async def start(
        self: VersionStarter[None, OutputT], client: WorkflowStarter[OutputT, HandleT]
    ) -> HandleT: ...

    @overload
    async def start(self, client: WorkflowStarter[OutputT, HandleT], input: InputT) -> HandleT: ...

    async def start(self, client: WorkflowStarter[Any, Any], input: Any = None) -> Any:
        """Start a run with these options; returns its handle (a ``WorkflowRunHandle[OutputT]``)."""
        check_client(client, f"start of {self.version.label}")
        return await client.start_workflow(self.version, self.request(input))

    @overload
    async def start_as_child(
        self: VersionStarter[None, OutputT], run: RunContext[OutputT, HandleT]
    ) -> HandleT: ...

    @overload
    async def start_as_child(self, run: RunContext[OutputT, HandleT], input: InputT) -> HandleT: ...

    async def start_as_child(self, run: RunContext[Any, Any], input: Any = None) -> Any:
        """Start a child run with these options from inside a workflow handler (see ``WorkflowVersion``)."""
        if not isinstance(run, RunContext):
            raise outside_a_handler(self.version.label, "start_as_child(run, input)", run)
        if self.options.delay_ms is not None or self.options.at_ms is not None:
            raise InvalidOptionError(
                "A child workflow cannot have a 'trigger': it starts when its parent starts it."
            )
        return await run.start_child(self, input)


def _check_async(handler: Callable[..., Any], label: str) -> None:
    """A workflow handler must be ``async def``: it awaits tasks, sleeps and events on the worker's loop."""
    function = inspect.unwrap(handler)
    # An instance of a class with an ``async def __call__`` is an async handler too.
    if inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(type(function).__call__):
        return
    name = getattr(function, "__name__", "handler")
    name = name if name.isidentifier() else "handler"
    raise ConfigurationError(
        f"The handler of {label} is a plain function; a workflow handler must be `async def`, e.g. "
        f"`async def {name}(run, input): ...`. (Tasks may be plain `def`: they run in a thread.)"
    )


def _mapping(value: object, keyword: str, label: str, example: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{keyword}= of {label} must be a mapping such as {example}, got {value!r}.")
    return value


def _events(events: object, label: str) -> dict[str, EventDefinition]:
    if events is None:
        return {}
    if not isinstance(events, Mapping):
        # A list, or the set that ``events={"paid"}`` makes: show the mapping those names call for.
        listed = sorted(events, key=str) if isinstance(events, set | frozenset) else events
        listed = [listed] if isinstance(listed, str) else listed
        names = [name for name in listed if isinstance(name, str)] if isinstance(listed, list | tuple) else []
        example = ", ".join(f"{json.dumps(name)}: event()" for name in names or ["paid"])
        raise ConfigurationError(
            f"events= of {label} maps each event name to its definition: write events={{{example}}} "
            f"(event(schema=Model) validates the payload); got {events!r}."
        )
    checked: dict[str, EventDefinition] = {}
    for event_name, definition in events.items():
        if not isinstance(definition, EventDefinition):
            raise ConfigurationError(
                f"Event {event_name!r} of {label} must be declared with event(...), got {definition!r}."
            )
        checked[event_name] = definition
    return checked
