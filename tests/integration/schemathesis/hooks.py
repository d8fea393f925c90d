"""Schemathesis hooks for ``test_api_schema_fuzzing``: long polls wait briefly, so that every example
finishes in milliseconds (their waits are tested elsewhere; here only their answers matter)."""

from __future__ import annotations

from typing import Any

import schemathesis

#: the longest wait a generated long poll may ask for
SHORT_WAIT_MS = 50


@schemathesis.hook
def before_call(context: Any, case: Any, **_kwargs: Any) -> None:
    if isinstance(case.query, dict) and case.operation.path.endswith("/wait"):
        timeout = case.query.get("timeout_ms")
        if not isinstance(timeout, int) or timeout > SHORT_WAIT_MS:
            case.query["timeout_ms"] = SHORT_WAIT_MS
    if isinstance(case.body, dict) and case.operation.path.endswith("/worker/claim"):
        wait = case.body.get("wait_ms")
        if isinstance(wait, int) and wait > SHORT_WAIT_MS:
            case.body["wait_ms"] = SHORT_WAIT_MS
