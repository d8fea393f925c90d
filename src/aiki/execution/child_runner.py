"""``version.start_as_child(run, input)``: start a child run, addressed like a task; replays reuse it."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiki.client.tracing import current_trace_context
from aiki.contract import ParentLink
from aiki.definitions.type_variables import OutputT
from aiki.errors import (
    NonDeterminismError,
    RevisionConflictError,
    SchemaValidationError,
    SerializationError,
)
from aiki.execution.child_handle import ChildRunHandle
from aiki.execution.signals import FailRun, StopExecution

if TYPE_CHECKING:
    from aiki.definitions.workflow_version import VersionStarter
    from aiki.execution.execution import Execution


async def start_child(
    execution: Execution, starter: VersionStarter[Any, OutputT], input: Any
) -> ChildRunHandle[OutputT]:
    """Start (or, on replay, find) the child run; returns its handle."""
    version = starter.version
    execution.check_open()
    try:
        request = starter.request(input)
    except (SchemaValidationError, SerializationError) as error:
        execution.closing = True
        raise FailRun(error) from error
    key = request.reference_id if request.reference_id is not None else request.input_hash
    address = f"{version.name}:{version.version_id}:{key}"
    manifest = execution.manifest
    if manifest.has_unconsumed():
        entry = manifest.consume_child(address)
        if entry is None:
            execution.closing = True
            raise FailRun(NonDeterminismError(execution.run.id, f"child {address}", manifest.unconsumed()))
        child = await execution.client.transport.get_run(entry.child_run_id)
    else:
        occurrence = manifest.new_child_occurrence(address)
        request = replace(
            request,
            # An explicit shard wins, then the parent's, then the child version's own default.
            shard=starter.options.shard or execution.run.shard or version.shard,
            parent=ParentLink(execution.run.id, execution.claim_token, address, occurrence),
            # The child joins its parent's trace, under the execution that started it.
            trace_context=current_trace_context(),
        )
        done = execution.begin_work("child", address)
        try:
            child = await execution.client.transport.start_run(request)
        except RevisionConflictError as conflict:
            execution.closing = True
            raise StopExecution() from conflict
        finally:
            execution.end_work(done)
    return ChildRunHandle(execution, child, version)
