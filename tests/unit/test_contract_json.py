"""JSON forms of contract values: what encodes comes back equal, and malformed JSON is an
``InvalidRequestError`` naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from aiki.contract import ClaimedRun, ClaimRequest, ParentLink, RunOutcome, StartRequest, TaskWrite
from aiki.contract.codec import MAX_SAFE_INTEGER, check_text, decode, encode
from aiki.errors import InvalidRequestError
from aiki.types import RunHistory, RunState, RunStatus, SleepEntry, TaskEntry, Transition, WorkflowRun

RUN = WorkflowRun(
    id="r1",
    name="order",
    version_id="1.0.0",
    input={"items": [1, 2.5, "x", None, True]},
    input_hash="h",
    state=RunState(
        RunStatus.PAUSED,
        reason="paused",
        previous=RunState(RunStatus.SLEEPING, sleep_name="nap", wake_at_ms=5, index=0),
    ),
    revision=3,
    attempts=1,
    options={"retry": {"type": "never"}},
    created_at_ms=1,
    updated_at_ms=2,
    shard="eu",
    namespace="acme",
)


@pytest.mark.parametrize(
    "value",
    [
        RUN,
        StartRequest(
            "order",
            "1.0.0",
            {"a": 1},
            "h",
            {},
            reference_id="r",
            delay_ms=5,
            parent=ParentLink("p", "t", "addr", 2),
        ),
        ClaimRequest("w", [("order", "1.0.0"), ("other", "2")], ["eu"], 3, wait_ms=100),
        TaskWrite(
            "r1",
            "t",
            "charge",
            "charge:h",
            0,
            "awaiting_retry",
            2,
            input={"n": 1},
            error={"message": "x"},
            retry_delay_ms=10,
        ),
        RunOutcome("r1", "t", 3, "sleep", name="nap", duration_ms=10, index=0),
        ClaimedRun(
            RUN,
            RunHistory(
                tasks=[TaskEntry("charge", "charge:h", 0, "completed", 1, output=[1])],
                sleeps=[SleepEntry("nap", 0, "sleeping", 10, 1, 11)],
            ),
            "token",
        ),
        Transition(1, 1, "queued", "running", "claimed", {"status": "running"}, 7),
    ],
)
def test_a_value_decodes_back_equal_to_what_was_encoded(value: Any) -> None:
    assert decode(type(value), encode(value)) == value


def test_a_missing_required_field_is_named() -> None:
    with pytest.raises(InvalidRequestError, match=r"\(field 'worker_id'\): is required") as raised:
        decode(ClaimRequest, {"workflows": [], "shards": None, "limit": 1})
    assert raised.value.field == "worker_id"


def test_a_nested_field_of_the_wrong_type_is_named_by_its_path() -> None:
    data = {
        "name": "a",
        "version_id": "1",
        "input": None,
        "input_hash": "h",
        "options": {},
        "parent": {"run_id": "p", "claim_token": "t", "address": "a", "occurrence": "2"},
    }
    with pytest.raises(InvalidRequestError, match="must be an integer") as raised:
        decode(StartRequest, data)
    assert raised.value.field == "parent.occurrence"


def test_a_list_item_of_the_wrong_shape_is_named_by_its_index() -> None:
    data = {"worker_id": "w", "workflows": [["a", "1"], ["b"]], "shards": None, "limit": 1}
    with pytest.raises(InvalidRequestError, match="must be a list of 2 items") as raised:
        decode(ClaimRequest, data)
    assert raised.value.field == "workflows[1]"


def test_a_literal_field_lists_the_allowed_values() -> None:
    with pytest.raises(InvalidRequestError, match="must be one of 'sleep', 'event_wait'"):
        decode(RunOutcome, {"run_id": "r", "claim_token": "t", "expected_revision": 0, "kind": "nap"})


def test_unknown_fields_are_refused_in_requests_and_ignored_in_answers() -> None:
    data = {"worker_id": "w", "workflows": [], "shards": None, "limit": 1, "priority": 5}
    with pytest.raises(InvalidRequestError, match="unknown field"):
        decode(ClaimRequest, data)
    assert decode(ClaimRequest, data, allow_unknown=True).limit == 1


@pytest.mark.parametrize("number", [True, 1.5, MAX_SAFE_INTEGER + 1, -(2**63)])
def test_an_integer_field_refuses_booleans_fractions_and_unsafe_integers(number: Any) -> None:
    with pytest.raises(InvalidRequestError):
        decode(ClaimRequest, {"worker_id": "w", "workflows": [], "shards": None, "limit": number})


def test_an_integer_field_takes_a_number_written_with_a_zero_fraction() -> None:
    """JSON has one number type: 3.0 is the integer 3 (JSON Schema counts it as an integer too)."""
    decoded = decode(ClaimRequest, {"worker_id": "w", "workflows": [], "shards": None, "limit": 3.0})
    assert decoded.limit == 3 and type(decoded.limit) is int


@pytest.mark.parametrize("text", ["a\x00b", "\ud800", "x\udfff"])
def test_text_that_no_database_can_store_is_refused(text: str) -> None:
    with pytest.raises(InvalidRequestError, match="NUL characters or unpaired surrogates"):
        check_text(text, "name")


def test_an_unknown_run_status_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="must be one of 'scheduled'"):
        decode(RunState, {"status": "napping"})
