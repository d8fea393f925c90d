"""Schemas: validators built from pydantic models, adapters, parse/model_validate objects and callables."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, TypeAdapter

from aiki.definitions.schema import SchemaPair, make_validator, parse_schema
from aiki.errors import ConfigurationError, SchemaValidationError


class Line(BaseModel):
    sku: str
    quantity: int


class Order(BaseModel):
    order_id: str
    lines: list[Line]


class ParsesAndValidates:
    """Has both methods: ``parse`` must win."""

    def parse(self, data: object) -> str:
        return f"parse:{data}"

    def model_validate(self, data: object) -> str:
        return f"model_validate:{data}"


class ModelValidateOnly:
    def model_validate(self, data: object) -> str:
        return f"model_validate:{data}"


class CallableWithParse:
    """Callable, but ``parse`` comes first."""

    def parse(self, data: object) -> str:
        return f"parse:{data}"

    def __call__(self, data: object) -> str:
        return f"call:{data}"


def test_a_pydantic_model_class_returns_a_model_instance() -> None:
    validate = make_validator(Line, "input of task 'pick'")
    assert validate({"sku": "s-1", "quantity": "2"}) == Line(sku="s-1", quantity=2)


def test_a_type_adapter_validates_with_validate_python() -> None:
    validate = make_validator(TypeAdapter(list[int]), "input of task 'sum'")
    assert validate(["1", 2]) == [1, 2]


def test_an_object_with_parse_is_used_before_its_model_validate() -> None:
    assert make_validator(ParsesAndValidates(), "input")(1) == "parse:1"


def test_an_object_with_model_validate_is_used() -> None:
    assert make_validator(ModelValidateOnly(), "input")(1) == "model_validate:1"


def test_parse_is_used_before_calling_the_object() -> None:
    assert make_validator(CallableWithParse(), "input")(1) == "parse:1"


def test_a_plain_callable_is_called_with_the_value() -> None:
    assert make_validator(lambda data: {"seen": data}, "input")(5) == {"seen": 5}


@pytest.mark.parametrize("spec", [42, "Order", None])
def test_a_schema_that_cannot_validate_is_a_configuration_error_saying_what_is_accepted(spec: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_validator(spec, "input of task 'charge'")
    message = str(caught.value)
    assert "input of task 'charge'" in message
    assert "pydantic model class, a pydantic TypeAdapter" in message
    assert "callable" in message


def test_a_pydantic_error_names_the_dotted_path_of_the_first_failing_field() -> None:
    validate = make_validator(Order, "input of workflow 'order'")
    with pytest.raises(SchemaValidationError) as caught:
        validate({"order_id": "o-1", "lines": [{"sku": "s", "quantity": "many"}]})
    assert caught.value.what == "input of workflow 'order'"
    assert caught.value.field == "lines.0.quantity"


def test_a_pydantic_error_lists_every_error() -> None:
    validate = make_validator(Order, "input")
    with pytest.raises(SchemaValidationError) as caught:
        validate({"lines": [{"sku": "s", "quantity": "many"}]})
    assert caught.value.detail == (
        "2 errors: order_id: Field required; "
        "lines.0.quantity: Input should be a valid integer, unable to parse string as an integer"
    )


def test_a_pydantic_error_without_a_location_has_no_field() -> None:
    validate = make_validator(TypeAdapter(int), "output")
    with pytest.raises(SchemaValidationError) as caught:
        validate("x")
    assert caught.value.field is None
    assert caught.value.detail.startswith("1 error: Input should be a valid integer")


def test_any_other_exception_becomes_a_schema_validation_error_with_its_message() -> None:
    def positive(data: object) -> object:
        raise ValueError("must be positive")

    with pytest.raises(SchemaValidationError) as caught:
        make_validator(positive, "output of task 'count'")(-1)
    assert str(caught.value) == "Invalid output of task 'count': must be positive"
    assert isinstance(caught.value.__cause__, ValueError)


def test_an_exception_without_a_message_is_described_by_its_type() -> None:
    def refuse(data: object) -> object:
        raise KeyError

    with pytest.raises(SchemaValidationError, match="KeyError"):
        make_validator(refuse, "input")({})


def test_a_schema_validation_error_from_the_validator_passes_through_unchanged() -> None:
    original = SchemaValidationError("input", "custom", "a.b")

    def refuse(data: object) -> object:
        raise original

    with pytest.raises(SchemaValidationError) as caught:
        make_validator(refuse, "output")({})
    assert caught.value is original


def test_no_schema_means_no_validators() -> None:
    assert parse_schema(None, "task 'x'") == SchemaPair(input=None, output=None)


def test_a_schema_may_give_only_an_input() -> None:
    pair = parse_schema({"input": Line}, "task 'x'")
    assert pair.input is not None
    assert pair.output is None


def test_parse_schema_names_the_validators_after_the_owner() -> None:
    pair = parse_schema({"input": Line, "output": Line}, "task 'pick'")
    assert pair.output is not None
    with pytest.raises(SchemaValidationError) as caught:
        pair.output({})
    assert caught.value.what == "output of task 'pick'"


def test_an_unknown_schema_key_is_a_configuration_error_naming_it() -> None:
    with pytest.raises(ConfigurationError, match="task 'x' has the unknown key 'inputs'"):
        parse_schema({"inputs": Line}, "task 'x'")


def test_a_schema_that_is_not_a_mapping_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="must be a mapping"):
        parse_schema(Line, "task 'x'")  # type: ignore[arg-type]  # the wrong type is the point
