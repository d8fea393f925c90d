// Small DOM helpers, time formatting, the status line and the confirmation dialog.

export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    // Through the CSSOM: the page's Content-Security-Policy refuses style attributes.
    else if (name === "style") Object.assign(node.style, value);
    else if (name === "text") node.textContent = value;
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export const STATUSES = [
  "scheduled", "queued", "running", "paused", "sleeping", "awaiting_event", "awaiting_retry",
  "awaiting_child_workflow", "stalled", "completed", "failed", "cancelled",
];
export const TERMINAL = new Set(["completed", "failed", "cancelled"]);

export function badge(status) {
  return h("span", { class: `badge s-${status}` }, status.replaceAll("_", " "));
}

const FORMAT = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  second: "2-digit", hourCycle: "h23", timeZoneName: "short",
});

// `2026-12-07 13:04:05 CET`: local time with its zone.
export function formatTime(ms) {
  if (ms === null || ms === undefined) return "–";
  const parts = Object.fromEntries(FORMAT.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${parts.timeZoneName}`;
}

export function timeCell(ms) {
  return h("time", { datetime: ms == null ? null : new Date(ms).toISOString() }, formatTime(ms));
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined || ms < 0) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

// The offset of the local zone's short name, for the labels of date inputs.
export const ZONE = FORMAT.formatToParts(new Date()).find((p) => p.type === "timeZoneName")?.value || "";

export function json(value) {
  return value === undefined ? "" : JSON.stringify(value, null, 2);
}

// The status line (aria-live): the outcome of every action, and API errors.
let statusTimer = null;
export function announce(message, kind = "ok") {
  const line = $("#status-line");
  line.textContent = message;
  line.dataset.kind = kind;
  line.hidden = false;
  clearTimeout(statusTimer);
  if (kind === "ok") statusTimer = setTimeout(() => { line.hidden = true; }, 8000);
}

export function errorBox(error) {
  return h("p", { class: "error-box", role: "alert" }, error.message || String(error));
}

// A confirmation dialog: a <dialog> with a title, a text, an optional reason, Confirm and Cancel.
// `action(reason)` runs on Confirm; its error is shown inside the dialog, which stays open.
export function confirmAction({ title, text, reason = false, confirm = "Confirm", danger = false, action }) {
  const dialog = $("#confirm-dialog");
  const form = $("form", dialog);
  $("h2", dialog).textContent = title;
  $(".dialog-text", dialog).textContent = text;
  const reasonLabel = $(".reason", dialog);
  reasonLabel.hidden = !reason;
  const reasonInput = $("textarea", reasonLabel);
  reasonInput.value = "";
  const button = $("button[value=confirm]", dialog);
  button.textContent = confirm;
  button.classList.toggle("danger", danger);
  const problem = $(".dialog-error", dialog);
  problem.hidden = true;
  form.onsubmit = async (event) => {
    event.preventDefault();
    if (event.submitter && event.submitter.value === "cancel") return dialog.close();
    button.disabled = true;
    try {
      await action(reasonInput.value.trim() || null);
      dialog.close();
    } catch (error) {
      problem.textContent = error.message;
      problem.hidden = false;
    } finally {
      button.disabled = false;
    }
  };
  dialog.showModal();
  (reason ? reasonInput : button).focus();
}

// Replace `node`'s content only when `key` changed: a live refresh with the same data leaves the DOM
// (text selections, scroll positions, focus) untouched.
export function patch(node, key, render) {
  if (node.dataset.key === key) return false;
  node.dataset.key = key;
  node.replaceChildren(...[render()].flat());
  return true;
}

// True while the user selects text: live refreshes then wait.
export function userIsSelecting() {
  const selection = document.getSelection();
  return selection && !selection.isCollapsed && selection.toString().length > 0;
}
