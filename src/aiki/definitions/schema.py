"""Validators for inputs, outputs and event payloads, built from whatever the user hands in as a schema.

A validator takes the raw value and returns the value the handler receives (a model instance for a pydantic
model), or raises :class:`SchemaValidationError`.

>>> from pydantic import BaseModel
>>> class Charge(BaseModel):
...     amount: int
>>> make_validator(Charge, "input of task 'charge'")({"amount": "12"})
Charge(amount=12)
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel, PydanticSchemaGenerationError, TypeAdapter, ValidationError

from aiki.errors import ConfigurationError, SchemaValidationError

Validator = Callable[[object], object]
"""Takes a raw value, returns the validated one, raises :class:`SchemaValidationError` on a mismatch."""


@dataclass(frozen=True, slots=True)
class SchemaPair:
    """The validators of a task, workflow version or event; ``None`` where no schema was given."""

    input: Validator | None
    """Checks the input before the handler sees it."""
    output: Validator | None
    """Checks what the handler returns, and cached outputs on replay."""


def parse_schema(spec: Mapping[str, object] | None, owner: str) -> SchemaPair:
    """Build the validators of ``{"input": V, "output": V}``; either key may be left out.

    Args:
        spec: the user's ``schema=`` argument, or ``None`` for no validation.
        owner: names the definition in errors, e.g. ``"task 'charge'"``; validators are named
            ``"input of <owner>"`` and ``"output of <owner>"``.

    Raises:
        ConfigurationError: ``spec`` is not a mapping, has a key other than ``input``/``output``, or holds
            something that cannot validate (see :func:`make_validator`).
    """
    if spec is None:
        return SchemaPair(input=None, output=None)
    if not isinstance(spec, Mapping):
        raise ConfigurationError(
            f"The schema of {owner} must be a mapping like {{'input': Model, 'output': Model}}, got {spec!r}."
        )
    for key in spec:
        if key not in ("input", "output"):
            raise ConfigurationError(
                f"The schema of {owner} has the unknown key {key!r}; only 'input' and 'output' are accepted."
            )
    validators = {
        key: None if spec.get(key) is None else make_validator(spec[key], f"{key} of {owner}")
        for key in ("input", "output")
    }
    return SchemaPair(input=validators["input"], output=validators["output"])


def make_validator(spec: object, what: str) -> Validator:
    """Turn a schema into a validator, trying in this order:

    1. a pydantic model class (``model_validate``);
    2. a pydantic ``TypeAdapter`` (``validate_python``), or a type form such as ``A | B`` or
       ``Annotated[A | B, Field(discriminator="kind")]``, wrapped in one;
    3. an object with a ``parse`` method;
    4. an object with a ``model_validate`` method;
    5. a plain callable, called with the value.

    The validator raises :class:`SchemaValidationError` for whatever the underlying check raises: for a
    pydantic ``ValidationError`` it names the first failing field (dotted, e.g. ``items.0.qty``) and lists
    every error.

    Args:
        spec: the user's schema.
        what: names the validated value in errors, e.g. ``"input of task 'charge'"``.

    Raises:
        ConfigurationError: ``spec`` is none of the above.
    """
    check = _find_check(spec)
    if check is None:
        raise ConfigurationError(
            f"The schema for {what} must be a pydantic model class, a pydantic TypeAdapter, an object with a "
            f"parse() or model_validate() method, or a callable; got {spec!r}."
        )

    def validate(value: object) -> object:
        try:
            return check(value)
        except SchemaValidationError:
            raise
        except ValidationError as error:
            raise _from_pydantic(error, what) from error
        except Exception as error:
            raise SchemaValidationError(what, str(error) or type(error).__name__) from error

    return validate


def _find_check(spec: object) -> Callable[[object], object] | None:
    """The function that validates for ``spec``, in the order :func:`make_validator` documents."""
    if isinstance(spec, type) and issubclass(spec, BaseModel):
        return spec.model_validate
    if isinstance(spec, TypeAdapter):
        return spec.validate_python
    if isinstance(spec, types.UnionType) or typing.get_origin(spec) is not None:
        # A type form (``A | B``, ``Annotated[...]``, ``list[Item]``) is callable but validates nothing.
        try:
            adapter: TypeAdapter[Any] = TypeAdapter(cast(Any, spec))
            return adapter.validate_python
        except PydanticSchemaGenerationError as error:
            raise ConfigurationError(f"pydantic cannot validate the type {spec!r}: {error}") from error
    for method_name in ("parse", "model_validate"):
        method: object = getattr(spec, method_name, None)
        if callable(method):
            return method
    return spec if callable(spec) else None


def _from_pydantic(error: ValidationError, what: str) -> SchemaValidationError:
    """A :class:`SchemaValidationError` naming the first failing field and listing every error."""
    details = error.errors(include_url=False)
    fields = [".".join(str(part) for part in detail["loc"]) for detail in details]
    problems = [
        f"{field}: {detail['msg']}" if field else detail["msg"]
        for field, detail in zip(fields, details, strict=True)
    ]
    summary = f"{len(problems)} error{'s' if len(problems) != 1 else ''}: " + "; ".join(problems)
    return SchemaValidationError(what, summary, (fields[0] or None) if fields else None)
