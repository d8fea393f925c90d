"""``StartingClient``: what starting a run or activating a schedule needs of a client.

``aiki.Client`` implements it. A workflow version or a schedule builds and checks the request, then hands it
to the client, which sends it and wraps the answer in a handle; the definitions never depend on the client
code itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import typing_extensions

from aiki.contract import StartRequest
from aiki.contract.schedules import ActivateScheduleRequest
from aiki.definitions.run_context import RunContext
from aiki.errors import ConfigurationError

if TYPE_CHECKING:
    from aiki.definitions.workflow_version import WorkflowVersion

StartedOutputT = typing_extensions.TypeVar("StartedOutputT", default=Any)
RunHandleT_co = typing_extensions.TypeVar("RunHandleT_co", covariant=True, default=Any)
ScheduleHandleT_co = typing_extensions.TypeVar("ScheduleHandleT_co", covariant=True, default=Any)


class WorkflowStarter(Protocol[StartedOutputT, RunHandleT_co]):
    """Starts runs: what ``version.start(client, input)`` needs.

    Generic in the output of the version it starts and in the handle it returns, so that
    ``await order_v1.start(client, order)`` is typed by the client's own handle
    (``WorkflowRunHandle[Receipt]`` for ``aiki.Client``).
    """

    async def start_workflow(
        self, version: WorkflowVersion[Any, StartedOutputT], request: StartRequest
    ) -> RunHandleT_co:
        """Start a run of ``version`` as ``request`` says (input already validated); returns its handle."""
        ...


class RunHandleFinder(Protocol[StartedOutputT, RunHandleT_co]):
    """Finds runs: what ``version.get_handle(client, run_id)`` needs."""

    async def get_run_handle(
        self, version: WorkflowVersion[Any, StartedOutputT], run_id: str
    ) -> RunHandleT_co:
        """The handle of run ``run_id``, which must be a run of ``version`` (else ``NotFoundError``)."""
        ...


class ReferenceHandleFinder(Protocol[StartedOutputT, RunHandleT_co]):
    """Finds runs by reference id: what ``version.get_handle_by_reference_id(client, key)`` needs."""

    async def get_run_handle_by_reference(
        self, version: WorkflowVersion[Any, StartedOutputT], reference_id: str
    ) -> RunHandleT_co:
        """The handle of the run of ``version`` that ``reference_id`` names (else ``NotFoundError``)."""
        ...


class ScheduleActivator(Protocol[ScheduleHandleT_co]):
    """Activates schedules: what ``schedule.activate(client, version, input)`` needs."""

    async def activate_schedule(self, request: ActivateScheduleRequest) -> ScheduleHandleT_co:
        """Activate the schedule ``request`` describes (idempotently); returns its handle."""
        ...


@runtime_checkable
class StartingClient(
    WorkflowStarter[Any, Any],
    RunHandleFinder[Any, Any],
    ReferenceHandleFinder[Any, Any],
    ScheduleActivator[Any],
    Protocol,
):
    """A client as versions and schedules use it; ``aiki.Client`` is one.

    Each call site is typed by the one-method Protocol it uses (a Protocol with several generic methods
    defeats type inference of the handle); this one names them together and tells a client from anything
    else at run time.
    """


#: the classes already found to be clients (a runtime protocol check is slow, and every start asks)
_CLIENT_TYPES: set[type[Any]] = set()


def check_client(client: object, call: str) -> None:
    """Raise a clear error unless ``client`` is a client (a server, say, is not)."""
    cls = type(client)
    if cls in _CLIENT_TYPES:
        return
    if not isinstance(client, StartingClient):
        raise not_a_client(call, client)
    _CLIENT_TYPES.add(cls)


def not_a_client(call: str, got: object) -> ConfigurationError:
    """The error for something passed where a client is expected."""
    if isinstance(got, RunContext):
        return ConfigurationError(
            f"{call} takes a client, got the run of a workflow handler ({got!r}). Inside a handler, start a "
            f"child run instead: await version.start_as_child(run, input)."
        )
    return ConfigurationError(
        f"{call} takes a client, got {got!r}. Make one with aiki.client(server=srv) (embedded, in this "
        f"process) or aiki.client(url=...) (HTTP), and pass that."
    )


def check_client_method(client: object, method: str, call: str) -> None:
    """Raise the clear error of ``not_a_client`` unless ``client`` has the async method ``method``."""
    if not callable(getattr(client, method, None)):
        raise not_a_client(call, client)
