// Workflows (runs by status per version, and whether a live worker serves it), schedules (next fire time,
// pause / resume / deactivate) and live workers (versions, shards, load).

import { api, post } from "./api.js";
import { announce, badge, confirmAction, errorBox, formatDuration, h, patch, STATUSES, timeCell } from "./ui.js";
import { runsHash } from "./runs.js";

function tableBox(label, headers, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h("div", { class: "table-box", tabindex: "0", role: "region", "aria-label": label },
    h("table", {}, h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, rows)));
}

// A view of one list, read at first and then every `every` live updates (and after its own actions).
function mountList(view, title, load, render, every = 1) {
  const body = h("div");
  const problem = h("div");
  let ticks = 0;
  view.replaceChildren(h("h1", {}, title), problem, body);
  async function refresh(force = false) {
    if (!force && ticks++ % every !== 0) return;
    try {
      const data = await load();
      problem.replaceChildren();
      patch(body, JSON.stringify(data), () => render(data, () => refresh(true)));
    } catch (error) {
      problem.replaceChildren(errorBox(error));
      if (error.status === 401) throw error;
    }
  }
  return { refresh, title };
}

export function mountWorkflows(view) {
  return mountList(view, "Workflows", async () => (await api("/workflows/stats")).workflows, (stats) => {
    const used = STATUSES.filter((status) => stats.some((entry) => entry.counts[status]));
    return tableBox("Workflow versions", ["Workflow", "Version", "Served", "Total", ...used.map((s) => s.replaceAll("_", " "))],
      stats.map((entry) => {
        const total = Object.values(entry.counts).reduce((a, b) => a + b, 0);
        const link = (status, count) => h("a", { href: runsHash({ workflow: entry.name, version: entry.version_id, status }) }, String(count));
        return h("tr", { "data-workflow": `${entry.name}@${entry.version_id}` },
          h("td", {}, entry.name), h("td", {}, entry.version_id),
          h("td", {}, entry.served ? h("span", { class: "served yes" }, "✓ served") : h("span", { class: "served no", title: "No live worker registers this version: its runs wait (and stall)." }, "✗ no worker")),
          h("td", {}, link(null, total)),
          ...used.map((status) => h("td", {}, entry.counts[status] ? link(status, entry.counts[status]) : "")));
      }), "No workflow has runs yet.");
  }, 5);
}

function timing(schedule) {
  const t = schedule.timing || {};
  if (t.type === "interval") return `every ${formatDuration(t.every_ms)}`;
  if (t.type === "cron") return `cron ${t.expression || t.cron || ""}${t.timezone ? ` (${t.timezone})` : ""}`;
  return JSON.stringify(t);
}

export function mountSchedules(view) {
  return mountList(view, "Schedules", async () => (await api("/schedules", { query: { limit: 200 } })).schedules, (schedules, refresh) =>
    tableBox("Schedules", ["Schedule", "Workflow", "Status", "Timing", "Next fire", "Actions"], schedules.map((s) => {
      const act = (action, label, danger) => h("button", {
        type: "button", class: danger ? "danger small" : "small",
        onclick: () => confirmAction({
          title: `${label} schedule ${s.id}?`,
          text: `${label} the schedule of ${s.workflow_name}@${s.version_id} (${timing(s)}).`,
          confirm: label, danger,
          action: async () => {
            const updated = await post(`/schedules/${encodeURIComponent(s.id)}/${action}`);
            announce(`${label}: schedule ${s.id} is now ${updated.status}.`);
            refresh();
          },
        }),
      }, `${label}…`);
      return h("tr", { "data-schedule-id": s.id },
        h("td", { class: "mono" }, s.id), h("td", {}, `${s.workflow_name}@${s.version_id}`), h("td", {}, badge(s.status)),
        h("td", {}, timing(s)), h("td", {}, s.status === "active" ? timeCell(s.next_run_at_ms) : "–"),
        h("td", { class: "row-actions" },
          s.status === "active" ? act("pause", "Pause") : null,
          s.status === "paused" ? act("resume", "Resume") : null,
          s.status !== "inactive" ? act("deactivate", "Deactivate", true) : null));
    }), "No schedule."));
}

export function mountWorkers(view) {
  return mountList(view, "Workers", async () => (await api("/workers")).workers, (workers) =>
    tableBox("Live workers", ["Worker", "Host / pid", "Versions", "Shards", "Load", "Started", "Last seen"], workers.map((w) =>
      h("tr", {},
        h("td", {}, w.name), h("td", {}, `${w.host} / ${w.pid}`),
        h("td", {}, h("ul", { class: "plain" }, w.workflows.map(([name, version]) => h("li", {}, `${name}@${version}`)))),
        h("td", {}, w.shards ? w.shards.join(", ") : "all"),
        h("td", {}, h("meter", { min: 0, max: w.concurrency, value: w.active_runs, "aria-label": `${w.active_runs} of ${w.concurrency} runs` }), ` ${w.active_runs} / ${w.concurrency}`),
        h("td", {}, timeCell(w.started_at_ms)), h("td", {}, timeCell(w.last_seen_at_ms)))),
      "No live worker: runs wait in the queue until one starts."));
}
