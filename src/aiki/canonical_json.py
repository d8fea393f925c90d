"""JSON values: conversion from user values, canonical text for hashing, and compact storage text.

Every input and output aiki records goes through :func:`to_jsonable` first, so the store only ever sees plain
JSON trees. Task and child addresses hash the canonical form (:func:`hash_input`): keys sorted by UTF-16
code units, no whitespace, numbers written as ECMAScript's ``Number::toString`` writes them.

>>> canonical_dumps({"b": 2, "a": [1.0, 1e21]})
'{"a":[1,1e+21],"b":2}'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Mapping
from enum import Enum
from typing import TypeAlias, cast

from pydantic import BaseModel

from aiki.errors import SerializationError

JSONValue: TypeAlias = dict[str, "JSONValue"] | list["JSONValue"] | str | int | float | bool | None
"""A plain JSON tree: what :func:`to_jsonable` returns and the store keeps."""

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class _Rejected(Exception):
    """A value deep in the tree is not JSON; ``segments`` collects the path, innermost first."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.segments: list[str] = []


def to_jsonable(value: object, what: str) -> JSONValue:
    """Convert ``value`` to a plain JSON tree, or raise :class:`SerializationError` naming the bad part.

    Accepted: ``None``, ``bool``, ``int``, finite ``float``, ``str``, lists, tuples (become lists), dicts with
    string keys, enum members (their value), pydantic models (``model_dump(mode="json")``) and dataclass
    instances. A value that is already plain JSON is returned as it is, without copying.

    Args:
        value: what the user passed or returned.
        what: names the value in the error, e.g. ``"input of task 'charge'"``.
    """
    try:
        if _is_plain(value):
            return cast(JSONValue, value)
        return _convert(value)
    except _Rejected as rejected:
        path = "value" + "".join(reversed(rejected.segments))
        raise SerializationError(what, f"{path} {rejected.detail}") from None
    except RecursionError:
        raise SerializationError(what, "the value is nested too deeply or contains itself") from None


def _is_plain(value: object) -> bool:
    """Whether ``value`` is already a plain JSON tree (exact built-in types, finite floats)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(cast(float, value))
    if kind is dict:
        for key, item in cast(dict[object, object], value).items():
            if type(key) is not str or not _is_plain(item):
                return False
        return True
    if kind is list:
        return all(_is_plain(item) for item in cast(list[object], value))
    return False


def _convert(value: object) -> JSONValue:
    """Build a plain JSON copy of ``value``; raise :class:`_Rejected` for anything that is not JSON."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return _convert(value.value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Rejected(f"is {value!r}; NaN and Infinity have no JSON form")
        return float(value)
    if isinstance(value, Mapping):
        result: dict[str, JSONValue] = {}
        for key, item in cast(Mapping[object, object], value).items():
            if not isinstance(key, str):
                raise _Rejected(f"has the key {key!r} of type {type(key).__qualname__}; keys must be strings")
            result[str.__str__(key)] = _convert_child(item, f"[{json.dumps(key, ensure_ascii=False)}]")
        return result
    if isinstance(value, list | tuple):
        return [_convert_child(item, f"[{index}]") for index, item in enumerate(cast(list[object], value))]
    if isinstance(value, BaseModel):
        return _convert(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _convert(dataclasses.asdict(value))
    raise _Rejected(f"has the type {type(value).__qualname__}")


def _convert_child(item: object, segment: str) -> JSONValue:
    """Convert one element, adding its path ``segment`` to a rejection on the way out."""
    try:
        return _convert(item)
    except _Rejected as rejected:
        rejected.segments.append(segment)
        raise


def canonical_dumps(value: JSONValue) -> str:
    """The canonical text of a JSON tree: the form that is hashed.

    Object keys are sorted by UTF-16 code units (as JavaScript sorts them), there is no whitespace, strings
    are written as ``json.dumps(..., ensure_ascii=False)`` writes them (lone surrogates escaped), and
    floats as ECMAScript ``Number::toString`` (``1.0`` -> ``1``, ``1e21`` -> ``1e+21``, ``1e-7`` ->
    ``1e-7``). Python ints are written in full.
    """
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: JSONValue, parts: list[str]) -> None:
    # bool is tested before int: True is an int in Python.
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, str):
        parts.append(_quote(value))
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        parts.append(_format_number(value))
    elif isinstance(value, dict):
        parts.append("{")
        for index, key in enumerate(sorted(value, key=_utf16_sort_key)):
            if index:
                parts.append(",")
            parts.append(_quote(key))
            parts.append(":")
            _write(value[key], parts)
        parts.append("}")
    elif isinstance(value, list):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _write(item, parts)
        parts.append("]")
    else:
        raise SerializationError("canonical JSON value", f"it has the type {type(value).__qualname__}")


def _utf16_sort_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _quote(text: str) -> str:
    return _escape_lone_surrogates(json.dumps(text, ensure_ascii=False))


def _escape_lone_surrogates(text: str) -> str:
    # A surrogate in a Python str is always a lone one: JSON.stringify escapes those, and UTF-8
    # cannot hold them.
    if _LONE_SURROGATE.search(text) is None:
        return text
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _format_number(number: float) -> str:
    """Write a float as ECMAScript ``Number::toString`` does (shortest round-trip digits)."""
    if not math.isfinite(number):
        raise SerializationError("canonical JSON value", f"it contains {number!r}")
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    mantissa, _, exponent_text = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    significant = digits.rstrip("0")
    # value = 0.<significant> * 10**point
    point = int(exponent_text or 0) - len(fraction) + len(digits)
    count = len(significant)
    if count <= point <= 21:
        return sign + significant + "0" * (point - count)
    if 0 < point <= 21:
        return sign + significant[:point] + "." + significant[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + significant
    exponent = point - 1
    exponent_part = f"e{'+' if exponent > 0 else '-'}{abs(exponent)}"
    if count == 1:
        return sign + significant + exponent_part
    return sign + significant[0] + "." + significant[1:] + exponent_part


def hash_input(value: JSONValue) -> str:
    """Lower-hex SHA-256 of the UTF-8 canonical text of ``{"input": value}``: a task or child's input hash."""
    return hashlib.sha256(canonical_dumps({"input": value}).encode("utf-8")).hexdigest()


def dumps(value: JSONValue) -> str:
    """Compact storage text: no whitespace, non-ASCII kept, NaN refused, lone surrogates escaped."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as error:
        raise SerializationError("stored value", str(error)) from None
    return _escape_lone_surrogates(text)


def loads(text: str | None) -> JSONValue:
    """Parse storage text written by :func:`dumps`; ``None`` (an absent column) gives ``None``."""
    if text is None:
        return None
    return cast(JSONValue, json.loads(text, parse_constant=_refuse_constant))


def _refuse_constant(name: str) -> object:
    raise SerializationError("stored JSON text", f"it contains {name}")
