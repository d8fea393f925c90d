"""The dashboard on a server that requires an API key: nothing is shown before sign-in, a wrong key is told
so, the key lasts the tab's session, and sign-out forgets it."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import REFRESH_MS, BrowserErrors
from tests.e2e.processes import REPOSITORY, clean_environment, start_server


@dataclass
class KeyedServer:
    url: str
    secret: str
    run_id: str


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedServer]:
    folder = tmp_path_factory.mktemp("keyed")
    db = f"sqlite:///{folder}/aiki.db"
    created = subprocess.run(
        [sys.executable, "-m", "aiki.cli.main", "keys", "create", "--db", db, "--name", "dashboard"],
        cwd=REPOSITORY,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    secret = re.search(r"secret \(shown once, store it now\): (\S+)", created.stdout)
    assert created.returncode == 0 and secret, created.stdout + created.stderr
    process, url = start_server(db, folder / "server.log")
    try:
        started = httpx.post(
            f"{url}/api/v1/runs",
            headers={"Authorization": f"Bearer {secret[1]}"},
            json={"name": "nightly", "version_id": "1.0.0", "input": {}, "input_hash": "", "options": {}},
            timeout=10.0,
        )
        assert started.status_code == 200, started.text
        yield KeyedServer(url, secret[1], started.json()["id"])
    finally:
        process.stop()


def test_sign_in_shows_runs_only_with_a_valid_key_and_sign_out_forgets_it(
    page: Page, keyed: KeyedServer, browser_errors: BrowserErrors
) -> None:
    browser_errors.allow(r"status of 401")
    page.goto(f"{keyed.url}/?refresh_ms={REFRESH_MS}#/runs")

    form = page.get_by_role("form", name="Sign in")
    expect(form).to_be_visible()
    expect(page.locator("table")).to_have_count(0)
    form.get_by_label("API key").fill("not-a-key")
    form.get_by_role("button", name="Sign in").click()
    expect(form.get_by_role("alert")).to_contain_text("Unknown API key")
    expect(page.locator("table")).to_have_count(0)

    form.get_by_label("API key").fill(keyed.secret)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name=keyed.run_id)).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('aiki.apiKey')") == keyed.secret
    assert page.evaluate("localStorage.length") == 0
    page.reload()
    expect(page.get_by_role("link", name=keyed.run_id)).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("form", name="Sign in")).to_be_visible()
    expect(page.locator("table")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('aiki.apiKey')") is None
    expect(page.get_by_role("status")).to_have_text("Signed out: the API key is forgotten.")
