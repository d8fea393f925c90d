"""Building blocks of the OpenAPI 3.1 description served at ``/api/v1/openapi.json``.

Each routes module describes its own paths with these helpers, next to the routes themselves; the schemas of
request and response bodies are derived from the contract dataclasses, so they cannot drift from what the
server decodes.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Iterable
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from aiki.contract.fields import VARIANTS, field_schema

JSON = dict[str, Any]

#: request bodies whose fields all have defaults: they may be left out
OPTIONAL_BODIES = frozenset({"CancelBody", "EventBody"})

ERROR_SCHEMA: JSON = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "code", "message", "data"],
            "properties": {
                "type": {"type": "string", "description": "the AikiError subclass, e.g. NotFoundError"},
                "code": {"type": "string", "description": "stable machine-readable code, e.g. NOT_FOUND"},
                "message": {"type": "string", "description": "what happened and what to do"},
                "data": {"type": "object", "description": "the error's fields (run_id, status, ...)"},
            },
        }
    },
}


def document(version: str, paths: JSON, classes: Iterable[type[Any]]) -> JSON:
    """The whole description, as plain JSON."""
    components: dict[str, JSON] = {}
    for cls in classes:
        component(cls, components)
    components["Error"] = ERROR_SCHEMA
    for methods in paths.values():
        if "post" in methods:
            # Every POST reads its body (if any) within the body limit, and only as JSON.
            for status, description in BODY_REFUSALS.items():
                methods["post"]["responses"][status] = {
                    "description": description,
                    "content": {"application/json": {"schema": ref("Error")}},
                }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "aiki",
            "version": version,
            "description": "Durable workflows. Every operation of the aiki client, as JSON. "
            "Authenticate with 'Authorization: Bearer <key>' unless the server is open; "
            "the key's namespace scopes every call.",
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
        "paths": paths,
    }


_ERROR_DESCRIPTIONS = {
    400: "invalid request (InvalidRequestError, InvalidOptionError, ValueLimitError)",
    401: "missing or unknown API key (UnauthorizedError)",
    403: "revoked key, or a key of another namespace (ForbiddenError)",
    404: "no such run, event or feature in the key's namespace (NotFoundError)",
    409: "conflict with the current state (InvalidTransitionError, WorkflowRunConflictError, "
    "ScheduleConflictError, RevisionConflictError)",
    422: "a payload rejected by its schema (SchemaValidationError)",
}

#: answers any operation may give: the server is busy (every database connection stayed busy); with a
#: body, one over the size limit or not declared as JSON
BUSY = {
    "503": {
        "description": "busy: try again after the Retry-After header's seconds (ServerBusyError)",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
}
BODY_REFUSALS = {
    "413": "the body is over the size limit (16 MiB)",
    "415": "the body is not declared as application/json",
}


def operation(
    summary: str,
    response: JSON | None,
    *,
    parameters: list[JSON] | None = None,
    body: str | None = None,
    body_schema: JSON | None = None,
    errors: tuple[int, ...] = (400, 401, 403, 404),
) -> JSON:
    responses: JSON = {}
    if response is None:
        responses["204"] = {"description": "done"}
    else:
        responses["200"] = {"description": "OK", "content": {"application/json": {"schema": response}}}
    for status in errors:
        responses[str(status)] = {
            "description": _ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"schema": ref("Error")}},
        }
    responses.update(BUSY)
    operation: JSON = {"summary": summary, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    schema = ref(body) if body is not None else body_schema
    if schema is not None:
        # A body whose fields all have defaults may be left out.
        required = body not in OPTIONAL_BODIES
        operation["requestBody"] = {"required": required, "content": {"application/json": {"schema": schema}}}
    return operation


def ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(**properties: JSON) -> JSON:
    return {"type": "object", "required": list(properties), "properties": properties}


def array(items: JSON) -> JSON:
    return {"type": "array", "items": items}


def path_parameter(name: str, description: str) -> JSON:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def query(name: str, schema: JSON, description: str, *, required: bool = False) -> JSON:
    """A query parameter; a text one is never empty (the server refuses an empty value: leave it out)."""
    if schema.get("type") == "string":
        schema = {"minLength": 1, **schema}
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def component(cls: type[Any], components: dict[str, JSON]) -> JSON:
    """Register the schema of dataclass ``cls`` (and the dataclasses it holds); returns a reference to it."""
    name = cls.__name__
    if name not in components:
        components[name] = {}  # placed first so that a self-reference (RunState.previous) terminates
        hints = get_type_hints(cls)
        fields = dataclasses.fields(cls)
        schema: JSON = {
            "type": "object",
            "description": (cls.__doc__ or "").strip().splitlines()[0],
            "required": [
                item.name
                for item in fields
                if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
            ],
            "properties": {
                item.name: {**schema_of(hints[item.name], components), **field_schema(cls, item.name)}
                for item in fields
            },
            # The server refuses a field it does not know (a misspelt one would otherwise be lost silently).
            "additionalProperties": False,
        }
        variants = VARIANTS.get(cls)
        components[name] = schema if variants is None else one_of_variants(schema, *variants)
    return ref(name)


def one_of_variants(schema: JSON, field: str, needs: dict[str, tuple[str, ...]]) -> JSON:
    """``schema`` as one shape per value of ``field``, each requiring the fields that value needs (present
    and not null)."""
    shapes = []
    for value, needed in needs.items():
        properties = dict(schema["properties"])
        properties[field] = {"const": value}
        for name in needed:
            options = properties[name].get("oneOf")
            if options:
                facts = {key: item for key, item in properties[name].items() if key != "oneOf"}
                properties[name] = {**options[0], **facts}
        shapes.append({**schema, "properties": properties, "required": [*schema["required"], *needed]})
    return {"description": schema["description"], "oneOf": shapes}


def schema_of(hint: Any, components: dict[str, JSON]) -> JSON:
    origin = get_origin(hint)
    if hint is Any:
        return {}
    if origin is Union or origin is types.UnionType:
        options = [
            schema_of(argument, components) for argument in get_args(hint) if argument is not type(None)
        ]
        nullable = type(None) in get_args(hint)
        return {"oneOf": [*options, {"type": "null"}]} if nullable else {"oneOf": options}
    if origin is Literal:
        return {"type": "string", "enum": list(get_args(hint))}
    if origin is list:
        return array(schema_of(get_args(hint)[0], components))
    if origin is tuple:
        items = [schema_of(item, components) for item in get_args(hint)]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if origin is dict:
        return {"type": "object", "additionalProperties": schema_of(get_args(hint)[1], components)}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return {"type": "string", "enum": [member.value for member in hint]}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return component(hint, components)
    scalar = {str: "string", int: "integer", bool: "boolean", float: "number"}
    return {"type": scalar[hint]}
