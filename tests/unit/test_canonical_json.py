"""Canonical JSON: conversion of user values, the hashed text, and the storage text."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math

import pytest
from pydantic import BaseModel

from aiki.canonical_json import JSONValue, canonical_dumps, dumps, hash_input, loads, to_jsonable
from aiki.errors import SerializationError

# Input hashes computed with the TypeScript original of aiki in Node 20, so a run started by either
# implementation has the same content addresses. The rows that need JS `undefined` are left out; NaN is
# rejected here instead of written as null (see docs/determinism.md).
TYPESCRIPT_VECTORS: list[tuple[JSONValue, str, str]] = [
    (None, '{"input":null}', "73c92acd67f108f29ffc7b792c22978979900de72197dd828950c5c98456efb6"),
    ("world", '{"input":"world"}', "480a7e2fd8bbf7c73c8dffbeefbc2961b79fc68cf8717a3e0dc5995176881a2c"),
    ("", '{"input":""}', "f289c1b0488e4f044ff7bb621a38dcd4a9d9536ba21c6dca04bc5e507f5a73aa"),
    (0, '{"input":0}', "c8af5390f58ef586871fd7c0d57716127c5c5cd49fb1d0fb31e49e0c4e58d826"),
    (-0.0, '{"input":0}', "c8af5390f58ef586871fd7c0d57716127c5c5cd49fb1d0fb31e49e0c4e58d826"),
    (1, '{"input":1}', "44745faaac4f3c1540a8c2974578aea85c08bb89ee2caf3afd1a24f9724f280f"),
    (1.5, '{"input":1.5}', "507d34051aa5714dfc43fd74dd783b72e7d9d6a426e29b272599e02f4a05e352"),
    (0.1, '{"input":0.1}', "9b475ac0eb0cd759156303f73e01bd7f2f172ade1061b33d100dde25be725f6e"),
    (1e21, '{"input":1e+21}', "00f1bf01e053150eef1248f3b8b7a37cbdf88e887ac0663f9fedd1593bdced91"),
    (
        1.2345678901234568e20,
        '{"input":123456789012345680000}',
        "2310edde43d6fb865f2a7cbe1cbc6763fb07e1ba6c0f2a2e52b247bc46c5d60c",
    ),
    (1e-7, '{"input":1e-7}', "0cebf384e11431813e944658cc49241014e576e8885db04d993ed94fe666d964"),
    (2**53, '{"input":9007199254740992}', "f5bb5d91287462d683d76992fa70bbc5caa08874ad8bbfe0f6928276482c1d48"),
    (True, '{"input":true}', "d6a2137768e98a19b73dc2fe5821dd6046671b5e4d32732cf295820a3d6b9cf3"),
    ({}, '{"input":{}}', "2ee71518fa57cadce964961f1cf04d9ffb68f7016ee332a6d2ba8d5b4f825d24"),
    ([], '{"input":[]}', "124f3224d333f88449868a48866e07428a85d5bfca4360ea27eee73073ffb40d"),
    (
        {"b": 2, "a": 1},
        '{"input":{"a":1,"b":2}}',
        "7e916c4ebcfdd07c6e9d4f6e3393cf48452e66ba21017d4fc409f37bda4d5f6c",
    ),
    (
        [1, None, 3],
        '{"input":[1,null,3]}',
        "77ad312bd5b4a698460c0c8d5806fffa45db9f57e749c3369e97a4bfc48c3f03",
    ),
    (
        {"B": 1, "a": 2, "_": 3},
        '{"input":{"B":1,"_":3,"a":2}}',
        "fc0452e114af15423a73cf5e9388ade6bb8cbefb019ff15b00175c5c1d68c73d",
    ),
    (
        {"10": 1, "9": 2},
        '{"input":{"10":1,"9":2}}',
        "3470f1b092cbb3547e1dad2466f70784eab74f9be242f654f794022fbe1862aa",
    ),
    (
        {"cardId": "card-1"},
        '{"input":{"cardId":"card-1"}}',
        "117303a56a554aa9bd936b6b3b14b2d26847b42bc6ee5b8e075c0647517b8361",
    ),
    (
        {"id": "original"},
        '{"input":{"id":"original"}}',
        "574ac995c2a1f9c8a64bf2f9bd69022419327958242cd82c2e69ff001cc1b8d1",
    ),
    (
        {"item": "foo"},
        '{"input":{"item":"foo"}}',
        "e34343d4932ab9a3403e1a12928e5a9f8b821da1d206eef476a8acc0e3235cdf",
    ),
    ("é😀", '{"input":"é😀"}', "4b3795805ac640dde75b368bdb92c058cb81a949111028353a9d98ff8c00f27b"),
    (
        "line\nbreak\u0001",
        '{"input":"line\\nbreak\\u0001"}',
        "a511997bf5fee515d93ea0b772ed5654af17c918eb75ddb14b406062c7b354e0",
    ),
    (
        {"z": {"b": 2, "a": 1}, "arr": [{"d": 4, "c": 3}]},
        '{"input":{"arr":[{"c":3,"d":4}],"z":{"a":1,"b":2}}}',
        "cfdd2ccc95d525d903de917dde8c4978ddc8a47436f27a60d411749061ee0b03",
    ),
]


@pytest.mark.parametrize(("value", "text", "digest"), TYPESCRIPT_VECTORS)
def test_canonical_text_of_the_input_wrapper_matches_the_reference_vector(
    value: JSONValue, text: str, digest: str
) -> None:
    assert canonical_dumps({"input": value}) == text


@pytest.mark.parametrize(("value", "text", "digest"), TYPESCRIPT_VECTORS)
def test_hash_input_matches_the_reference_digest(value: JSONValue, text: str, digest: str) -> None:
    assert hash_input(value) == digest


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (1.2345678901234568e20, "123456789012345680000"),
        (1e-6, "0.000001"),
        (1.234e-6, "0.000001234"),
        (9.99e-7, "9.99e-7"),
        (1.23e-18, "1.23e-18"),
        (123.456, "123.456"),
        (-1.5, "-1.5"),
        (-1.5e300, "-1.5e+300"),
        (5e-324, "5e-324"),
        (1e16, "10000000000000000"),
    ],
)
def test_floats_are_written_as_ecmascript_number_to_string_writes_them(number: float, text: str) -> None:
    assert canonical_dumps(number) == text


def test_python_ints_beyond_two_to_the_53_are_written_in_full() -> None:
    assert canonical_dumps(2**64 + 1) == "18446744073709551617"


def test_booleans_are_written_as_json_booleans_not_integers() -> None:
    assert canonical_dumps([True, False, 1, 0]) == "[true,false,1,0]"


def test_keys_are_sorted_by_utf16_code_units_like_javascript() -> None:
    # By code point U+E000 comes before U+1F600; in UTF-16 the emoji starts with 0xD83D, so it comes first.
    assert canonical_dumps({"\ue000": 2, "😀": 1}) == '{"😀":1,"\ue000":2}'


def test_lone_surrogates_are_escaped_like_json_stringify() -> None:
    assert canonical_dumps("a\ud800") == '"a\\ud800"'


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_canonical_dumps_rejects_nan_and_infinity(number: float) -> None:
    with pytest.raises(SerializationError):
        canonical_dumps({"x": number})


def test_hash_input_is_the_sha256_of_the_utf8_wrapper_text() -> None:
    expected = hashlib.sha256('{"input":{"a":"é"}}'.encode()).hexdigest()
    assert hash_input({"a": "é"}) == expected


def test_plain_json_is_returned_as_the_same_object() -> None:
    value = {"items": [1, 2.5, "x", None, True, {"nested": []}]}
    assert to_jsonable(value, "input") is value


def test_tuples_become_lists() -> None:
    assert to_jsonable({"pair": (1, (2, 3))}, "input") == {"pair": [1, [2, 3]]}


def test_pydantic_models_are_dumped_in_json_mode() -> None:
    class Order(BaseModel):
        order_id: str
        tags: set[str]

    assert to_jsonable({"order": Order(order_id="o-1", tags={"a"})}, "input") == {
        "order": {"order_id": "o-1", "tags": ["a"]}
    }


def test_dataclass_instances_are_converted_field_by_field() -> None:
    @dataclasses.dataclass
    class Line:
        sku: str
        quantities: tuple[int, ...]

    assert to_jsonable(Line("s-1", (1, 2)), "input") == {"sku": "s-1", "quantities": [1, 2]}


def test_enum_members_become_their_values() -> None:
    class Colour(enum.Enum):
        RED = "red"

    assert to_jsonable([Colour.RED], "input") == ["red"]


def test_str_and_int_subclasses_become_plain_str_and_int() -> None:
    class Name(str):
        pass

    class Count(int):
        pass

    result = to_jsonable({Name("key"): [Name("n"), Count(3)]}, "input")
    assert result == {"key": ["n", 3]}
    assert isinstance(result, dict)
    items = result["key"]
    assert isinstance(items, list)
    assert [type(key) for key in result] == [str]
    assert [type(item) for item in items] == [str, int]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"items": [1, 2, {3}]}, 'value["items"][2] has the type set'),
        ({"blob": b"x"}, 'value["blob"] has the type bytes'),
        ([object()], "value[0] has the type object"),
        ({"a": {1: "x"}}, 'value["a"] has the key 1 of type int; keys must be strings'),
        ({"ratio": math.nan}, 'value["ratio"] is nan'),
        ([math.inf], "value[0] is inf"),
        ((-math.inf,), "value[0] is -inf"),
    ],
)
def test_values_that_are_not_json_are_rejected_naming_their_path_and_type(
    value: object, fragment: str
) -> None:
    with pytest.raises(SerializationError) as caught:
        to_jsonable(value, "input of task 'charge'")
    assert caught.value.what == "input of task 'charge'"
    assert fragment in caught.value.detail


def test_a_rejected_top_level_value_is_named_value() -> None:
    with pytest.raises(SerializationError, match="value has the type set"):
        to_jsonable({1, 2}, "input")


def test_a_list_that_contains_itself_is_rejected() -> None:
    looping: list[object] = []
    looping.append(looping)
    with pytest.raises(SerializationError, match="contains itself"):
        to_jsonable(looping, "input")


def test_dumps_writes_compact_text_with_non_ascii_kept() -> None:
    assert dumps({"b": [1, 2.5], "a": "é"}) == '{"b":[1,2.5],"a":"é"}'


def test_dumps_rejects_nan() -> None:
    with pytest.raises(SerializationError):
        dumps([math.nan])


def test_dumps_escapes_lone_surrogates_so_the_text_is_valid_utf8() -> None:
    text = dumps(["\udc00"])
    assert text.encode("utf-8") == b'["\\udc00"]'
    assert loads(text) == ["\udc00"]


def test_loads_reads_back_what_dumps_wrote() -> None:
    value: JSONValue = {"a": [1, 2.5, None, True, "é"], "b": {}}
    assert loads(dumps(value)) == value


def test_loads_of_none_is_none() -> None:
    assert loads(None) is None


def test_loads_rejects_nan_constants() -> None:
    with pytest.raises(SerializationError):
        loads(json.dumps([math.nan]))
