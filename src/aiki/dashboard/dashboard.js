// aiki dashboard: a client of the JSON API (/api/v1), no build step.
const api = "api/v1";
const form = document.getElementById("filters");
let selectedRunId = null;

function headers() {
  const key = form.apiKey.value || localStorage.getItem("aikiApiKey") || "";
  if (form.apiKey.value) localStorage.setItem("aikiApiKey", form.apiKey.value);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function call(path, options = {}) {
  const response = await fetch(`${api}${path}`, { ...options, headers: { "Content-Type": "application/json", ...headers() } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
  return body;
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

async function loadRuns() {
  const query = new URLSearchParams({ limit: "100" });
  if (form.status.value) query.set("status", form.status.value);
  if (form.workflow.value) query.set("workflow", form.workflow.value);
  const message = document.getElementById("runs-message");
  try {
    const { runs } = await call(`/runs?${query}`);
    const body = document.querySelector("#runs tbody");
    body.replaceChildren(...runs.map((run) => {
      const tr = row([run.id, run.name, run.version_id, badge(run.state.status), run.attempts, time(run.updated_at_ms)]);
      if (run.id === selectedRunId) tr.classList.add("selected");
      tr.addEventListener("click", () => { selectedRunId = run.id; loadRuns(); loadDetail(); });
      return tr;
    }));
    message.textContent = runs.length ? "" : "No runs yet.";
    message.className = "";
  } catch (error) {
    message.textContent = error.message;
    message.className = "error";
  }
}

async function loadDetail() {
  if (!selectedRunId) return;
  const panel = document.getElementById("detail-panel");
  panel.hidden = false;
  const [run, history, timeline] = await Promise.all([
    call(`/runs/${selectedRunId}`), call(`/runs/${selectedRunId}/history`), call(`/runs/${selectedRunId}/timeline`),
  ]);
  document.getElementById("detail-title").textContent = `${run.name} ${run.version_id} · ${run.id}`;
  const facts = document.getElementById("detail-facts");
  const { status, ...state } = run.state;
  const entries = [["status", status], ["revision", run.revision], ["attempt", run.attempts],
    ["created", time(run.created_at_ms)], ["reference", run.reference_id], ["shard", run.shard],
    ["parent", run.parent_run_id], ["input", json(run.input)], ["state", json(state)]];
  facts.replaceChildren(...entries.flatMap(([name, value]) => {
    const dt = document.createElement("dt"); dt.textContent = name;
    const dd = document.createElement("dd"); dd.append(text(value));
    return [dt, dd];
  }));
  document.querySelector("#tasks tbody").replaceChildren(...history.tasks.map((task) =>
    row([task.name, task.occurrence, badge(task.status), task.attempts,
      task.status === "completed" ? json(task.output) : (task.error ? `${task.error.type}: ${task.error.message}` : "-")])));
  document.querySelector("#timeline tbody").replaceChildren(...timeline.transitions.map((step) =>
    row([time(step.created_at_ms), step.from_status, badge(step.to_status), step.reason, step.attempt])));
}

document.getElementById("detail-actions").addEventListener("click", async (event) => {
  const action = event.target.dataset.action;
  if (!action || !selectedRunId) return;
  try {
    await call(`/runs/${selectedRunId}/${action}`, { method: "POST", body: "{}" });
  } catch (error) {
    alert(error.message);
  }
  loadRuns(); loadDetail();
});

form.addEventListener("submit", (event) => { event.preventDefault(); loadRuns(); loadDetail(); });
form.apiKey.value = localStorage.getItem("aikiApiKey") || "";
loadRuns();
setInterval(() => { loadRuns(); loadDetail(); }, 3000);
