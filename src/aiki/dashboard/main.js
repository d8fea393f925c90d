// The dashboard: hash routes, sign-in, and live updates.
//   #/runs?...        the runs list (filters and page in the URL)      #/runs/<id>  a run
//   #/workflows       versions and their runs by status                #/schedules  #/workers
// Live updates redraw what changed every few seconds (?refresh_ms=N in the page URL changes the period);
// they pause while the tab is hidden, while a dialog is open and while the user selects text.

import { api, apiKey, setApiKey, whenUnauthorized } from "./api.js";
import { mountSchedules, mountWorkers, mountWorkflows } from "./admin.js";
import { mountRun } from "./run.js";
import { mountRuns } from "./runs.js";
import { $, announce, h, userIsSelecting } from "./ui.js";

const REFRESH_MS = Number(new URLSearchParams(location.search).get("refresh_ms")) || 3000;
let current = null;
let timer = null;
let signingIn = false;
let lastPath = null;

function route() {
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean);
  return { parts, params: new URLSearchParams(query) };
}

async function render() {
  clearTimeout(timer);
  if (signingIn) return;
  const view = $("#view");
  const { parts, params } = route();
  const name = parts[0] || "runs";
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.toggleAttribute("aria-current", link.dataset.nav === name);
    if (link.dataset.nav === name) link.setAttribute("aria-current", "page");
  }
  if (name === "runs" && parts[1]) current = mountRun(view, decodeURIComponent(parts[1]));
  else if (name === "workflows") current = mountWorkflows(view);
  else if (name === "schedules") current = mountSchedules(view);
  else if (name === "workers") current = mountWorkers(view);
  else current = mountRuns(view, params);
  document.title = `${current.title} · aiki`;
  // A new view (not a new filter of the same one) starts at its top, with the focus on it.
  const path = parts.join("/") || "runs";
  if (lastPath !== null && path !== lastPath) {
    window.scrollTo(0, 0);
    view.focus({ preventScroll: true });
  }
  lastPath = path;
  $("#sign-out").hidden = !apiKey();
  await tick(true);
}

async function tick(first = false) {
  clearTimeout(timer);
  const busy = !first && (document.hidden || userIsSelecting() || document.querySelector("dialog[open]"));
  $("#live").dataset.state = busy ? "paused" : "on";
  if (!busy && current) {
    try {
      await current.refresh();
      document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
    } catch {
      // an error is shown in the view; a 401 shows the sign-in box
    }
  }
  if (!signingIn) timer = setTimeout(tick, REFRESH_MS);
}

function signIn(error) {
  if (signingIn) return;
  signingIn = true;
  clearTimeout(timer);
  current = null;
  const input = h("input", { type: "password", name: "key", required: true, autocomplete: "current-password", id: "api-key" });
  const problem = h("p", { class: "error-box", role: "alert", hidden: !apiKey() }, apiKey() ? error.message : "");
  const form = h("form", { class: "sign-in", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in"),
    h("p", {}, "This server requires an API key (create one with ", h("code", {}, "aiki keys create"), "). It is kept in this tab's session storage only, and forgotten at sign-out or when the tab closes."),
    h("label", { for: "api-key" }, "API key"), input, problem,
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setApiKey(input.value.trim());
    try {
      await api("/workflows/stats");
    } catch (failure) {
      if (failure.status === 401 || failure.status === 403) {
        problem.textContent = failure.message;
        problem.hidden = false;
        setApiKey(null);
        return;
      }
    }
    signingIn = false;
    announce("Signed in.");
    render();
  });
  setApiKey(null);
  $("#sign-out").hidden = true;
  $("#view").replaceChildren(form);
  input.focus();
}

whenUnauthorized(signIn);
$("#sign-out").addEventListener("click", () => {
  setApiKey(null);
  announce("Signed out: the API key is forgotten.");
  $("#view").replaceChildren(h("p", {}, "Signed out."));
  signingIn = false;
  render();
});
document.addEventListener("visibilitychange", () => { if (!document.hidden && !signingIn) tick(); });
window.addEventListener("hashchange", () => { if (!signingIn) render(); });
window.addEventListener("unhandledrejection", (event) => {
  announce(event.reason?.message || String(event.reason), "error");
  event.preventDefault();
});
render();
