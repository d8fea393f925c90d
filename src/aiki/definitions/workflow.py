"""``workflow(name)``: a named recipe; ``.v(version)`` adds an implementation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, overload

from aiki.definitions.event import EventDefinition
from aiki.definitions.type_variables import InputT, OutputT
from aiki.definitions.workflow_version import WorkflowVersion
from aiki.errors import ConfigurationError


class Workflow:
    """A workflow name and the versions defined on it."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.strip() or ":" in name:
            raise ConfigurationError(f"A workflow name must be a non-empty string without ':', got {name!r}.")
        self.name = name
        self.versions: dict[str, WorkflowVersion[Any, Any]] = {}

    @overload
    def v(
        self,
        version: str,
        handler: None = None,
        *,
        opts: Mapping[str, Any] | None = None,
        schema: Mapping[str, object] | None = None,
        events: Mapping[str, EventDefinition] | None = None,
    ) -> VersionDecorator: ...

    @overload
    def v(
        self,
        version: str,
        handler: Callable[[Any, InputT], Awaitable[OutputT]],
        *,
        opts: Mapping[str, Any] | None = None,
        schema: Mapping[str, object] | None = None,
        events: Mapping[str, EventDefinition] | None = None,
    ) -> WorkflowVersion[InputT, OutputT]: ...

    @overload
    def v(
        self,
        version: str,
        handler: Callable[[Any], Awaitable[OutputT]] | Callable[[], Awaitable[OutputT]],
        *,
        opts: Mapping[str, Any] | None = None,
        schema: Mapping[str, object] | None = None,
        events: Mapping[str, EventDefinition] | None = None,
    ) -> WorkflowVersion[Any, OutputT]: ...

    def v(
        self,
        version: str,
        handler: Callable[..., Awaitable[Any]] | None = None,
        *,
        opts: Mapping[str, Any] | None = None,
        schema: Mapping[str, object] | None = None,
        events: Mapping[str, EventDefinition] | None = None,
    ) -> WorkflowVersion[Any, Any] | VersionDecorator:
        """Define version ``version``: as a decorator (``@wf.v("1.0.0")``) or with ``handler=``.

        The handler is an ``async def`` taking ``(run, input)``, ``(run)`` or nothing; the version is typed
        by it: ``async def h(run, input: Order) -> Receipt`` gives ``WorkflowVersion[Order, Receipt]``.

        Args:
            opts: ``{"retry": {...}, "shard": "..."}``, the defaults of this version's runs.
            schema: ``{"input": V, "output": V}`` (either may be left out).
            events: ``{"name": event(schema=...)}``, the events its runs can wait for.
        """
        if not isinstance(version, str) or not version.strip() or ":" in version:
            raise ConfigurationError(
                f"A version of workflow {self.name!r} must be a non-empty string without ':', got {version!r}."
            )
        if version in self.versions:
            raise ConfigurationError(
                f"Workflow {self.name!r} already has version {version!r}. A version is defined once; "
                f"publish changed code as a new version."
            )
        decorator = VersionDecorator(self, version, opts, schema, events)
        if handler is None:
            return decorator
        return decorator(handler)

    def __repr__(self) -> str:
        return f"<Workflow {self.name!r} versions={sorted(self.versions)}>"


class VersionDecorator:
    """What ``wf.v(version)`` returns without a handler: applied to an ``async def``, it defines the version."""

    def __init__(
        self,
        workflow: Workflow,
        version: str,
        opts: Mapping[str, Any] | None,
        schema: Mapping[str, object] | None,
        events: Mapping[str, EventDefinition] | None,
    ) -> None:
        self._workflow = workflow
        self._version = version
        self._opts = opts
        self._schema = schema
        self._events = events

    @overload
    def __call__(
        self, handler: Callable[[Any, InputT], Awaitable[OutputT]]
    ) -> WorkflowVersion[InputT, OutputT]: ...

    @overload
    def __call__(
        self, handler: Callable[[Any], Awaitable[OutputT]] | Callable[[], Awaitable[OutputT]]
    ) -> WorkflowVersion[Any, OutputT]: ...

    def __call__(self, handler: Callable[..., Awaitable[Any]]) -> WorkflowVersion[Any, Any]:
        workflow, version = self._workflow, self._version
        if version in workflow.versions:
            raise ConfigurationError(f"Workflow {workflow.name!r} already has version {version!r}.")
        created: WorkflowVersion[Any, Any] = WorkflowVersion(
            workflow.name, version, handler, opts=self._opts, schema=self._schema, events=self._events
        )
        workflow.versions[version] = created
        return created


def workflow(name: str) -> Workflow:
    """Create a workflow definition. Add implementations with ``.v(version)``."""
    return Workflow(name)
