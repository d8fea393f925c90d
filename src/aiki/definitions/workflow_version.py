"""A workflow version: the handler and its defaults; starts runs and gets handles."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiki.canonical_json import hash_input, to_jsonable
from aiki.contract import StartRequest
from aiki.definitions.event import EventDefinition
from aiki.definitions.handler import count_parameters
from aiki.definitions.retry import RetryPolicy, parse_retry
from aiki.definitions.schema import parse_schema
from aiki.definitions.start_options import StartOptions, apply_option
from aiki.errors import ConfigurationError, InvalidOptionError, NotFoundError

if TYPE_CHECKING:
    from aiki.client.client import Client
    from aiki.client.handle import WorkflowRunHandle
    from aiki.client.transport import Transport
    from aiki.execution.child_handle import ChildRunHandle
    from aiki.execution.context import WorkflowRunContext

VERSION_OPTIONS = {"retry", "shard"}


class WorkflowVersion:
    """``workflow(name).v(version)``: what a worker registers and what ``start`` creates runs of."""

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
        self.handler = handler
        self.label = f"workflow {name!r} version {version_id!r}"
        self.parameter_count = count_parameters(handler, self.label, 2)
        options = dict(opts or {})
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
        self.schema = parse_schema(schema, self.label)
        self.events: dict[str, EventDefinition] = dict(events or {})
        for event_name, definition in self.events.items():
            if not isinstance(definition, EventDefinition):
                raise ConfigurationError(
                    f"Event {event_name!r} of {self.label} must be declared with event(...), got {definition!r}."
                )

    def with_(self) -> VersionStarter:
        """An option builder: ``version.with_().opt("shard", "eu").start(client, input)``."""
        return VersionStarter(self, StartOptions())

    async def start(self, client: Client, input: Any = None) -> WorkflowRunHandle:
        """Start a run of this version; returns its handle."""
        return await VersionStarter(self, StartOptions()).start(client, input)

    async def start_as_child(self, run: WorkflowRunContext, input: Any = None) -> ChildRunHandle:
        """Start a child run from inside a workflow handler (replays return the recorded child)."""
        return await VersionStarter(self, StartOptions()).start_as_child(run, input)

    async def get_handle(self, client: Client, run_id: str) -> WorkflowRunHandle:
        """Reattach to an existing run of this version; ``NotFoundError`` if there is none."""
        from aiki.client.handle import WorkflowRunHandle

        run = await _transport_of(client, f"get_handle of {self.label}").get_run(run_id)
        if run.name != self.name or run.version_id != self.version_id:
            raise NotFoundError(
                f"run of {self.label}",
                run_id,
                f"That run belongs to workflow {run.name!r} version {run.version_id!r}.",
            )
        return WorkflowRunHandle(client, run, self.events)

    def prepare_input(self, input: Any) -> tuple[Any, str]:
        """Validate ``input`` against the input schema; returns its JSON form and hash."""
        what = f"input of {self.label}"
        if self.schema.input is not None:
            input = self.schema.input(input)
        jsonable = to_jsonable(input, what)
        return jsonable, hash_input(jsonable)

    def run_options(self, options: StartOptions) -> dict[str, Any]:
        """The options stored with a run (and with a schedule's runs)."""
        retry = options.retry or self.retry
        return {"retry": retry.to_dict()}

    def __repr__(self) -> str:
        return f"<WorkflowVersion {self.name}@{self.version_id}>"


class VersionStarter:
    """A version with start options; ``opt`` returns a new starter and never changes its source."""

    def __init__(self, version: WorkflowVersion, options: StartOptions) -> None:
        self.version = version
        self.options = options

    def opt(self, path: str, value: Any) -> VersionStarter:
        """Set ``shard``, ``reference.id``, ``reference``, ``trigger`` or ``retry``."""
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
            conflict_policy=self.options.conflict_policy,  # type: ignore[arg-type]
            delay_ms=self.options.delay_ms,
            at_ms=self.options.at_ms,
        )

    async def start(self, client: Client, input: Any = None) -> WorkflowRunHandle:
        from aiki.client.handle import WorkflowRunHandle

        transport = _transport_of(client, f"start of {self.version.label}")
        run = await transport.start_run(self.request(input))
        return WorkflowRunHandle(client, run, self.version.events)

    async def start_as_child(self, run: WorkflowRunContext, input: Any = None) -> ChildRunHandle:
        from aiki.execution.child_runner import start_child

        if self.options.delay_ms is not None or self.options.at_ms is not None:
            raise InvalidOptionError(
                "A child workflow cannot have a 'trigger': it starts when its parent starts it."
            )
        return await start_child(run, self, input)


def _transport_of(client: Client, call: str) -> Transport:
    """The client's transport, or a clear error for something that is not a client (a server, say)."""
    transport: Transport | None = getattr(client, "transport", None)
    if transport is None:
        raise ConfigurationError(
            f"The {call} takes a client, got {client!r}. Make one with aiki.client(server=srv) (embedded) "
            f"or aiki.client(url=...) (HTTP)."
        )
    return transport
