// Steering runs: one run's actions (with a confirmation dialog and, for cancel, a reason), sending an
// event (a name, JSON data validated before sending) and bulk actions on selected runs.

import { post, runPath } from "./api.js";
import { $, announce, confirmAction, h, TERMINAL } from "./ui.js";

const SINGLE = {
  cancel: { label: "Cancel", confirm: "Cancel run", danger: true, reason: true, text: "Cancel the run and its unfinished children. This cannot be undone." },
  pause: { label: "Pause", text: "Pause the run: it stops at its next step until resumed." },
  resume: { label: "Resume", text: "Resume the paused run." },
  awake: { label: "Wake up", text: "End the run's sleep now." },
  requeue: { label: "Requeue", text: "Put the stalled run back in the queue (a worker must serve its version)." },
};

// The actions that apply to a run in this status.
export function applicable(run) {
  const status = run.state.status;
  const actions = [];
  if (status === "paused") actions.push("resume");
  else if (!TERMINAL.has(status)) actions.push("pause");
  if (status === "sleeping") actions.push("awake");
  if (status === "stalled") actions.push("requeue");
  if (!TERMINAL.has(status)) actions.push("event", "cancel");
  return actions;
}

export function actionButtons(run, eventNames, done) {
  return applicable(run).map((action) => {
    if (action === "event") {
      return h("button", { type: "button", onclick: () => sendEvent([run.id], eventNames, done) }, "Send event…");
    }
    const spec = SINGLE[action];
    return h("button", {
      type: "button",
      class: spec.danger ? "danger" : null,
      onclick: () =>
        confirmAction({
          title: `${spec.label} run ${run.id}?`,
          text: `${spec.text} (${run.name}@${run.version_id}, ${run.state.status.replaceAll("_", " ")})`,
          reason: spec.reason,
          confirm: spec.confirm || spec.label,
          danger: spec.danger,
          action: async (reason) => {
            const body = action === "cancel" ? { reason } : {};
            const updated = await post(runPath(run.id, `/${action}`), body);
            announce(`${spec.label}: run ${run.id} is now ${updated.state.status.replaceAll("_", " ")}.`);
            done();
          },
        }),
    }, `${spec.label}…`);
  });
}

// The event dialog: pick a name (awaited or seen ones are proposed), edit JSON data, send.
export function sendEvent(runIds, eventNames, done) {
  const dialog = $("#event-dialog");
  const form = $("form", dialog);
  $(".dialog-text", dialog).textContent =
    runIds.length === 1 ? `To run ${runIds[0]}.` : `To ${runIds.length} runs (all or none).`;
  $("#event-names").replaceChildren(...eventNames.map((name) => h("option", { value: name })));
  form.elements.name.value = eventNames[0] || "";
  form.elements.data.value = "null";
  form.elements.reference_id.value = "";
  const problem = $(".dialog-error", dialog);
  problem.hidden = true;
  const fail = (message) => {
    problem.textContent = message;
    problem.hidden = false;
  };
  form.onsubmit = async (event) => {
    event.preventDefault();
    if (event.submitter && event.submitter.value === "cancel") return dialog.close();
    const name = form.elements.name.value.trim();
    if (!name) return fail("Give the event's name.");
    let data;
    try {
      data = JSON.parse(form.elements.data.value);
    } catch (error) {
      return fail(`The data is not valid JSON: ${error.message}`);
    }
    const referenceId = form.elements.reference_id.value.trim() || null;
    try {
      let delivered;
      if (runIds.length === 1) {
        const answer = await post(runPath(runIds[0], `/events/${encodeURIComponent(name)}`), { data, reference_id: referenceId });
        delivered = answer.delivered ? 1 : 0;
      } else {
        const answer = await post(`/events/${encodeURIComponent(name)}`, { run_ids: runIds, data, reference_id: referenceId });
        delivered = answer.delivered.filter(Boolean).length;
      }
      dialog.close();
      announce(
        delivered === runIds.length
          ? `Event '${name}' sent to ${runIds.length === 1 ? `run ${runIds[0]}` : `${delivered} runs`}.`
          : `Event '${name}': ${delivered} of ${runIds.length} delivered (the reference id was used before).`,
      );
      done();
    } catch (error) {
      fail(error.message);
    }
  };
  dialog.showModal();
  form.elements.name.focus();
}

const BULK = { cancel: "Cancel", pause: "Pause", resume: "Resume", requeue: "Requeue" };

// Bulk actions on selected run ids (POST /runs/bulk/{action}); each run is done or skipped with a reason.
export function bulkButtons(selectedIds, done) {
  const send = h("button", {
    type: "button",
    "data-bulk": "event",
    onclick: () => {
      const ids = selectedIds();
      if (!ids.length) return announce("Select runs first (the boxes in the first column).", "error");
      sendEvent(ids, [], done);
    },
  }, "Send event to selected…");
  return [...Object.entries(BULK).map(([action, label]) =>
    h("button", {
      type: "button",
      class: action === "cancel" ? "danger" : null,
      "data-bulk": action,
      onclick: () => {
        const ids = selectedIds();
        if (!ids.length) return announce("Select runs first (the boxes in the first column).", "error");
        confirmAction({
          title: `${label} ${ids.length} run${ids.length === 1 ? "" : "s"}?`,
          text: `${label} the selected runs; runs that cannot be ${action === "requeue" ? "requeued" : `${action}${action.endsWith("e") ? "d" : "ed"}`} are skipped.`,
          reason: true,
          confirm: `${label} ${ids.length}`,
          danger: action === "cancel",
          action: async (reason) => {
            const result = await post(`/runs/bulk/${action}`, { run_ids: ids, reason });
            const skipped = Object.entries(result.skipped);
            announce(
              `${label}: ${result.done.length} done, ${skipped.length} skipped` +
                (skipped.length ? ` (${skipped.slice(0, 3).map(([id, why]) => `${id}: ${why}`).join("; ")})` : "") + ".",
            );
            done();
          },
        });
      },
    }, `${label} selected…`),
  ), send];
}
