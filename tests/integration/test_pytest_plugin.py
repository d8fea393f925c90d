"""The ``aiki_env`` fixture of the pytest plugin: the ``aiki`` marker says what it runs (closest marker wins),
and a test that forgets the marker is told how to write it."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import pytest

from aiki import RunStatus, workflow
from aiki.testing import Environment

pytestmark = pytest.mark.aiki(workflows=[])

PATIENCE = {"seconds": 30}

reminder = workflow(name="plugin-reminder")


@reminder.v("1.0.0")
async def reminder_v1(run: Any) -> str:
    await run.sleep("until-the-follow-up", {"days": 3})
    return "followed up"


def test_installing_aiki_registers_the_plugin_with_pytest() -> None:
    plugins = {entry.name: entry.value for entry in entry_points(group="pytest11")}

    assert plugins["aiki"] == "aiki.testing.pytest_plugin"


@pytest.mark.aiki(workflows=[reminder_v1])
async def test_the_marked_workflows_run_in_the_fixture_environment(aiki_env: Environment) -> None:
    handle = await reminder_v1.start(aiki_env.client)

    result = await handle.wait_for_status("completed", timeout=PATIENCE)

    assert result.output == "followed up"
    assert aiki_env.time_skipping


@pytest.mark.aiki(workflows=[reminder_v1], time_skipping=False)
async def test_the_marker_passes_its_keywords_to_the_environment(aiki_env: Environment) -> None:
    handle = await reminder_v1.start(aiki_env.client)
    await aiki_env.run_until_idle()

    assert not aiki_env.time_skipping
    assert (await handle.refresh()).status is RunStatus.SLEEPING


async def test_a_module_marker_applies_when_the_test_has_none(aiki_env: Environment) -> None:
    assert aiki_env.worker.worker.registry == {}


USAGE_CASES = {
    "no marker": ("", "says no workflows: mark the test"),
    "positional": ("@pytest.mark.aiki([])", "takes keywords only"),
    "unknown keyword": ("@pytest.mark.aiki(workflows=[], workers=2)", "does not know workers"),
    "no workflows": ("@pytest.mark.aiki(time_skipping=False)", "the aiki marker needs workflows="),
}


@pytest.mark.parametrize("case", list(USAGE_CASES))
def test_a_wrongly_marked_test_is_told_how_to_mark_it(pytester: pytest.Pytester, case: str) -> None:
    marker, message = USAGE_CASES[case]
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        f"""
        import pytest

        {marker}
        async def test_it(aiki_env):
            pass
        """
    )

    result = pytester.runpytest_subprocess()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{message}*"])
