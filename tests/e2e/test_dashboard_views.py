"""The dashboard's workflows, schedules and workers views in Chromium."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Dashboard


def test_workflows_show_counts_by_status_and_whether_a_live_worker_serves_each_version(
    page: Page, dashboard: Dashboard
) -> None:
    page.goto(dashboard.page_url("/workflows"))

    expect(page.locator('tr[data-workflow="greeting@1.0.0"]')).to_contain_text("✓ served")
    backlog = page.locator('tr[data-workflow="backlog@1.0.0"]')
    expect(backlog).to_contain_text("✗ no worker")
    expect(page.locator('tr[data-workflow="billing@1.0.0"]')).to_contain_text("1")

    page.locator('tr[data-workflow="billing@1.0.0"]').get_by_role("link").last.click()
    expect(page).to_have_url(re.compile(r"#/runs\?(status=failed&)?workflow=billing&version=1\.0\.0"))
    expect(page.locator("table.runs tbody tr[data-run-id]")).to_have_count(1)


def test_schedules_show_the_next_fire_time_and_pause_resume_and_deactivate(
    page: Page, dashboard: Dashboard
) -> None:
    schedule_id = dashboard.ids["schedule"]
    page.goto(dashboard.page_url("/schedules"))
    row = page.locator(f'tr[data-schedule-id="{schedule_id}"]')
    expect(row).to_contain_text("every 1 h 0 min")
    expect(row.locator("time")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CET$"))

    for action, status in (("Pause", "paused"), ("Resume", "active"), ("Deactivate", "inactive")):
        row.get_by_role("button", name=f"{action}…").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(f"{action} schedule {schedule_id}?")
        dialog.get_by_role("button", name=action, exact=True).click()
        expect(page.get_by_role("status")).to_have_text(f"{action}: schedule {schedule_id} is now {status}.")
        expect(row.locator(".badge")).to_have_text(status)
    expect(row.get_by_role("button")).to_have_count(0)


def test_workers_show_their_versions_shards_and_load(page: Page, dashboard: Dashboard) -> None:
    page.goto(dashboard.page_url("/workers"))

    workers = page.get_by_role("region", name="Live workers")
    expect(workers.locator("tbody tr")).to_have_count(1)
    expect(workers).to_contain_text("greeting@1.0.0")
    expect(workers).to_contain_text("family@1.0.0")
    expect(workers).not_to_contain_text("backlog@1.0.0")
    expect(workers.locator("tbody td").nth(3)).to_have_text("all")
    expect(workers.get_by_role("meter")).to_have_attribute("aria-label", re.compile(r"^\d+ of \d+ runs$"))
