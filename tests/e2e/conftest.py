"""Fixtures of the dashboard's browser tests: a seeded ``aiki server`` with an ``aiki worker``, and pages of
Debian's Chromium driven by Playwright, which fail the test on any console error and leave a screenshot in
``tests/e2e/screenshots/``."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.processes import REPOSITORY, AikiProcess, clean_environment, start_aiki, start_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Page

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"
#: Playwright's auto-waiting assertions wait this long (a loaded CI machine with 2 cores)
EXPECT_TIMEOUT_MS = 15_000
#: the dashboard's live update period in the tests (the page's ``?refresh_ms=``)
REFRESH_MS = 400


@dataclass
class Dashboard:
    """A seeded server with a live worker: its URL, the seeded ids, and an HTTP client of its API."""

    url: str
    ids: dict[str, str]
    db: str

    def page_url(self, fragment: str = "/runs") -> str:
        return f"{self.url}/?refresh_ms={REFRESH_MS}#{fragment}"

    def api(self, method: str, path: str, **options: object) -> httpx.Response:
        return httpx.request(method, f"{self.url}/api/v1{path}", timeout=10.0, **options)  # type: ignore[arg-type]

    def run(self, run_id: str) -> dict[str, object]:
        response = self.api("GET", f"/runs/{run_id}")
        assert response.status_code == 200, response.text
        found: dict[str, object] = response.json()
        return found

    def runs(self, **query: str | int) -> list[dict[str, object]]:
        response = self.api("GET", "/runs", params=query)
        assert response.status_code == 200, response.text
        runs: list[dict[str, object]] = response.json()["runs"]
        return runs


def seed_database(db: str) -> dict[str, str]:
    """Seed ``db`` in a process of its own (``python -m tests.e2e.dashboard_workflows``); the ids by name."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.e2e.dashboard_workflows", db],
        cwd=REPOSITORY,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(line.split(" ", 1) for line in done.stdout.strip().splitlines())


@pytest.fixture(scope="session")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """``aiki server`` on a seeded SQLite database, and ``aiki worker`` serving ``SERVED`` (not ``backlog``)."""
    folder = tmp_path_factory.mktemp("dashboard")
    db = f"sqlite:///{folder}/aiki.db"
    ids = seed_database(db)
    server, url = start_server(db, folder / "server.log")
    worker: AikiProcess | None = None
    try:
        worker = start_aiki(
            ["worker", "tests.e2e.dashboard_workflows:SERVED", "--url", url, "--poll-interval-ms", "100"],
            folder / "worker.log",
        )
        yield Dashboard(url, ids, db)
    finally:
        if worker is not None:
            worker.stop()
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium (``apt-get install chromium``; ``scripts/browser.sh`` installs it), headless."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"The dashboard's browser tests need Chromium at {CHROMIUM}: run `bash scripts/browser.sh` "
            "(apt-get install chromium) and try again.",
            pytrace=False,
        )
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class BrowserErrors:
    """Console errors and uncaught exceptions of a page; ``allow`` the ones a test provokes on purpose."""

    seen: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [text for text in self.seen if not any(pattern.search(text) for pattern in self.allowed)]


@pytest.fixture
def browser_errors() -> BrowserErrors:
    return BrowserErrors()


def open_page(
    browser: Browser, errors: BrowserErrors, request: pytest.FixtureRequest, width: int = 1280
) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": width, "height": 900}, locale="en-GB", timezone_id="Europe/Paris"
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.seen.append(f"console: {message.text} ({message.location.get('url', '')})")

    def on_page_error(error: Error) -> None:
        errors.seen.append(f"page error: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    try:
        yield page
    finally:
        SCREENSHOTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        context.close()
    assert not errors.unexpected(), errors.unexpected()


@pytest.fixture
def page(browser: Browser, browser_errors: BrowserErrors, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A 1280 px wide page (en-GB, Europe/Paris); fails the test on a console error; a screenshot at the end."""
    yield from open_page(browser, browser_errors, request)


@pytest.fixture
def narrow_page(
    browser: Browser, browser_errors: BrowserErrors, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A 400 px wide page, like ``page``."""
    yield from open_page(browser, browser_errors, request, width=400)
