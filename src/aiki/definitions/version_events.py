"""``version.events.NAME``: send one declared event to many runs of a version at once, or to the run a
reference id names.

Example:
    await order_v1.events.payment_received.send(client, [run_id_1, run_id_2], {"amount": 12})
    await order_v1.events.payment_received.send_by_reference_id(client, "order-123", {"amount": 12})
    await order_v1.events.payment_received.with_().opt("reference.id", "pay-7").send(client, ids, data)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from aiki.canonical_json import to_jsonable
from aiki.definitions.event import EventDefinition
from aiki.definitions.starting_client import check_client_method
from aiki.errors import InvalidOptionError, NotFoundError


class EventDeliverer(Protocol):
    """What sending an event to many runs needs of a client (``aiki.Client`` has it)."""

    async def send_events(
        self, run_ids: Sequence[str], name: str, data: Any, reference_id: str | None
    ) -> list[bool]:
        """Send event ``name`` with ``data`` to every run of ``run_ids`` (all or none)."""
        ...

    async def send_event_by_reference(
        self,
        workflow: str,
        version: str,
        run_reference_id: str,
        name: str,
        data: Any,
        reference_id: str | None,
    ) -> bool:
        """Send event ``name`` to the run of that version named by ``run_reference_id``."""
        ...


def event_reference_id(path: str, value: Any, current: str | None) -> str:
    """The reference id an event option sets (``reference.id`` or ``reference: {"id"}``)."""
    if path == "reference.id":
        if not isinstance(value, str) or not value:
            raise InvalidOptionError(
                f"Event option 'reference.id' must be a non-empty string, got {value!r}."
            )
        return value
    if path == "reference":
        if not isinstance(value, Mapping) or set(value) - {"id"} or not isinstance(value.get("id"), str):
            raise InvalidOptionError(f"Event option 'reference' must be {{'id': str}}, got {value!r}.")
        return event_reference_id("reference.id", value["id"], current)
    raise InvalidOptionError(f"Unknown event option {path!r}; the only option is 'reference.id'.")


class VersionEvent:
    """One declared event of a version, to send to runs of that version by id or by reference id."""

    def __init__(
        self,
        workflow: str,
        version_id: str,
        name: str,
        definition: EventDefinition,
        reference_id: str | None = None,
    ) -> None:
        self.workflow = workflow
        self.version_id = version_id
        self.name = name
        self.definition = definition
        self.reference_id = reference_id

    def with_(self) -> VersionEvent:
        """An option builder: ``.with_().opt("reference.id", key)`` dedupes the send per run."""
        return VersionEvent(self.workflow, self.version_id, self.name, self.definition, self.reference_id)

    def opt(self, path: str, value: Any) -> VersionEvent:
        reference_id = event_reference_id(path, value, self.reference_id)
        return VersionEvent(self.workflow, self.version_id, self.name, self.definition, reference_id)

    async def send(self, client: EventDeliverer, run_ids: Sequence[str], data: Any = None) -> list[bool]:
        """Send the event to every run of ``run_ids``; per run, ``False`` where that reference id was used.

        The data is validated once against the event's schema (``SchemaValidationError``: nothing is sent).
        Unknown run ids raise ``NotFoundError`` naming them, and nothing is sent.
        """
        check_client_method(client, "send_events", f"send of event {self.name!r}")
        if isinstance(run_ids, str):
            raise InvalidOptionError(f"send() takes a list of run ids, not one string; write [{run_ids!r}].")
        payload = self._payload(data, f"data of event {self.name!r}")
        return await client.send_events(list(run_ids), self.name, payload, self.reference_id)

    async def send_by_reference_id(self, client: EventDeliverer, reference_id: str, data: Any = None) -> bool:
        """Send the event to the run of this version that ``reference_id`` names (``NotFoundError`` if none)."""
        check_client_method(client, "send_event_by_reference", f"send of event {self.name!r}")
        payload = self._payload(
            data, f"data of event {self.name!r} for the run with reference id {reference_id!r}"
        )
        return await client.send_event_by_reference(
            self.workflow, self.version_id, reference_id, self.name, payload, self.reference_id
        )

    def _payload(self, data: Any, what: str) -> Any:
        return to_jsonable(self.definition.validate(data, what), what)

    def __repr__(self) -> str:
        return f"<event {self.name!r} of {self.workflow}@{self.version_id}>"


class VersionEvents(Mapping[str, EventDefinition]):
    """``version.events``: the declared events by name (a mapping of their definitions), and, as
    attributes, their senders: ``version.events.payment_received.send(client, run_ids, data)``."""

    def __init__(self, workflow: str, version_id: str, definitions: Mapping[str, EventDefinition]) -> None:
        self._workflow = workflow
        self._version_id = version_id
        self._definitions = dict(definitions)

    def __getitem__(self, name: str) -> EventDefinition:
        return self._definitions[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._definitions)

    def __len__(self) -> int:
        return len(self._definitions)

    def __getattr__(self, name: str) -> VersionEvent:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.sender(name)

    def sender(self, name: str) -> VersionEvent:
        """The sender of event ``name`` (what ``version.events.NAME`` returns)."""
        definition = self._definitions.get(name)
        if definition is None:
            known = ", ".join(sorted(self._definitions)) or "none"
            raise NotFoundError(
                "event",
                name,
                f"Workflow {self._workflow!r} version {self._version_id!r} declares these events: {known}. "
                f"Declare it with events={{{name!r}: event()}}.",
            )
        return VersionEvent(self._workflow, self._version_id, name, definition)
