// The projects list: every dub on the studio, newest first, refreshed while any is running.

import { api } from "./api.js";
import { languageName } from "./catalog.js";
import { $, formatDate, formatDuration, h, showError } from "./dom.js";
import { statusText } from "./progress.js";

const PAGE = 20;
const POLL_MS = 3000;

export class ProjectsView {
  constructor() {
    this.list = $("#projects-list");
    this.more = $("#projects-more");
    this.empty = $("#projects-empty");
    this.error = $("#projects-error");
    this.items = [];
    this.total = 0;
    this.timer = null;
    this.more.addEventListener("click", () => this.load({ append: true }));
  }

  show() {
    document.title = "Projects — Dubbing Studio";
    this.load();
  }

  hide() {
    clearTimeout(this.timer);
  }

  async load({ append = false } = {}) {
    clearTimeout(this.timer);
    const offset = append ? this.items.length : 0;
    const limit = append ? PAGE : Math.max(PAGE, this.items.length);
    try {
      const page = await api.listDubs({ limit, offset });
      this.items = append ? [...this.items, ...page.items] : page.items;
      this.total = page.total;
      showError(this.error, "");
    } catch (error) {
      const message =
        error.status === 404
          ? "This studio has no dub projects API yet; quick mode still works."
          : `Could not load your projects: ${error.message}`;
      showError(this.error, message);
      this.list.replaceChildren();
      this.empty.hidden = true;
      this.more.hidden = true;
      return;
    }
    this.render();
    if (this.items.some((d) => d.status === "queued" || d.status === "running")) {
      this.timer = setTimeout(() => this.load(), POLL_MS);
    }
  }

  render() {
    this.empty.hidden = this.items.length > 0;
    this.more.hidden = this.items.length >= this.total;
    this.list.replaceChildren(...this.items.map((dub) => this.item(dub)));
  }

  item(dub) {
    const running = dub.status === "queued" || dub.status === "running";
    const languages = `${dub.source_language ? languageName(dub.source_language) : "Auto-detect"} → ${languageName(dub.target_language)}`;
    const meta = [languages];
    if (dub.duration_s) meta.push(formatDuration(dub.duration_s));
    if (dub.segments_total) meta.push(`${dub.segments_total} lines`);
    if (dub.stale_segments) meta.push(`${dub.stale_segments} changed`);
    meta.push(formatDate(dub.created_at));
    const pct = Math.round((dub.progress || 0) * 100);
    return h(
      "li",
      { class: "project-item", dataset: { id: dub.id } },
      h("a", { class: "project-open", href: `#/dubs/${encodeURIComponent(dub.id)}` }, dub.input_name || dub.id),
      h(
        "span",
        { class: "badge", dataset: { status: dub.status } },
        running && dub.status === "running" ? `${statusText(dub.status)} ${pct}%` : statusText(dub.status),
      ),
      h("span", { class: "meta" }, meta.filter(Boolean).join(" · ")),
      running
        ? h(
            "div",
            {
              class: "mini-bar",
              role: "progressbar",
              "aria-label": `Progress of ${dub.input_name || "dub"}`,
              "aria-valuemin": "0",
              "aria-valuemax": "100",
              "aria-valuenow": String(pct),
            },
            progressFill(pct),
          )
        : null,
      dub.status === "failed" && dub.error?.detail ? h("span", { class: "meta" }, `Failed: ${dub.error.detail}`) : null,
    );
  }
}

function progressFill(pct) {
  const span = h("span");
  span.style.width = `${pct}%`;
  return span;
}
