"""JSON forms of contract values (requests, responses, run records), checked field by field on the way in.

The HTTP API and the HTTP transport both use this module, so a value crosses the wire as the same fields on
both sides. A malformed value is an :class:`InvalidRequestError` that names the field, never a ``TypeError``.

>>> from aiki.contract import ParentLink
>>> decode(ParentLink, {"run_id": "r1", "claim_token": "t", "address": "a", "occurrence": 0})
ParentLink(run_id='r1', claim_token='t', address='a', occurrence=0)
"""

from __future__ import annotations

import dataclasses
import re
import types
from enum import Enum
from typing import Any, Literal, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from aiki.contract.messages import to_dict
from aiki.errors import InvalidRequestError

T = TypeVar("T")

#: integers beyond this lose precision in JavaScript and overflow the store's 64-bit columns when added to
#: a timestamp; ids, revisions, durations and counts all stay far below it
MAX_SAFE_INTEGER = 2**53 - 1

# NUL and lone surrogates cannot be stored in a text column (PostgreSQL refuses NUL, UTF-8 has no surrogates).
_UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


def encode(value: Any) -> Any:
    """The JSON form of a contract value or run record, also inside lists and dicts; plain JSON is kept."""
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if hasattr(value, "to_dict"):
        return encode(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return encode(to_dict(value))
    return value


def decode(cls: type[T], data: object, field: str = "", *, allow_unknown: bool = False) -> T:
    """``data`` (parsed JSON) as a ``cls``: every field present with its declared type.

    Args:
        cls: a dataclass of ``aiki.contract`` or ``aiki.types`` (or a plain type such as ``str``).
        data: the parsed JSON.
        field: where ``data`` sits in the request, for error messages (``""`` for the whole body).
        allow_unknown: ignore fields ``cls`` does not have (a response from a newer server) instead of
            rejecting them (a request with a misspelt field).
    """
    return cast(T, _decode(cls, data, field, allow_unknown))


def check_text(value: object, field: str) -> str:
    """``value`` if it is a string that a database can store, else :class:`InvalidRequestError`."""
    return cast(str, _decode(str, value, field, False))


def _decode(hint: Any, data: object, path: str, allow_unknown: bool) -> Any:
    origin = get_origin(hint)
    if hint is Any:
        return data
    if origin is Union or origin is types.UnionType:
        arguments = get_args(hint)
        if data is None and type(None) in arguments:
            return None
        (inner,) = [argument for argument in arguments if argument is not type(None)]
        return _decode(inner, data, path, allow_unknown)
    if origin is Literal:
        choices = get_args(hint)
        if isinstance(data, str) and data in choices:
            return data
        raise _invalid(path, f"must be one of {', '.join(repr(choice) for choice in choices)}, got {data!r}")
    if origin is list:
        if not isinstance(data, list):
            raise _invalid(path, f"must be a list, got {_kind(data)}")
        (item,) = get_args(hint)
        return [_decode(item, entry, f"{path}[{index}]", allow_unknown) for index, entry in enumerate(data)]
    if origin is tuple:
        items = get_args(hint)
        if not isinstance(data, list) or len(data) != len(items):
            raise _invalid(path, f"must be a list of {len(items)} items, got {_kind(data)}")
        return tuple(
            _decode(item, entry, f"{path}[{index}]", allow_unknown)
            for index, (item, entry) in enumerate(zip(items, data, strict=True))
        )
    if origin is dict:
        if not isinstance(data, dict):
            raise _invalid(path, f"must be a JSON object, got {_kind(data)}")
        _key, value_hint = get_args(hint)
        return {
            key: _decode(value_hint, value, f"{path}.{key}", allow_unknown) for key, value in data.items()
        }
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, data, path, allow_unknown)
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(data)
        except ValueError:
            members = ", ".join(repr(member.value) for member in hint)
            raise _invalid(path, f"must be one of {members}, got {data!r}") from None
    return _decode_scalar(hint, data, path)


def _decode_scalar(hint: Any, data: object, path: str) -> Any:
    if hint is str:
        if not isinstance(data, str):
            raise _invalid(path, f"must be a string, got {_kind(data)}")
        if _UNSTORABLE_TEXT.search(data):
            raise _invalid(path, "must not contain NUL characters or unpaired surrogates")
        return data
    if hint is bool:
        if not isinstance(data, bool):
            raise _invalid(path, f"must be true or false, got {_kind(data)}")
        return data
    if hint is int:
        if isinstance(data, float) and data.is_integer() and abs(data) <= MAX_SAFE_INTEGER:
            # JSON has one number type: 3.0 is the integer 3 (as JSON Schema counts it).
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            raise _invalid(path, f"must be an integer, got {_kind(data)}")
        if abs(data) > MAX_SAFE_INTEGER:
            raise _invalid(path, f"must be between -{MAX_SAFE_INTEGER} and {MAX_SAFE_INTEGER}, got {data}")
        return data
    raise TypeError(f"contract_json cannot decode values of type {hint!r}")


def _decode_dataclass(cls: type[Any], data: object, path: str, allow_unknown: bool) -> Any:
    if not isinstance(data, dict):
        what = f"{path} " if path else "the body "
        raise InvalidRequestError(f"{what}must be a JSON object, got {_kind(data)}.", path or None)
    declared = _fields_of(cls)
    unknown = sorted(set(data) - set(declared))
    if unknown and not allow_unknown:
        raise _invalid(
            path or None,
            f"unknown field(s) {', '.join(map(repr, unknown))}; the fields are {', '.join(declared)}",
        )
    values: dict[str, Any] = {}
    for name, (hint, required) in declared.items():
        inner_path = f"{path}.{name}" if path else name
        if name not in data:
            if required:
                raise _invalid(inner_path, "is required")
            continue
        values[name] = _decode(hint, data[name], inner_path, allow_unknown)
    return cls(**values)


_FIELDS: dict[type[Any], dict[str, tuple[Any, bool]]] = {}


def _fields_of(cls: type[Any]) -> dict[str, tuple[Any, bool]]:
    """The dataclass's fields: their resolved types and whether they lack a default."""
    known = _FIELDS.get(cls)
    if known is not None:
        return known
    hints = get_type_hints(cls)
    _FIELDS[cls] = {
        item.name: (
            hints[item.name],
            item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING,
        )
        for item in dataclasses.fields(cls)
    }
    return _FIELDS[cls]


def _invalid(path: str | None, detail: str) -> InvalidRequestError:
    return InvalidRequestError(detail + ".", path or None)


def _kind(value: object) -> str:
    """How a wrong value is described in a message: its JSON kind, and the value when it is short."""
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }
    name = names.get(type(value), type(value).__name__)
    shown = repr(value)
    return f"{name} ({shown})" if len(shown) <= 40 else name
