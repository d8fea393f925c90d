"""``workflow(name)``: a named recipe; ``.v(version)`` adds an implementation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiki.definitions.event import EventDefinition
from aiki.definitions.workflow_version import WorkflowVersion
from aiki.errors import ConfigurationError


class Workflow:
    """A workflow name and the versions defined on it."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.strip() or ":" in name:
            raise ConfigurationError(f"A workflow name must be a non-empty string without ':', got {name!r}.")
        self.name = name
        self.versions: dict[str, WorkflowVersion] = {}

    def v(
        self,
        version: str,
        handler: Callable[..., Any] | None = None,
        *,
        opts: Mapping[str, Any] | None = None,
        schema: Mapping[str, object] | None = None,
        events: Mapping[str, EventDefinition] | None = None,
    ) -> Any:
        """Define version ``version``: as a decorator (``@wf.v("1.0.0")``) or with ``handler=``.

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

        def build(function: Callable[..., Any]) -> WorkflowVersion:
            if version in self.versions:
                raise ConfigurationError(f"Workflow {self.name!r} already has version {version!r}.")
            created = WorkflowVersion(self.name, version, function, opts=opts, schema=schema, events=events)
            self.versions[version] = created
            return created

        if handler is None:
            return build
        return build(handler)

    def __repr__(self) -> str:
        return f"<Workflow {self.name!r} versions={sorted(self.versions)}>"


def workflow(name: str) -> Workflow:
    """Create a workflow definition. Add implementations with ``.v(version)``."""
    return Workflow(name)
