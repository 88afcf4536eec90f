// The run panel: stages, a progress bar, the ETA and the current step, live from the events.

import { announce, formatEta, h } from "./dom.js";

export const STAGES = [
  ["ingest", "Reading the file"],
  ["transcribe", "Transcribing"],
  ["translate", "Translating"],
  ["synthesize", "Voicing lines"],
  ["hear_back", "Hearing the dub back"],
  ["mix", "Mixing"],
  ["export", "Writing outputs"],
];

const STATUS_TEXT = {
  queued: "Waiting to start",
  running: "Working",
  succeeded: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
};

export function statusText(status) {
  return STATUS_TEXT[status] || status;
}

export class RunPanel {
  constructor({ panel, stages, bar, percent, message, error, retryRow, cancel }) {
    Object.assign(this, { panel, stages, bar, percent, message, error, retryRow, cancel });
    this.items = new Map();
    stages.replaceChildren(
      ...STAGES.map(([key, label]) => {
        const li = h("li", { dataset: { stage: key, state: "todo" } }, label);
        this.items.set(key, li);
        return li;
      }),
    );
    this.lastStage = null;
    this.lastAnnounced = -1;
  }

  reset() {
    this.lastStage = null;
    this.lastAnnounced = -1;
    this.setProgress(0);
    this.setStage(null);
    this.message.textContent = "";
    this.error.hidden = true;
    this.retryRow.hidden = true;
  }

  setStage(stage) {
    const index = STAGES.findIndex(([key]) => key === stage);
    STAGES.forEach(([key], i) => {
      const li = this.items.get(key);
      const state = index < 0 ? "todo" : i < index ? "done" : i === index ? "current" : "todo";
      li.dataset.state = state;
      if (state === "current") li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
    });
    if (stage && stage !== this.lastStage) {
      const label = STAGES[index]?.[1] || stage;
      announce(`${label}…`);
    }
    this.lastStage = stage;
  }

  setProgress(fraction) {
    const pct = Math.round(Math.min(1, Math.max(0, fraction || 0)) * 100);
    this.bar.firstElementChild.style.width = `${pct}%`;
    this.bar.setAttribute("aria-valuenow", String(pct));
    this.bar.setAttribute("aria-valuetext", `${pct} percent`);
    this.percent.textContent = `${pct}%`;
    // Announce every quarter, not every tick.
    const quarter = Math.floor(pct / 25);
    if (quarter > this.lastAnnounced && pct < 100) {
      if (this.lastAnnounced >= 0) announce(`${pct} percent done`);
      this.lastAnnounced = quarter;
    }
  }

  /** Show a dub's state (from GET or from events). */
  show(dub, { message = null } = {}) {
    const active = dub.status === "queued" || dub.status === "running";
    const failed = dub.status === "failed" || dub.status === "cancelled";
    this.panel.hidden = !(active || failed);
    this.cancel.hidden = !active;
    this.cancel.disabled = false;
    this.setStage(active ? dub.stage : dub.status === "succeeded" ? "export" : dub.stage);
    this.setProgress(dub.status === "succeeded" ? 1 : dub.progress);
    if (message !== null) {
      this.message.textContent = message;
    } else if (active) {
      const eta = formatEta(dub.eta_s);
      const lines = dub.segments_total ? ` · ${dub.segments_done} of ${dub.segments_total} lines` : "";
      this.message.textContent = `${statusText(dub.status)}${lines}${eta ? ` · ${eta}` : ""}`;
    } else {
      this.message.textContent = statusText(dub.status);
    }
    if (dub.status === "failed") {
      this.error.textContent = dub.error?.detail
        ? `The dub failed: ${dub.error.detail}`
        : "The dub failed. The server log has the details.";
      this.error.hidden = false;
    } else if (dub.status === "cancelled") {
      this.error.textContent = "The dub was cancelled. Your lines are kept; start it again to finish.";
      this.error.hidden = false;
    } else {
      this.error.hidden = true;
    }
    this.retryRow.hidden = !failed;
  }

  /** A `progress` event. */
  progress(data, dub) {
    if (data.stage) this.setStage(data.stage);
    if (typeof data.progress === "number") this.setProgress(data.progress);
    const label = STAGES.find(([key]) => key === data.stage)?.[1];
    const parts = [data.message || label || ""];
    if (data.total > 1) parts.push(`${data.done} of ${data.total}`);
    const eta = formatEta(data.eta_s ?? dub?.eta_s);
    if (eta) parts.push(eta);
    this.message.textContent = parts.filter(Boolean).join(" · ");
  }
}
