from __future__ import annotations
import pytest
from tests.conftest import Env
from tests.integration.test_deadline_loop import (  # noqa: F401
    EARLIER_DEADLINES, _far_sleeper, _loop_sleeps_toward, nap_v1, patient_fake_env,
)


@pytest.mark.parametrize("kind", list(EARLIER_DEADLINES))
async def test_probe(patient_fake_env: Env, kind: str) -> None:
    env = patient_fake_env
    await env.start_worker(nap_v1)
    await _far_sleeper(env)
    handle = await EARLIER_DEADLINES[kind](env)
    due_at_ms = env.clock.now_ms() + 50
    await _loop_sleeps_toward(env.server.runtime, due_at_ms)
    env.clock.advance(50)
    result = await handle.wait_for_status("completed", timeout={"seconds": 3})
    if not result.success:
        rt = env.server.runtime
        async with env.server.core.read() as c:
            rows = await c.fetch_all("SELECT id, status, due_at_ms, revision FROM runs")
        print("\nDIAG now", env.clock.now_ms(), "sleeping_until", rt._sleeping_until, "wake", rt._wake.is_set(),
              "task", rt._task, "sleepers", env.clock.sleeper_count, "rows", rows, "handle", handle.id,
              "next", await rt.next_deadline())
        print("timeline", await env.client.transport.get_timeline(handle.id))
        print("tick ->", await rt.tick())
        print((await handle.refresh()).status)
    assert result.success
