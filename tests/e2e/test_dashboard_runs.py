"""The dashboard's runs list in Chromium: count, cursor pages kept in the URL, filters, status counts, bulk
actions, live updates that keep what the user reads, keyboard use and a 400 px screen."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Dashboard

ROWS = "table.runs tbody tr[data-run-id]"
#: the en dash of the dashboard's ranges ("showing 1\u201350")
TO = "\u2013"


def first_row_id(page: Page) -> str:
    run_id = page.locator(ROWS).first.get_attribute("data-run-id")
    assert run_id
    return run_id


def test_the_list_shows_the_total_and_pages_with_cursors_kept_in_the_url(
    page: Page, dashboard: Dashboard
) -> None:
    total = dashboard.api("GET", "/runs/count").json()["count"]
    page.goto(dashboard.page_url("/runs"))

    expect(page.locator("#runs-summary")).to_have_text(f"{total:,} runs match · showing 1{TO}50")
    expect(page.locator(ROWS)).to_have_count(50)
    first_page_top = first_row_id(page)

    page.get_by_role("link", name="Older →").click()
    expect(page).to_have_url(re.compile(r"#/runs\?pages=[\w-]+$"))
    expect(page.locator("#runs-summary")).to_contain_text(f"showing 51{TO}100")
    expect(page.locator("#page-number")).to_have_text("Page 2")
    second_page_top = first_row_id(page)
    assert second_page_top != first_page_top
    page.get_by_role("link", name="Older →").click()
    expect(page.locator("#page-number")).to_have_text("Page 3")

    page.reload()
    expect(page.locator("#runs-summary")).to_contain_text(f"showing 101{TO}150")
    page.get_by_role("link", name="← Newer").click()
    expect(page.locator("#page-number")).to_have_text("Page 2")
    expect(page.locator(ROWS).first).to_have_attribute("data-run-id", second_page_top)
    page.get_by_role("link", name="← Newer").click()
    expect(page.locator(ROWS).first).to_have_attribute("data-run-id", first_page_top)
    expect(page.get_by_role("link", name="← Newer")).to_be_hidden()


def test_filters_by_statuses_with_the_error_column_and_by_workflow_and_version_from_the_stats(
    page: Page, dashboard: Dashboard
) -> None:
    page.goto(dashboard.page_url("/runs"))
    page.get_by_text("Status: any").click()
    page.get_by_role("checkbox", name="failed", exact=True).check()
    page.get_by_role("checkbox", name="stalled", exact=True).check()
    page.get_by_text("Status: stalled, failed").click()

    expect(page).to_have_url(re.compile(r"status=stalled%2Cfailed"))
    matching = dashboard.api("GET", "/runs/count", params={"status": "stalled,failed"}).json()["count"]
    expect(page.locator(ROWS)).to_have_count(matching)
    failed = page.locator(f'tr[data-run-id="{dashboard.ids["failed"]}"]')
    expect(failed.locator("td.error-cell")).to_have_text("ValueError: card declined for 42")
    for status in page.locator(ROWS).evaluate_all("rows => rows.map(row => row.dataset.status)"):
        assert status in ("failed", "stalled")

    page.get_by_label("Workflow", exact=True).select_option("billing")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator("#runs-summary")).to_contain_text("1 run match")
    expect(page.get_by_label("Version", exact=True)).to_be_enabled()
    page.get_by_label("Version", exact=True).select_option("1.0.0")
    expect(page).to_have_url(re.compile(r"workflow=billing&version=1\.0\.0"))

    page.get_by_role("link", name="Clear").click()
    expect(page.locator("#runs-summary")).to_contain_text(f"showing 1{TO}50")


def test_finds_a_run_by_reference_id_or_run_id_and_filters_by_created_time(
    page: Page, dashboard: Dashboard
) -> None:
    page.goto(dashboard.page_url("/runs"))
    search = page.get_by_label("Reference id or run id")
    search.fill("order-7")
    search.press("Enter")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS).first).to_have_attribute("data-run-id", dashboard.ids["awaiting_event_2"])

    page.get_by_label("Reference id or run id").fill(dashboard.ids["failed"])
    page.get_by_label("Reference id or run id").press("Enter")
    expect(page).to_have_url(re.compile(f"#/runs/{dashboard.ids['failed']}$"))

    page.goto(dashboard.page_url("/runs"))
    page.get_by_label(re.compile("Created from")).fill("2999-01-01T00:00")
    expect(page).to_have_url(re.compile(r"after=\d+"))
    expect(page.locator("#runs-summary")).to_have_text("0 runs match · none on this page")
    expect(page.get_by_text("No run matches these filters.")).to_be_visible()


def test_status_counts_per_workflow_link_to_the_filtered_list(page: Page, dashboard: Dashboard) -> None:
    page.goto(dashboard.page_url("/runs?workflow=approval"))
    counts = page.get_by_label("Runs by status")
    expect(counts).to_contain_text("By status, approval:")

    counts.get_by_role("link", name=re.compile("awaiting event")).click()
    expect(page).to_have_url(re.compile(r"status=awaiting_event&workflow=approval"))
    expect(page.locator(ROWS).first).to_have_attribute("data-status", "awaiting_event")


def test_bulk_cancel_of_selected_rows_asks_for_a_reason_and_reports_the_outcome(
    page: Page, dashboard: Dashboard
) -> None:
    page.goto(dashboard.page_url("/runs?status=queued&workflow=backlog"))
    rows = page.locator(ROWS)
    expect(rows).to_have_count(50)
    chosen = [rows.nth(index).get_attribute("data-run-id") or "" for index in (3, 4)]
    for run_id in chosen:
        page.get_by_role("checkbox", name=f"Select run {run_id}").check()
    expect(page.locator("#selection-note")).to_have_text("2 selected")

    page.get_by_role("button", name="Cancel selected…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Cancel 2 runs?")
    dialog.get_by_label("Reason (optional)").fill("duplicate import")
    dialog.get_by_role("button", name="Cancel 2").click()

    expect(page.get_by_role("status")).to_have_text("Cancel: 2 done, 0 skipped.")
    expect(dialog).to_be_hidden()
    expect(page.locator("#selection-note")).to_have_text("")
    for run_id in chosen:
        assert dashboard.run(run_id)["state"] == {"status": "cancelled", "reason": "duplicate import"}
        expect(page.locator(f'tr[data-run-id="{run_id}"]')).to_have_count(0)


def test_live_updates_show_new_runs_but_never_redraw_unchanged_rows_nor_under_a_selection(
    page: Page, dashboard: Dashboard
) -> None:
    page.goto(dashboard.page_url("/runs?workflow=greeting"))
    expect(page.locator(ROWS).first).to_be_visible()
    page.locator(ROWS).first.evaluate("row => { row.dataset.marked = 'yes'; }")
    refreshes = int(page.locator("body").get_attribute("data-refreshes") or "0")
    expect(page.locator("body")).to_have_attribute("data-refreshes", str(refreshes + 2))
    expect(page.locator(f"{ROWS}[data-marked=yes]")).to_have_count(1)

    # While the user selects text, live updates wait, and say so.
    page.locator(ROWS).first.locator("td").nth(2).evaluate("cell => getSelection().selectAllChildren(cell)")
    expect(page.locator("#live")).to_have_attribute("data-state", "paused")
    started = dashboard.api(
        "POST",
        "/runs",
        json={
            "name": "greeting",
            "version_id": "1.0.0",
            "input": {"name": "live"},
            "input_hash": "",
            "options": {},
        },
    )
    assert started.status_code == 200, started.text
    new_id = started.json()["id"]
    expect(page.locator(f"{ROWS}[data-marked=yes]")).to_have_count(1)

    page.evaluate("getSelection().removeAllRanges()")
    expect(page.locator(ROWS).first).to_have_attribute("data-run-id", new_id)
    expect(page.locator("#live")).to_have_attribute("data-state", "on")


def test_a_run_opened_from_low_in_the_list_starts_at_the_top_of_its_page(
    page: Page, dashboard: Dashboard
) -> None:
    page.goto(dashboard.page_url("/runs"))
    low = page.locator(ROWS).nth(45).get_by_role("link")
    run_id = low.inner_text()
    low.focus()
    assert page.evaluate("scrollY") > 500
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(f"#/runs/{run_id}$"))
    expect(page.locator("#view")).to_be_focused()
    assert page.evaluate("scrollY") == 0
    expect(page.locator("h1")).to_contain_text(run_id)

    page.go_back()
    row = page.locator(ROWS).nth(3)
    clicked = row.get_attribute("data-run-id")
    row.locator("td").nth(2).click()
    expect(page).to_have_url(re.compile(f"#/runs/{clicked}$"))


def test_rows_and_actions_are_reachable_from_the_keyboard(page: Page, dashboard: Dashboard) -> None:
    page.goto(dashboard.page_url("/runs?ref=invoice-2026-001"))
    link = page.get_by_role("link", name=dashboard.ids["queued"])
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"#/runs/{dashboard.ids['queued']}$"))

    pause = page.get_by_role("button", name="Pause…")
    pause.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert dashboard.run(dashboard.ids["queued"])["state"] == {"status": "queued", "reason": "new"}


def test_at_400_px_the_page_never_scrolls_sideways(narrow_page: Page, dashboard: Dashboard) -> None:
    page = narrow_page
    for fragment, ready in (
        ("/runs", page.locator(ROWS).first),
        (f"/runs/{dashboard.ids['failed']}", page.locator("pre.traceback")),
        (f"/runs/{dashboard.ids['retried']}", page.locator(".wf-bar").first),
        ("/workflows", page.locator("tr[data-workflow]").first),
        ("/schedules", page.locator("tr[data-schedule-id]").first),
    ):
        page.goto(dashboard.page_url(fragment))
        expect(ready).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 400, fragment
    page.goto(dashboard.page_url("/runs"))
    expect(page.locator(ROWS).first).to_be_visible()
    box = page.get_by_role("region", name="Runs")
    assert box.evaluate("node => node.scrollWidth > node.clientWidth")


def test_an_event_is_sent_to_selected_rows_at_once(page: Page, dashboard: Dashboard) -> None:
    started = [
        dashboard.api(
            "POST",
            "/runs",
            json={
                "name": "approval",
                "version_id": "1.0.0",
                "input": {"n": n},
                "input_hash": "",
                "options": {},
            },
        ).json()["id"]
        for n in range(2)
    ]
    page.goto(dashboard.page_url("/runs?status=awaiting_event&workflow=approval"))
    for run_id in started:
        page.locator(f'tr[data-run-id="{run_id}"]').get_by_role("checkbox").check()

    page.get_by_role("button", name="Send event to selected…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("To 2 runs (all or none).")
    dialog.get_by_label("Event name").fill("approved")
    dialog.get_by_label("Data (JSON)").fill('{"batch": true}')
    dialog.get_by_role("button", name="Send").click()

    expect(page.get_by_role("status")).to_have_text("Event 'approved' sent to 2 runs.")
    for run_id in started:
        # Delivered: the run no longer awaits the event, so it leaves this filtered list.
        expect(page.locator(f'tr[data-run-id="{run_id}"]')).to_have_count(0)
