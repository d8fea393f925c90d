"""``event(schema=...)``: a typed event a workflow version can wait for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiki.definitions.schema import Validator, make_validator


@dataclass(frozen=True, slots=True)
class EventDefinition:
    """An event's payload validator (``None`` accepts any JSON value)."""

    schema: object | None = None
    validator: Validator | None = None

    def validate(self, data: Any, what: str) -> Any:
        """The validated payload (a model instance for a pydantic model); raises ``SchemaValidationError``."""
        if self.schema is None:
            return data
        return make_validator(self.schema, what)(data)


def event(schema: object | None = None) -> EventDefinition:
    """Declare an event for ``workflow.v(..., events={"name": event(schema=Model)})``.

    The payload is validated when sent (the sender gets the error, nothing is stored) and parsed again
    when the workflow receives it.
    """
    validator = make_validator(schema, "event data") if schema is not None else None
    return EventDefinition(schema=schema, validator=validator)
