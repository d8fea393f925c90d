// The waterfall of a run: one bar per task attempt, sleep and wait (for an event or a child, read from the
// timeline's transitions) on a shared time axis, so that where the run's time went is visible at a glance.

import { formatDuration, formatTime, h } from "./ui.js";

const WAITS = { running: "running", awaiting_event: "event", awaiting_child_workflow: "child", awaiting_retry: "retry", paused: "paused", queued: "queued", stalled: "stalled" };

export function waterfallBars(run, history, transitions, now) {
  const bars = [];
  for (const entry of history.tasks) {
    for (const attempt of entry.attempt_times || []) {
      const last = attempt.number === entry.attempts;
      const failed = !last || entry.status !== "completed";
      bars.push({
        kind: failed ? "task-failed" : "task",
        label: `${entry.name} #${attempt.number}`,
        start: attempt.started_at_ms,
        end: attempt.ended_at_ms,
        note: failed && last && entry.error ? `${entry.error.type}: ${entry.error.message}` : failed ? "failed, retried" : "completed",
      });
    }
  }
  for (const entry of history.sleeps) {
    bars.push({ kind: "sleep", label: `sleep ${entry.name}`, start: entry.started_at_ms, end: entry.ended_at_ms ?? Math.min(now, entry.wake_at_ms), note: entry.status, open: entry.ended_at_ms == null });
  }
  transitions.forEach((transition, index) => {
    const kind = WAITS[transition.to_status];
    if (!kind) return;
    const next = transitions[index + 1];
    const state = transition.state || {};
    const what = kind === "event" ? `wait ${state.event_name || "event"}` : kind === "child" ? `wait child ${(state.child_run_id || "").slice(-6)}` : kind;
    bars.push({ kind: `wait wait-${kind}`, label: what, start: transition.created_at_ms, end: next ? next.created_at_ms : now, note: transition.reason, open: !next });
  });
  return bars.sort((a, b) => a.start - b.start);
}

export function waterfall(run, history, transitions) {
  const now = Date.now();
  const bars = waterfallBars(run, history, transitions, now);
  if (!bars.length) return h("p", { class: "muted" }, "Nothing recorded yet: no task attempt, sleep or wait.");
  const start = Math.min(run.created_at_ms, ...bars.map((bar) => bar.start));
  const end = Math.max(start + 1, ...bars.map((bar) => bar.end));
  const span = end - start;
  const rows = bars.map((bar) => {
    const left = ((bar.start - start) / span) * 100;
    const width = Math.max(((bar.end - bar.start) / span) * 100, 0.4);
    const duration = formatDuration(bar.end - bar.start) + (bar.open ? " so far" : "");
    const description = `${bar.label}: ${formatTime(bar.start)}, ${duration}${bar.note ? ` (${bar.note})` : ""}`;
    return h("li", { class: "wf-row", "data-kind": bar.kind.split(" ")[0] },
      h("span", { class: "wf-label", title: bar.label }, bar.label),
      h("span", { class: "wf-track" },
        h("span", { class: `wf-bar ${bar.kind}`, style: { left: `${left.toFixed(3)}%`, width: `${Math.min(width, 100 - left).toFixed(3)}%` }, title: description, role: "img", "aria-label": description })),
      h("span", { class: "wf-time" }, duration));
  });
  return [
    h("p", { class: "muted wf-axis" }, `${formatTime(start)} → ${formatTime(end)} (${formatDuration(span)})`),
    h("ol", { class: "waterfall", "aria-label": "Waterfall: task attempts, sleeps and waits on a time axis" }, rows),
    h("p", { class: "legend muted" },
      h("span", { class: "wf-key task" }), " task attempt ", h("span", { class: "wf-key task-failed" }), " failed attempt ",
      h("span", { class: "wf-key sleep" }), " sleep ", h("span", { class: "wf-key wait" }), " wait ", h("span", { class: "wf-key wait-running" }), " running"),
  ];
}
