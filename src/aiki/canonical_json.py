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
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import TypeAlias, cast

from pydantic import BaseModel

from aiki.contract.limits import MAX_VALUE_BYTES, MAX_VALUE_DEPTH
from aiki.errors import SerializationError, ValueLimitError

JSONValue: TypeAlias = dict[str, "JSONValue"] | list["JSONValue"] | str | int | float | bool | None
"""A plain JSON tree: what :func:`to_jsonable` returns and the store keeps."""

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: names a value in an error: the name, or what makes it (called only when there is an error, so that the
#: happy path formats nothing)
Naming = str | Callable[[], str]


def _named(what: Naming) -> str:
    return what if isinstance(what, str) else what()


#: integers strictly between minus this and this are written by ``str`` (far below any length limit)
_SHORT_INT = 10**15


class _Rejected(Exception):
    """A value deep in the tree is not JSON; ``segments`` collects the path, innermost first."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.segments: list[str] = []


class _TooDeep(Exception):
    """The value nests deeper than :data:`MAX_VALUE_DEPTH` (raised before Python's own recursion limit)."""


def to_jsonable(value: object, what: Naming) -> JSONValue:
    """Convert ``value`` to a plain JSON tree, or raise :class:`SerializationError` naming the bad part.

    Accepted: ``None``, ``bool``, ``int``, finite ``float``, ``str``, lists, tuples (become lists), dicts with
    string keys, enum members (their value), pydantic models (``model_dump(mode="json")``) and dataclass
    instances. A value that is already plain JSON is returned as it is, without copying. The result is held
    to the limits of one recorded value (``aiki.contract.limits``): a larger or deeper one raises
    :class:`ValueLimitError`, the error the server gives for it too.

    Args:
        value: what the user passed or returned.
        what: names the value in the error, e.g. ``"input of task 'charge'"`` (or makes that name, called
            only if there is an error).
    """
    try:
        plain = cast(JSONValue, value) if _is_plain(value, 1) else _convert(value, 1)
    except _Rejected as rejected:
        path = "value" + "".join(reversed(rejected.segments))
        raise SerializationError(_named(what), f"{path} {rejected.detail}") from None
    except (_TooDeep, RecursionError):
        raise ValueLimitError(_named(what), "depth", MAX_VALUE_DEPTH) from None
    checked_dumps(plain, what)
    return plain


def checked_dumps(value: JSONValue, what: Naming) -> str:
    """The storage text of ``value`` (:func:`dumps`) once it is within the limits of one recorded value.

    The server checks every value it receives this way, whichever transport brought it: nothing that could
    not be read back (or that would exhaust a reader's stack) is stored.

    Raises:
        ValueLimitError: the value nests deeper than ``MAX_VALUE_DEPTH`` or its text is over
            ``MAX_VALUE_BYTES``.
        SerializationError: the value is not plain JSON.
    """
    if type(value) is int and -_SHORT_INT < value < _SHORT_INT:
        return str(value)  # the commonest small value: its text needs neither the encoder nor the checks
    if isinstance(value, dict | list) and _nests_too_deep(value):
        raise ValueLimitError(_named(what), "depth", MAX_VALUE_DEPTH)
    text = dumps(value, what)
    # A character is at most 4 bytes of UTF-8: short texts need no encoding to be measured.
    if len(text) * 4 > MAX_VALUE_BYTES:
        size = len(text.encode("utf-8"))
        if size > MAX_VALUE_BYTES:
            raise ValueLimitError(_named(what), "size", MAX_VALUE_BYTES, size)
    return text


def _nests_too_deep(value: object) -> bool:
    """Whether lists and objects nest deeper than ``MAX_VALUE_DEPTH`` in ``value`` (iteratively: a value as
    deep as a hostile client can make it never reaches Python's recursion limit)."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_VALUE_DEPTH:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _is_plain(value: object, depth: int) -> bool:
    """Whether ``value`` is already a plain JSON tree (exact built-in types, finite floats).

    ``depth`` is the nesting level a container at ``value`` would have; past the limit, :class:`_TooDeep`.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(cast(float, value))
    if kind is dict or kind is list:
        if depth > MAX_VALUE_DEPTH:
            raise _TooDeep()
        if kind is list:
            return all(_is_plain(item, depth + 1) for item in cast(list[object], value))
        for key, item in cast(dict[object, object], value).items():
            if type(key) is not str or not _is_plain(item, depth + 1):
                return False
        return True
    return False


def _convert(value: object, depth: int) -> JSONValue:
    """Build a plain JSON copy of ``value``; raise :class:`_Rejected` for anything that is not JSON."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return _convert(value.value, depth)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Rejected(f"is {value!r}; NaN and Infinity have no JSON form")
        return float(value)
    if isinstance(value, Mapping | list | tuple) and depth > MAX_VALUE_DEPTH:
        raise _TooDeep()
    if isinstance(value, Mapping):
        result: dict[str, JSONValue] = {}
        for key, item in cast(Mapping[object, object], value).items():
            if not isinstance(key, str):
                raise _Rejected(f"has the key {key!r} of type {type(key).__qualname__}; keys must be strings")
            segment = f"[{json.dumps(key, ensure_ascii=False)}]"
            result[str.__str__(key)] = _convert_child(item, segment, depth + 1)
        return result
    if isinstance(value, list | tuple):
        items = cast(list[object], value)
        return [_convert_child(item, f"[{index}]", depth + 1) for index, item in enumerate(items)]
    if isinstance(value, BaseModel):
        return _convert(value.model_dump(mode="json"), depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _convert(dataclasses.asdict(value), depth)
    raise _Rejected(f"has the type {type(value).__qualname__}")


def _convert_child(item: object, segment: str, depth: int) -> JSONValue:
    """Convert one element, adding its path ``segment`` to a rejection on the way out."""
    try:
        return _convert(item, depth)
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
    # An integer, the commonest input, needs no walk.
    text = (
        '{"input":' + int.__repr__(value) + "}" if type(value) is int else canonical_dumps({"input": value})
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dumps(value: JSONValue, what: Naming = "stored value") -> str:
    """Compact storage text: no whitespace, non-ASCII kept, NaN refused, lone surrogates escaped."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError) as error:
        # ValueError: NaN, or an integer of more digits than Python writes; TypeError: not JSON at all.
        raise SerializationError(_named(what), str(error)) from None
    return _escape_lone_surrogates(text)


def loads(text: str | None) -> JSONValue:
    """Parse storage text written by :func:`dumps`; ``None`` (an absent column) gives ``None``."""
    if text is None:
        return None
    return cast(JSONValue, json.loads(text, parse_constant=_refuse_constant))


def _refuse_constant(name: str) -> object:
    raise SerializationError("stored JSON text", f"it contains {name}")
