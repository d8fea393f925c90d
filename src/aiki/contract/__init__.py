"""The contract between clients (and workers) and the server: request and response values, their JSON
codec, and the wire constants. A leaf package: an HTTP-only worker imports it, never the server or a driver.
"""

from aiki.contract.messages import (
    ClaimedRun,
    ClaimRequest,
    ConflictPolicy,
    OutcomeKind,
    ParentLink,
    RunOutcome,
    StartRequest,
    TaskWrite,
    to_dict,
)

__all__ = [
    "ClaimRequest",
    "ClaimedRun",
    "ConflictPolicy",
    "OutcomeKind",
    "ParentLink",
    "RunOutcome",
    "StartRequest",
    "TaskWrite",
    "to_dict",
]
