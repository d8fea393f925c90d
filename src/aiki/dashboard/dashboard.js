// aiki dashboard: a client of the JSON API (/api/v1), no build step.
const api = "api/v1";

// Every API route the dashboard calls, as [method, path under /api/v1]; {name} is filled in by call().
// tests/integration/test_dashboard.py checks each one against the server's OpenAPI description.
const ROUTES = {
  listRuns: ["GET", "/runs"],
  getRun: ["GET", "/runs/{run_id}"],
  history: ["GET", "/runs/{run_id}/history"],
  timeline: ["GET", "/runs/{run_id}/timeline"],
  pause: ["POST", "/runs/{run_id}/pause"],
  resume: ["POST", "/runs/{run_id}/resume"],
  awake: ["POST", "/runs/{run_id}/awake"],
  cancel: ["POST", "/runs/{run_id}/cancel"],
  listSchedules: ["GET", "/schedules"],
};

const form = document.getElementById("filters");
// The selected run lives in the address (#run=<id>), so a run's page can be shared and reloaded.
const runFromHash = () => new URLSearchParams(location.hash.slice(1)).get("run");
let selectedRunId = runFromHash();
const TERMINAL = new Set(["completed", "failed", "cancelled"]);

function headers() {
  const key = form.apiKey.value || localStorage.getItem("aikiApiKey") || "";
  if (form.apiKey.value) localStorage.setItem("aikiApiKey", form.apiKey.value);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function call(route, { params = {}, query = null, body = null } = {}) {
  const [method, template] = ROUTES[route];
  const path = template.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(params[name]));
  const url = `${api}${path}${query ? `?${query}` : ""}`;
  const options = { method, headers: { Accept: "application/json", ...headers() } };
  if (method !== "GET") {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body || {});
  }
  const response = await fetch(url, options);
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const failure = new Error(answer.error ? answer.error.message : `HTTP ${response.status}`);
    failure.status = response.status;
    throw failure;
  }
  return answer;
}

const text = (value) => document.createTextNode(value === undefined || value === null ? "-" : String(value));
const time = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "-");
const json = (value) => JSON.stringify(value, null, 2);

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    td.append(cell instanceof Node ? cell : text(cell));
    tr.append(td);
  }
  return tr;
}

function badge(status) {
  const span = document.createElement("span");
  span.className = `status ${status}`;
  span.textContent = status;
  return span;
}

function showMessage(id, message, isError) {
  const element = document.getElementById(id);
  element.textContent = message;
  element.className = isError ? "error" : "";
}

async function loadRuns() {
  const query = new URLSearchParams({ limit: "100" });
  if (form.status.value) query.set("status", form.status.value);
  if (form.workflow.value) query.set("workflow", form.workflow.value);
  try {
    const { runs } = await call("listRuns", { query });
    document.querySelector("#runs tbody").replaceChildren(...runs.map((run) => {
      const tr = row([run.id, run.name, run.version_id, badge(run.state.status), run.attempts, time(run.updated_at_ms)]);
      if (run.id === selectedRunId) tr.classList.add("selected");
      tr.addEventListener("click", () => { location.hash = `run=${encodeURIComponent(run.id)}`; });
      return tr;
    }));
    showMessage("runs-message", runs.length ? "" : "No runs match.", false);
  } catch (error) {
    const hint = error.status === 401 || error.status === 403 ? " Enter a valid key in the API key field." : "";
    showMessage("runs-message", error.message + hint, true);
  }
}

async function loadSchedules() {
  try {
    const { schedules } = await call("listSchedules", { query: "limit=100" });
    document.querySelector("#schedules tbody").replaceChildren(...schedules.map((schedule) =>
      row([schedule.id, schedule.workflow_name, schedule.version_id, describeTiming(schedule.timing),
        badge(schedule.status), schedule.overlap_policy, time(schedule.next_run_at_ms)])));
    document.getElementById("schedules-panel").hidden = schedules.length === 0;
    showMessage("schedules-message", "", false);
  } catch (error) {
    // The runs list already says what is wrong when no call gets through (a missing key, say).
    const runsFailed = document.getElementById("runs-message").className === "error";
    showMessage("schedules-message", runsFailed ? "" : error.message, !runsFailed);
  }
}

function describeTiming(timing) {
  if (timing.type === "cron") return `cron '${timing.expression}' (${timing.timezone || "UTC"})`;
  if (timing.type === "interval") {
    const units = [["d", 86400000], ["h", 3600000], ["m", 60000], ["s", 1000]];
    const [unit, size] = units.find(([, ms]) => timing.every_ms % ms === 0) || ["ms", 1];
    return `every ${timing.every_ms / size}${unit}`;
  }
  return json(timing);
}

async function loadDetail() {
  const panel = document.getElementById("detail-panel");
  if (!selectedRunId) { panel.hidden = true; return; }
  panel.hidden = false;
  const params = { run_id: selectedRunId };
  let run, history, timeline;
  try {
    [run, history, timeline] = await Promise.all([
      call("getRun", { params }), call("history", { params }), call("timeline", { params }),
    ]);
  } catch (error) {
    document.getElementById("detail-title").textContent = selectedRunId;
    document.getElementById("detail-body").hidden = true;
    showMessage("detail-message", error.message, true);
    return;
  }
  document.getElementById("detail-body").hidden = false;
  showMessage("detail-message", "", false);
  document.getElementById("detail-title").textContent = `${run.name} ${run.version_id} · ${run.id}`;
  const { status, error, ...state } = run.state;
  const allowed = {
    pause: !TERMINAL.has(status) && status !== "paused", resume: status === "paused",
    awake: status === "sleeping", cancel: !TERMINAL.has(status),
  };
  for (const button of document.querySelectorAll("#detail-actions button")) {
    button.disabled = !allowed[button.dataset.action];
  }
  const entries = [["status", badge(status)], ["revision", run.revision], ["attempt", run.attempts],
    ["created", time(run.created_at_ms)], ["updated", time(run.updated_at_ms)], ["reference", run.reference_id],
    ["shard", run.shard], ["parent", run.parent_run_id], ["schedule", run.schedule_id],
    ["input", json(run.input), "code"], ["state", json(state), "code"]];
  if (error) entries.push(["error", `${error.type}: ${error.message}`], ["traceback", error.traceback, "code"]);
  document.getElementById("detail-facts").replaceChildren(...entries.flatMap(([name, value, style]) => {
    const dt = document.createElement("dt"); dt.textContent = name;
    const dd = document.createElement("dd"); dd.append(value instanceof Node ? value : text(value));
    if (style) dd.className = style;
    return [dt, dd];
  }));
  document.querySelector("#tasks tbody").replaceChildren(...history.tasks.map((task) =>
    row([task.name, task.occurrence, badge(task.status), task.attempts,
      task.status === "completed" ? json(task.output) : (task.error ? `${task.error.type}: ${task.error.message}` : "-")])));
  document.querySelector("#waits tbody").replaceChildren(
    ...history.sleeps.map((sleep) => row(["sleep", sleep.name, badge(sleep.status),
      `${time(sleep.started_at_ms)} → ${time(sleep.ended_at_ms || sleep.wake_at_ms)}`])),
    ...history.events.map((received) => row(["event", received.name, badge(received.status), json(received.data)])));
  document.querySelector("#timeline tbody").replaceChildren(...timeline.transitions.map((step) =>
    row([time(step.created_at_ms), step.from_status, badge(step.to_status), step.reason, step.attempt])));
}

async function refresh() {
  await loadRuns();
  loadSchedules();
  loadDetail();
}

document.getElementById("detail-actions").addEventListener("click", async (event) => {
  const action = event.target.dataset.action;
  if (!action || !selectedRunId) return;
  try {
    await call(action, { params: { run_id: selectedRunId } });
  } catch (error) {
    alert(error.message);
  }
  refresh();
});

form.addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
window.addEventListener("hashchange", () => { selectedRunId = runFromHash(); loadRuns(); loadDetail(); });
form.apiKey.value = localStorage.getItem("aikiApiKey") || "";
refresh();
setInterval(refresh, 3000);
