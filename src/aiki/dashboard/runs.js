// The runs list: filters (statuses, workflow and version from the workflow stats, reference id or run id,
// a created time range), the total count, cursor pages and bulk actions. Everything the view shows is in
// its URL: #/runs?status=failed,stalled&workflow=billing&version=1.0.0&ref=order-7&after=MS&before=MS&pages=C1,C2
// where `pages` is the stack of cursors that led to the current page ("newer" pops it, "older" pushes).

import { api, ApiError, runPath } from "./api.js";
import { bulkButtons } from "./actions.js";
import { badge, errorBox, formatTime, h, patch, STATUSES, timeCell, userIsSelecting, ZONE } from "./ui.js";

export const PAGE_SIZE = 50;
// live updates read the rows of the page each time, the counts by status every STATS_EVERY times
const STATS_EVERY = 10;
const RUN_ID = /^[0-9a-z]{26}$/;

function filterQuery(params) {
  return {
    status: params.get("status"),
    workflow: params.get("workflow"),
    version: params.get("workflow") ? params.get("version") : null,
    reference_id: params.get("ref"),
    created_after: params.get("after"),
    created_before: params.get("before"),
  };
}

function toLocalInput(ms) {
  if (!ms) return "";
  const date = new Date(Number(ms));
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function field(text, control) {
  return h("div", { class: "field" }, h("label", { for: control.id }, text), control);
}

export function runsHash(values) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) if (value) params.set(name, value);
  const text = params.toString();
  return `#/runs${text ? `?${text}` : ""}`;
}

function statusCounts(stats, params) {
  const workflow = params.get("workflow");
  const version = params.get("version");
  const totals = {};
  for (const entry of stats) {
    if (workflow && entry.name !== workflow) continue;
    if (workflow && version && entry.version_id !== version) continue;
    for (const [status, count] of Object.entries(entry.counts)) totals[status] = (totals[status] || 0) + count;
  }
  const scope = workflow ? `${workflow}${version ? `@${version}` : ""}` : "all workflows";
  const chips = STATUSES.filter((status) => totals[status]).map((status) =>
    h("li", {}, h("a", { href: runsHash({ status, workflow, version }), class: "chip" }, badge(status), ` ${totals[status]}`)),
  );
  return [h("span", { class: "muted" }, `By status, ${scope}:`), h("ul", { class: "chips" }, chips.length ? chips : h("li", {}, "no runs"))];
}

function runRow(run, selected, onSelect) {
  const error = run.state.error;
  // A click anywhere on the row opens the run (the id is the link for the keyboard), unless text is selected.
  const openRun = (event) => {
    if (event.target.closest("a, input, button, label") || userIsSelecting()) return;
    location.hash = `#/runs/${run.id}`;
  };
  return h("tr", { "data-run-id": run.id, "data-status": run.state.status, class: "clickable", onclick: openRun },
    h("td", {}, h("input", {
      type: "checkbox", "aria-label": `Select run ${run.id}`, checked: selected.has(run.id),
      onchange: (event) => onSelect(run.id, event.target.checked),
    })),
    h("td", {}, h("a", { href: `#/runs/${run.id}`, class: "mono" }, run.id)),
    h("td", {}, run.name),
    h("td", {}, run.version_id),
    h("td", {}, badge(run.state.status)),
    h("td", { class: "mono" }, run.reference_id || ""),
    h("td", {}, timeCell(run.created_at_ms)),
    h("td", {}, timeCell(run.updated_at_ms)),
    h("td", { class: "error-cell", title: error ? `${error.type}: ${error.message}` : null },
      error ? `${error.type}: ${error.message}` : ""),
  );
}

export function mountRuns(view, params) {
  const pages = (params.get("pages") || "").split(",").filter(Boolean);
  const cursor = pages[pages.length - 1] || null;
  const selected = new Set();
  const statuses = new Set((params.get("status") || "").split(",").filter(Boolean));
  let stats = [];
  let rows = [];
  let ticks = 0;

  const go = (values) => { location.hash = runsHash(values); };
  const current = () => Object.fromEntries(["status", "workflow", "version", "ref", "after", "before"].map((n) => [n, params.get(n)]));

  const workflowSelect = h("select", { name: "workflow", id: "f-workflow" }, h("option", { value: "" }, "any workflow"));
  const versionSelect = h("select", { name: "version", id: "f-version", disabled: !params.get("workflow") }, h("option", { value: "" }, "any version"));
  const statusBoxes = STATUSES.map((status) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "status", value: status, checked: statuses.has(status) }), status.replaceAll("_", " ")),
  );
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter runs" },
    h("details", { class: "status-filter" },
      h("summary", {}, statuses.size ? `Status: ${[...statuses].join(", ").replaceAll("_", " ")}` : "Status: any"),
      h("fieldset", {}, h("legend", {}, "Statuses"), statusBoxes)),
    field("Workflow", workflowSelect),
    field("Version", versionSelect),
    field("Reference id or run id", h("input", { name: "ref", id: "f-ref", type: "search", value: params.get("ref") || "", placeholder: "order-7 or 01a2…" })),
    field(`Created from (${ZONE})`, h("input", { name: "after", id: "f-after", type: "datetime-local", value: toLocalInput(params.get("after")) })),
    field(`Created before (${ZONE})`, h("input", { name: "before", id: "f-before", type: "datetime-local", value: toLocalInput(params.get("before")) })),
    h("div", { class: "filter-buttons" }, h("button", { type: "submit" }, "Apply"), h("a", { href: "#/runs", class: "button" }, "Clear")),
  );
  const readForm = () => {
    const checked = [...form.querySelectorAll("input[name=status]:checked")].map((box) => box.value);
    const time = (name) => (form.elements[name].value ? String(new Date(form.elements[name].value).getTime()) : null);
    const workflow = workflowSelect.value || null;
    return {
      status: checked.join(",") || null, workflow,
      version: workflow && workflow === params.get("workflow") ? versionSelect.value || null : null,
      ref: form.elements.ref.value.trim() || null, after: time("after"), before: time("before"),
    };
  };
  // Statuses apply when their list closes (or on Apply), so that several can be chosen in one go.
  const statusFilter = form.querySelector(".status-filter");
  const statusSummary = statusFilter.querySelector("summary");
  form.addEventListener("change", (event) => {
    if (event.target.name === "ref") return;
    if (event.target.name === "status") {
      const checked = [...form.querySelectorAll("input[name=status]:checked")].map((box) => box.value.replaceAll("_", " "));
      statusSummary.textContent = checked.length ? `Status: ${checked.join(", ")}` : "Status: any";
      return;
    }
    go(readForm());
  });
  statusFilter.addEventListener("toggle", () => {
    if (!statusFilter.open && (readForm().status || null) !== (params.get("status") || null)) go(readForm());
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = readForm();
    if (values.ref && RUN_ID.test(values.ref)) {
      try {
        await api(runPath(values.ref));
        location.hash = `#/runs/${values.ref}`;
        return;
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 404) throw error;
      }
    }
    go(values);
  });

  const counts = h("div", { class: "counts", "aria-label": "Runs by status" });
  const summary = h("p", { class: "summary", id: "runs-summary", "aria-live": "polite" }, "Loading…");
  const problem = h("div");
  const selectAll = h("input", { type: "checkbox", "aria-label": "Select every run on this page" });
  const selectionNote = h("span", { class: "muted", id: "selection-note" }, "");
  const tbody = h("tbody");
  const onSelect = (id, on) => {
    if (on) selected.add(id); else selected.delete(id);
    selectionNote.textContent = selected.size ? `${selected.size} selected` : "";
    selectAll.checked = rows.length > 0 && rows.every((run) => selected.has(run.id));
  };
  selectAll.addEventListener("change", () => {
    for (const run of rows) onSelect(run.id, selectAll.checked);
    for (const box of tbody.querySelectorAll("input[type=checkbox]")) box.checked = selectAll.checked;
  });
  const table = h("div", { class: "table-box", tabindex: "0", role: "region", "aria-label": "Runs" },
    h("table", { class: "runs" },
      h("thead", {}, h("tr", {}, h("th", {}, selectAll), ...["Run", "Workflow", "Version", "Status", "Reference id", "Created", "Updated", "Error"].map((t) => h("th", { scope: "col" }, t)))),
      tbody));
  const refreshAll = () => {
    selected.clear();
    selectionNote.textContent = "";
    for (const box of tbody.querySelectorAll("input[type=checkbox]")) box.checked = false;
    ticks = 0;
    countRuns();
    refresh();
  };
  const bulk = h("div", { class: "bulk", role: "group", "aria-label": "Bulk actions" }, ...bulkButtons(() => [...selected], refreshAll), selectionNote);
  const newer = h("a", { class: "button", href: runsHash({ ...current(), pages: pages.slice(0, -1).join(",") }), "aria-disabled": pages.length ? null : "true", hidden: !pages.length, rel: "prev" }, "← Newer");
  const newest = h("a", { class: "button", href: runsHash(current()), hidden: pages.length < 2 }, "⇤ Newest");
  const older = h("a", { class: "button", rel: "next", hidden: true }, "Older →");
  const pager = h("nav", { class: "pager", "aria-label": "Pages" }, newest, newer, h("span", { class: "muted", id: "page-number" }, `Page ${pages.length + 1}`), older);

  view.replaceChildren(h("h1", {}, "Runs"), form, counts, summary, problem, bulk, table, pager);
  let total = null;

  async function countRuns() {
    try {
      total = (await api("/runs/count", { query: filterQuery(params) })).count;
    } catch (error) {
      total = null;
      problem.replaceChildren(errorBox(error));
    }
    showSummary();
  }

  function showSummary() {
    const first = pages.length * PAGE_SIZE + 1;
    const range = rows.length ? `showing ${first}–${first + rows.length - 1}` : "none on this page";
    summary.textContent = `${total === null ? "?" : total.toLocaleString()} run${total === 1 ? "" : "s"} match · ${range}`;
  }

  async function refresh() {
    try {
      // The workflow stats count every run (a GROUP BY): read them at first and every STATS_EVERY updates.
      const readStats = ticks++ % STATS_EVERY === 0;
      const [page, statsAnswer] = await Promise.all([
        api("/runs", { query: { ...filterQuery(params), limit: PAGE_SIZE, cursor } }),
        readStats ? api("/workflows/stats") : null,
      ]);
      problem.replaceChildren();
      if (statsAnswer) stats = statsAnswer.workflows;
      rows = page.runs;
      fillSelects();
      patch(counts, JSON.stringify(stats), () => statusCounts(stats, params));
      patch(tbody, JSON.stringify(rows), () =>
        rows.length ? rows.map((run) => runRow(run, selected, onSelect))
          : h("tr", {}, h("td", { colspan: "9", class: "empty" }, "No run matches these filters.")));
      selectAll.checked = rows.length > 0 && rows.every((run) => selected.has(run.id));
      older.hidden = !page.next_cursor;
      if (page.next_cursor) older.href = runsHash({ ...current(), pages: [...pages, page.next_cursor].join(",") });
      showSummary();
    } catch (error) {
      problem.replaceChildren(errorBox(error));
      if (error.status === 401) throw error;
    }
  }

  function fillSelects() {
    const names = [...new Set(stats.map((entry) => entry.name))].sort();
    const wanted = params.get("workflow");
    if (wanted && !names.includes(wanted)) names.push(wanted);
    patch(workflowSelect, names.join(","), () => [h("option", { value: "" }, "any workflow"), ...names.map((name) => h("option", { value: name, selected: name === wanted }, name))]);
    const versions = stats.filter((entry) => entry.name === wanted).map((entry) => entry.version_id);
    const version = params.get("version");
    if (version && !versions.includes(version)) versions.push(version);
    patch(versionSelect, versions.join(","), () => [h("option", { value: "" }, "any version"), ...versions.map((v) => h("option", { value: v, selected: v === version }, v))]);
  }

  countRuns();
  return { refresh, title: "Runs" };
}

export { formatTime };
