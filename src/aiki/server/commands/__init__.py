"""What clients and workers can ask of a server, one class per aggregate, all on one ``ServerCore``."""

from __future__ import annotations

from dataclasses import dataclass

from aiki.server.commands.events import EventCommands
from aiki.server.commands.keys import KeyCommands
from aiki.server.commands.purge import PurgeCommands
from aiki.server.commands.runs import RunCommands
from aiki.server.commands.schedules import ScheduleCommands
from aiki.server.commands.steering import SteeringCommands
from aiki.server.commands.worker_registry import WorkerRegistry
from aiki.server.commands.workers import WorkerCommands
from aiki.server.engine.core import ServerCore


@dataclass(frozen=True, slots=True)
class Commands:
    """Every command group of one server (what the HTTP routes and the embedded transport call)."""

    core: ServerCore
    runs: RunCommands
    workers: WorkerCommands
    events: EventCommands
    schedules: ScheduleCommands
    keys: KeyCommands
    steering: SteeringCommands
    registry: WorkerRegistry
    purge: PurgeCommands

    @staticmethod
    def on(core: ServerCore) -> Commands:
        runs = RunCommands(core)
        return Commands(
            core=core,
            runs=runs,
            workers=WorkerCommands(core),
            events=EventCommands(core),
            schedules=ScheduleCommands(core),
            keys=KeyCommands(core),
            steering=SteeringCommands(runs),
            registry=WorkerRegistry(core),
            purge=PurgeCommands(core),
        )
