"""Workers seen by the server: what a worker announces of itself, and what ``list_workers`` returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkerAnnouncement:
    """``POST /worker/announce``: a worker says it is alive (at start, then at every claim refresh)."""

    id: str
    name: str
    host: str
    pid: int
    #: the (workflow name, version) pairs it registers
    workflows: list[tuple[str, str]]
    #: the shards it claims from (``None``: only runs without a shard)
    shards: list[str] | None
    #: ``max_concurrent_workflow_runs``
    concurrency: int
    #: runs it is executing now
    active_runs: int


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A live worker: one seen within the server's claim timeout."""

    id: str
    name: str
    host: str
    pid: int
    workflows: list[tuple[str, str]]
    shards: list[str] | None
    concurrency: int
    active_runs: int
    #: when the server first heard of it
    started_at_ms: int
    #: when it last announced itself
    last_seen_at_ms: int
