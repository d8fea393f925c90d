"""The audit every integration test ends with (``tests/conftest.py``) does catch a status change that the
state machine forbids."""

from __future__ import annotations

import pytest

from aiki import database
from tests.conftest import assert_every_transition_allowed


async def test_the_transition_audit_refuses_an_edge_the_state_machine_lacks(db_url: str) -> None:
    db = database(db_url)
    await db.open(migrate=True)
    try:
        async with db.transaction() as connection:
            await connection._execute(
                "INSERT INTO transitions (run_id, revision, attempt, from_status, to_status, reason, state, "
                "created_at_ms) VALUES ('r', 1, 1, 'completed', 'running', 'claimed', '{}', 0)"
            )
    finally:
        await db.close()

    with pytest.raises(AssertionError, match="'completed', 'running', 'claimed'"):
        await assert_every_transition_allowed(db_url)
