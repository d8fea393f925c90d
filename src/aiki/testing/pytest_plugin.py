"""The pytest plugin of aiki: the ``aiki_env`` fixture, an :func:`aiki.testing.environment` per test.

Registered through the ``pytest11`` entry point, so installing aiki is enough. A test says which workflows
its environment runs with the ``aiki`` marker, whose keywords are those of ``environment(...)``; on a
module (``pytestmark = pytest.mark.aiki(...)``) or a class it applies to every test inside, and the
marker closest to the test wins::

    @pytest.mark.aiki(workflows=[reminder_v1])
    async def test_the_follow_up_goes_out_three_days_later(aiki_env):
        handle = await reminder_v1.start(aiki_env.client, {"email": "a@b.c"})
        assert (await handle.wait_for_status("completed")).success

The fixture is async: it needs pytest-asyncio (or another plugin that runs async fixtures).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from aiki.testing.environment import Environment, environment

MARKER = "aiki"

#: the keywords of the marker: those of ``environment(...)``
MARKER_KEYWORDS = tuple(inspect.signature(environment).parameters)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(workflows=[...], **options): what the aiki_env fixture runs; the keywords of "
        f"aiki.testing.environment ({', '.join(MARKER_KEYWORDS)})",
    )


def _async_fixture() -> Callable[..., Any]:
    """pytest-asyncio's fixture decorator (it runs async fixtures in strict mode too), else pytest's own."""
    try:
        import pytest_asyncio
    except ImportError:
        return pytest.fixture
    fixture: Callable[..., Any] = pytest_asyncio.fixture
    return fixture


def environment_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The keywords of the ``aiki`` marker closest to the requesting test, checked."""
    node = request.node
    marker = node.get_closest_marker(MARKER)
    example = "@pytest.mark.aiki(workflows=[order_v1])"
    if marker is None:
        pytest.fail(
            f"{node.nodeid} uses the aiki_env fixture but says no workflows: mark the test (or its module, "
            f"with pytestmark = ...) with {example}.",
            pytrace=False,
        )
    if marker.args:
        pytest.fail(
            f"{node.nodeid}: the aiki marker takes keywords only, got positional {marker.args!r}: write {example}.",
            pytrace=False,
        )
    unknown = sorted(set(marker.kwargs) - set(MARKER_KEYWORDS))
    if unknown:
        pytest.fail(
            f"{node.nodeid}: the aiki marker does not know {', '.join(unknown)}; its keywords are those of "
            f"aiki.testing.environment: {', '.join(MARKER_KEYWORDS)}.",
            pytrace=False,
        )
    if "workflows" not in marker.kwargs:
        raise pytest.UsageError(f"{node.nodeid}: the aiki marker needs workflows=[...]: write {example}.")
    return dict(marker.kwargs)


@_async_fixture()
async def aiki_env(request: pytest.FixtureRequest) -> AsyncIterator[Environment]:
    """An ``aiki.testing.environment`` of the workflows the test's ``aiki`` marker names."""
    async with environment(**environment_options(request)) as env:
        yield env
