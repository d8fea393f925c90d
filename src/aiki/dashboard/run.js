// The run page (#/runs/<id>): state, input, output, error with its whole traceback, actions, the waterfall,
// tasks with each attempt, sleeps, events, children as a tree (and the parent), and the timeline.
// Each section is redrawn only when its data changed, so live updates keep selections and scroll positions.

import { api, runPath } from "./api.js";
import { actionButtons } from "./actions.js";
import { announce, badge, errorBox, formatDuration, h, json, patch, timeCell } from "./ui.js";
import { waterfall } from "./waterfall.js";

const CHILD_DEPTH = 3;

function section(id, title) {
  const body = h("div", { class: "section-body" });
  const node = h("section", { id, "aria-labelledby": `${id}-title` }, h("h2", { id: `${id}-title` }, title), body);
  return { node, body };
}

function facts(run) {
  const row = (label, ...value) => [h("dt", {}, label), h("dd", {}, ...value)];
  return h("dl", { class: "facts" },
    row("Status", badge(run.state.status), run.state.reason ? ` (${run.state.reason})` : ""),
    row("Workflow", `${run.name}@${run.version_id}`),
    row("Created", timeCell(run.created_at_ms)),
    row("Updated", timeCell(run.updated_at_ms)),
    row("Attempt", String(run.attempts)),
    run.reference_id ? row("Reference id", h("span", { class: "mono" }, run.reference_id)) : null,
    run.parent_run_id ? row("Parent", h("a", { href: `#/runs/${run.parent_run_id}`, class: "mono", "data-parent": "" }, run.parent_run_id)) : null,
    run.schedule_id ? row("Schedule", h("span", { class: "mono" }, run.schedule_id)) : null,
    run.state.wake_at_ms ? row("Wakes", timeCell(run.state.wake_at_ms)) : null,
    run.state.event_name ? row("Awaits event", h("code", {}, run.state.event_name)) : null,
    run.deadline_at_ms ? row("Deadline", timeCell(run.deadline_at_ms)) : null,
    row("Revision", String(run.revision)),
  );
}

function copyButton(text, what) {
  return h("button", {
    type: "button", class: "small",
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        announce(`${what} copied.`);
      } catch {
        announce(`Copying needs clipboard access; select the text instead.`, "error");
      }
    },
  }, `Copy ${what.toLowerCase()}`);
}

function errorView(error) {
  if (!error) return h("p", { class: "muted" }, "No error.");
  const text = `${error.type}: ${error.message}${error.traceback ? `\n\n${error.traceback}` : ""}`;
  return [
    h("p", { class: "error-title" }, h("strong", {}, error.type), `: ${error.message}`, error.task ? ` (task ${error.task})` : ""),
    h("pre", { class: "traceback", tabindex: "0", "aria-label": "Traceback" }, error.traceback || "(no traceback)"),
    copyButton(text, "Error"),
  ];
}

function tasksView(tasks) {
  if (!tasks.length) return h("p", { class: "muted" }, "No task recorded.");
  return h("div", { class: "table-box", tabindex: "0", role: "region", "aria-label": "Task attempts" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Task", "Address", "Status", "Attempt", "Started", "Ended", "Took", "Error"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, tasks.flatMap((entry) => {
      const attempts = entry.attempt_times && entry.attempt_times.length ? entry.attempt_times : [{ number: entry.attempts }];
      return attempts.map((attempt, index) => {
        const last = attempt.number === entry.attempts;
        const error = last ? entry.error : null;
        return h("tr", { class: index ? "continued" : null },
          h("td", {}, index ? "" : entry.name),
          h("td", { class: "mono address" }, index ? "" : entry.address),
          h("td", {}, index ? "" : badge(entry.status)),
          h("td", {}, `${attempt.number} of ${entry.attempts}`),
          h("td", {}, attempt.started_at_ms ? timeCell(attempt.started_at_ms) : "–"),
          h("td", {}, attempt.ended_at_ms ? timeCell(attempt.ended_at_ms) : "–"),
          h("td", {}, attempt.ended_at_ms ? formatDuration(attempt.ended_at_ms - attempt.started_at_ms) : "–"),
          h("td", { class: "error-cell" }, error ? `${error.type}: ${error.message}` : last ? "" : "failed (retried)"),
        );
      });
    }))));
}

function sleepsAndEvents(history) {
  const sleeps = history.sleeps.length
    ? h("div", { class: "table-box", tabindex: "0", role: "region", "aria-label": "Sleep list" }, h("table", {},
        h("thead", {}, h("tr", {}, ["Sleep", "Status", "Duration", "Started", "Wakes", "Ended"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, history.sleeps.map((s) => h("tr", {}, h("td", {}, s.name), h("td", {}, badge(s.status)), h("td", {}, formatDuration(s.duration_ms)), h("td", {}, timeCell(s.started_at_ms)), h("td", {}, timeCell(s.wake_at_ms)), h("td", {}, s.ended_at_ms ? timeCell(s.ended_at_ms) : "–"))))))
    : h("p", { class: "muted" }, "No sleep.");
  const events = history.events.length
    ? h("div", { class: "table-box", tabindex: "0", role: "region", "aria-label": "Event list" }, h("table", {},
        h("thead", {}, h("tr", {}, ["Event", "Status", "Reference id", "Data"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, history.events.map((e) => h("tr", {}, h("td", {}, e.name), h("td", {}, badge(e.status)), h("td", { class: "mono" }, e.reference_id || "–"), h("td", {}, h("code", {}, JSON.stringify(e.data))))))))
    : h("p", { class: "muted" }, "No event received.");
  return [h("h3", {}, "Sleeps"), sleeps, h("h3", {}, "Events"), events];
}

async function childTree(runId, depth) {
  const page = await api("/runs", { query: { parent_run_id: runId, order: "oldest", limit: 100 } });
  const items = [];
  for (const child of page.runs) {
    const below = depth > 1 ? await childTree(child.id, depth - 1) : [];
    items.push({ child, below });
  }
  return items;
}

function treeView(items, top = true) {
  if (!items.length) return top ? h("p", { class: "muted" }, "No child run.") : null;
  return h("ul", { class: top ? "tree" : null, role: top ? "tree" : "group", "aria-label": top ? "Child runs" : null },
    items.map(({ child, below }) => h("li", { role: "treeitem", "aria-expanded": below.length ? "true" : null },
      h("a", { href: `#/runs/${child.id}`, class: "mono" }, child.id), " ", `${child.name}@${child.version_id} `, badge(child.state.status),
      treeView(below, false))));
}

function timelineView(transitions) {
  return h("div", { class: "table-box", tabindex: "0", role: "region", "aria-label": "Transitions" }, h("table", {},
    h("thead", {}, h("tr", {}, ["When", "From", "To", "Reason", "Attempt"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, transitions.map((t) => h("tr", {}, h("td", {}, timeCell(t.created_at_ms)), h("td", {}, t.from_status ? badge(t.from_status) : "–"), h("td", {}, badge(t.to_status)), h("td", {}, t.reason || ""), h("td", {}, String(t.attempt)))))));
}

export function mountRun(view, runId) {
  const header = h("div", { class: "run-header" });
  const actions = h("div", { class: "actions", role: "group", "aria-label": "Actions" });
  const problem = h("div");
  const parts = {
    facts: section("run-facts", "State"),
    error: section("run-error", "Error"),
    waterfall: section("run-waterfall", "Waterfall"),
    tasks: section("run-tasks", "Tasks"),
    waits: section("run-waits", "Sleeps and events"),
    children: section("run-children", "Children"),
    input: section("run-input", "Input"),
    output: section("run-output", "Output"),
    timeline: section("run-timeline", "Timeline"),
  };
  view.replaceChildren(
    h("p", { class: "crumbs" }, h("a", { href: "#/runs" }, "← Runs")),
    header, actions, problem,
    h("div", { class: "run-grid" }, Object.values(parts).map((part) => part.node)),
  );

  async function refresh() {
    let run, history, transitions, children;
    try {
      [run, history, transitions, children] = await Promise.all([
        api(runPath(runId)),
        api(runPath(runId, "/history")),
        api(runPath(runId, "/timeline")).then((answer) => answer.transitions),
        childTree(runId, CHILD_DEPTH),
      ]);
    } catch (error) {
      problem.replaceChildren(errorBox(error));
      if (error.status === 401) throw error;
      return;
    }
    problem.replaceChildren();
    document.title = `${run.name} ${run.id} · aiki`;
    patch(header, `${run.id}|${run.state.status}`, () => h("h1", {}, `${run.name}@${run.version_id} `, h("span", { class: "mono" }, run.id), " ", badge(run.state.status)));
    const names = [...new Set([run.state.event_name, ...history.events.map((e) => e.name)].filter(Boolean))];
    patch(actions, `${run.state.status}|${names}`, () => actionButtons(run, names, refresh));
    patch(parts.facts.body, JSON.stringify([run.state, run.revision, run.updated_at_ms]), () => facts(run));
    parts.error.node.hidden = !run.state.error;
    patch(parts.error.body, JSON.stringify(run.state.error || null), () => errorView(run.state.error));
    patch(parts.waterfall.body, JSON.stringify([history, transitions, run.state.status]) + (run.state.status in { completed: 1, failed: 1, cancelled: 1 } ? "" : Math.floor(Date.now() / 10000)), () => waterfall(run, history, transitions));
    patch(parts.tasks.body, JSON.stringify(history.tasks), () => tasksView(history.tasks));
    patch(parts.waits.body, JSON.stringify([history.sleeps, history.events]), () => sleepsAndEvents(history));
    patch(parts.children.body, JSON.stringify(children), () => treeView(children));
    patch(parts.input.body, JSON.stringify(run.input ?? null), () => h("pre", { class: "value", tabindex: "0" }, json(run.input ?? null)));
    parts.output.node.hidden = run.state.status !== "completed";
    patch(parts.output.body, JSON.stringify(run.state.output ?? null), () => h("pre", { class: "value", tabindex: "0" }, json(run.state.output ?? null)));
    patch(parts.timeline.body, JSON.stringify(transitions), () => timelineView(transitions));
  }
  return { refresh, title: `Run ${runId}` };
}
