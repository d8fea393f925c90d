"""The dashboard's run page in Chromium: the error with its whole traceback, tasks and their attempts, the
waterfall, the tree of children with links both ways, local times with their zone, and every action on a
run (confirmed in a dialog, its outcome announced), sending an event included."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import BrowserErrors, Dashboard

#: a time as the dashboard writes it in Europe/Paris in December
LOCAL_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CET$")


def test_a_failed_run_shows_its_error_and_whole_traceback_wrapped_in_its_box(
    page: Page, dashboard: Dashboard
) -> None:
    page.goto(dashboard.page_url(f"/runs/{dashboard.ids['failed']}"))

    traceback = page.get_by_label("Traceback")
    expect(traceback).to_contain_text("Traceback (most recent call last)")
    expect(traceback).to_contain_text('raise ValueError(f"card declined for {amount}")')
    expect(page.locator(".error-title")).to_have_text("ValueError: card declined for 42 (task charge)")
    assert traceback.evaluate("node => node.scrollWidth <= node.clientWidth")
    page.get_by_role("button", name="Copy error").click()
    expect(page.get_by_role("status")).to_have_text("Error copied.")
    assert "card declined for 42" in page.evaluate("navigator.clipboard.readText()")

    tasks = page.get_by_role("region", name="Tasks", exact=True)
    expect(tasks).to_contain_text("charge")
    expect(tasks).to_contain_text("1 of 1")
    expect(tasks.locator("time").first).to_have_text(LOCAL_TIME)
    expect(page.locator("#run-output")).to_be_hidden()
    expect(page.locator("#run-input")).to_contain_text('"amount": 42')
    expect(page.locator("#run-timeline tbody tr")).to_have_count(3)
    expect(page.get_by_role("group", name="Actions").get_by_role("button")).to_have_count(0)


def test_the_waterfall_has_a_bar_per_task_attempt_sleep_and_wait(page: Page, dashboard: Dashboard) -> None:
    page.goto(dashboard.page_url(f"/runs/{dashboard.ids['retried']}"))

    waterfall = page.get_by_role("list", name=re.compile("Waterfall"))
    labels = waterfall.locator(".wf-label")
    expect(labels.filter(has_text="fetch_rate")).to_have_text(
        ["fetch_rate #1", "fetch_rate #2", "fetch_rate #3"]
    )
    expect(waterfall.locator('[data-kind="task-failed"]')).to_have_count(2)
    expect(waterfall.locator('[data-kind="task"]')).to_have_count(2)
    expect(waterfall.locator('[data-kind="sleep"] .wf-label')).to_have_text(["sleep settle"])
    expect(page.get_by_role("region", name="Tasks", exact=True)).to_contain_text("3 of 3")

    page.goto(dashboard.page_url(f"/runs/{dashboard.ids['awaiting_event']}"))
    open_wait = page.locator('.wf-row[data-kind="wait"]').filter(has_text="wait approved")
    expect(open_wait.locator(".wf-time")).to_contain_text("so far")


def test_children_form_a_tree_and_each_child_links_to_its_parent(page: Page, dashboard: Dashboard) -> None:
    parent = dashboard.ids["parent"]
    page.goto(dashboard.page_url(f"/runs/{parent}"))

    tree = page.get_by_role("tree", name="Child runs")
    expect(tree.get_by_role("treeitem")).to_have_count(4)
    expect(tree.get_by_role("link")).to_have_count(4)
    grandchild = tree.get_by_role("group").first.get_by_role("link")
    grandchild_id = grandchild.inner_text()
    grandchild.click()

    expect(page).to_have_url(re.compile(f"#/runs/{grandchild_id}$"))
    expect(page.locator("h1")).to_contain_text("greeting@1.0.0")
    page.locator("a[data-parent]").click()
    expect(page.locator("h1")).to_contain_text("branch@1.0.0")
    expect(page.get_by_role("tree", name="Child runs").get_by_role("link")).to_have_text([grandchild_id])
    page.locator("a[data-parent]").click()
    expect(page).to_have_url(re.compile(f"#/runs/{parent}$"))


def confirm(page: Page, button: str, confirm_label: str, reason: str | None = None) -> None:
    page.get_by_role("group", name="Actions").get_by_role("button", name=button).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    if reason is not None:
        dialog.get_by_label("Reason (optional)").fill(reason)
    dialog.get_by_role("button", name=confirm_label, exact=True).click()
    expect(dialog).to_be_hidden()


def test_wake_a_sleeping_run_and_send_an_event_with_validated_json(page: Page, dashboard: Dashboard) -> None:
    sleeping = dashboard.ids["sleeping"]
    page.goto(dashboard.page_url(f"/runs/{sleeping}"))
    expect(page.locator("#run-facts")).to_contain_text("Wakes")
    confirm(page, "Wake up…", "Wake up")
    expect(page.get_by_role("status")).to_contain_text(f"Wake up: run {sleeping} is now")
    expect(page.locator(".run-header .badge")).to_have_text("completed")
    expect(page.locator("#run-output")).to_contain_text('"hello Grace"')

    waiting = dashboard.ids["awaiting_event_2"]
    page.goto(dashboard.page_url(f"/runs/{waiting}"))
    page.get_by_role("button", name="Send event…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Event name")).to_have_value("approved")
    dialog.get_by_label("Data (JSON)").fill('{"by": "ops",}')
    dialog.get_by_role("button", name="Send").click()
    expect(dialog.get_by_role("alert")).to_contain_text("The data is not valid JSON")
    dialog.get_by_label("Data (JSON)").fill('{"by": "ops"}')
    dialog.get_by_label(re.compile("Reference id")).fill("approval-42")
    dialog.get_by_role("button", name="Send").click()

    expect(page.get_by_role("status")).to_have_text(f"Event 'approved' sent to run {waiting}.")
    expect(page.locator(".run-header .badge")).to_have_text("completed")
    expect(page.locator("#run-output")).to_contain_text('"by": "ops"')
    events = page.locator("#run-waits")
    expect(events).to_contain_text("approval-42")
    expect(events).to_contain_text("received")


def test_pause_resume_cancel_with_a_reason_and_requeue(page: Page, dashboard: Dashboard) -> None:
    queued = dashboard.runs(workflow="backlog", status="queued", order="oldest", limit=2)
    first, second = str(queued[0]["id"]), str(queued[1]["id"])
    page.goto(dashboard.page_url(f"/runs/{first}"))
    confirm(page, "Pause…", "Pause")
    expect(page.get_by_role("status")).to_have_text(f"Pause: run {first} is now paused.")
    expect(page.locator(".run-header .badge")).to_have_text("paused")
    confirm(page, "Resume…", "Resume")
    expect(page.get_by_role("status")).to_have_text(f"Resume: run {first} is now queued.")

    page.goto(dashboard.page_url(f"/runs/{second}"))
    confirm(page, "Cancel…", "Cancel run", reason="customer left")
    expect(page.get_by_role("status")).to_have_text(f"Cancel: run {second} is now cancelled.")
    assert dashboard.run(second)["state"] == {"status": "cancelled", "reason": "customer left"}
    expect(page.get_by_role("group", name="Actions").get_by_role("button")).to_have_count(0)

    stalled = dashboard.ids["stalled"]
    page.goto(dashboard.page_url(f"/runs/{stalled}"))
    confirm(page, "Requeue…", "Requeue")
    expect(page.get_by_role("status")).to_have_text(f"Requeue: run {stalled} is now queued.")


def test_an_action_the_server_refuses_shows_its_message_in_the_dialog(
    page: Page, dashboard: Dashboard, browser_errors: BrowserErrors
) -> None:
    browser_errors.allow(r"status of 40[09] .*/pause")
    run_id = str(dashboard.runs(workflow="backlog", status="queued", order="oldest", limit=3)[2]["id"])
    page.goto(dashboard.page_url(f"/runs/{run_id}"))
    page.get_by_role("group", name="Actions").get_by_role("button", name="Pause…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    # Meanwhile somebody else cancels it; the open dialog keeps the live update from redrawing the buttons.
    assert dashboard.api("POST", f"/runs/{run_id}/cancel", json={}).status_code == 200

    dialog.get_by_role("button", name="Pause", exact=True).click()
    expect(dialog.get_by_role("alert")).to_contain_text("cancelled")
    page.keyboard.press("Escape")
    expect(page.locator(".run-header .badge")).to_have_text("cancelled")


def test_live_updates_leave_an_unchanged_traceback_as_the_user_scrolled_it(
    page: Page, dashboard: Dashboard
) -> None:
    page.goto(dashboard.page_url(f"/runs/{dashboard.ids['failed']}"))
    traceback = page.get_by_label("Traceback")
    expect(traceback).to_be_visible()
    traceback.evaluate(
        "node => { node.style.maxHeight = '3em'; node.scrollTop = 25; node.dataset.marked = 'yes'; }"
    )
    refreshes = int(page.locator("body").get_attribute("data-refreshes") or "0")

    expect(page.locator("body")).to_have_attribute("data-refreshes", str(refreshes + 2))
    expect(page.locator("pre.traceback[data-marked=yes]")).to_have_count(1)
    assert traceback.evaluate("node => node.scrollTop") == 25
