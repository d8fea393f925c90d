"""``RunContext``: what a task or a child workflow needs of the ``run`` it is started with.

The execution layer implements it (``aiki.WorkflowRunContext``, the ``run`` argument of every workflow
handler); definitions only call it, so they never depend on the code that replays and records runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import typing_extensions

from aiki.errors import ConfigurationError

if TYPE_CHECKING:
    from aiki.definitions.task import Task
    from aiki.definitions.workflow_version import VersionStarter

TaskInputT = TypeVar("TaskInputT")
TaskOutputT = TypeVar("TaskOutputT")
ChildOutputT = typing_extensions.TypeVar("ChildOutputT", default=Any)
ChildHandleT_co = typing_extensions.TypeVar("ChildHandleT_co", covariant=True, default=Any)


@runtime_checkable
class RunContext(Protocol[ChildOutputT, ChildHandleT_co]):
    """The run a workflow handler is executing: it runs tasks and starts children durably.

    Generic in the child's output and the child handle type the implementation returns, so that
    ``await child_v1.start_as_child(run, input)`` is typed by what ``run`` is (a ``ChildRunHandle[Out]``).
    """

    async def run_task(self, task: Task[TaskInputT, TaskOutputT], input: TaskInputT) -> TaskOutputT:
        """Run ``task`` with ``input`` (or return its recorded result on replay): ``task.start`` calls this."""
        ...

    async def start_child(self, starter: VersionStarter[Any, ChildOutputT], input: Any) -> ChildHandleT_co:
        """Start a child run of ``starter`` (or find it on replay): ``version.start_as_child`` calls this."""
        ...


#: the classes already found to be run contexts (a runtime protocol check is slow, and every task start asks)
_RUN_CONTEXT_TYPES: set[type[Any]] = set()


def is_run_context(value: object) -> typing_extensions.TypeIs[RunContext[Any, Any]]:
    """Whether ``value`` is a workflow handler's ``run`` (``isinstance(value, RunContext)``, cached by class)."""
    cls = type(value)
    if cls in _RUN_CONTEXT_TYPES:
        return True
    if isinstance(value, RunContext):
        _RUN_CONTEXT_TYPES.add(cls)
        return True
    return False


def outside_a_handler(what: str, call: str, run: object) -> ConfigurationError:
    """The error for a ``run`` argument that is not a workflow handler's ``run``."""
    return ConfigurationError(
        f"{what}: {call} works only inside a workflow handler, given the handler's run argument; got "
        f"{run!r}. Outside a workflow, start a workflow version with version.start(client, input)."
    )
