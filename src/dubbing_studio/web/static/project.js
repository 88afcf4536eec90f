// One dub: loads it from the server (so a reload or a new tab restores it), follows its run
// live, and ties together the run panel, the timeline, the line editor and the result.

import { api } from "./api.js";
import { Catalog, languageName } from "./catalog.js";
import { $, $$, announce, formatDate, formatDuration, h, setBusy, showError } from "./dom.js";
import { SegmentDrafts, local } from "./drafts.js";
import { SegmentEditor } from "./editor.js";
import { ResultPlayer } from "./player.js";
import { RunPanel, statusText } from "./progress.js";
import { follow } from "./sse.js";
import { QualityPanel } from "./quality.js";
import { Timeline } from "./waveform.js";

const ACTIVE = new Set(["queued", "running"]);

export class ProjectView {
  constructor() {
    this.el = {
      title: $("#project-title"),
      meta: $("#project-meta"),
      status: $("#project-status"),
      error: $("#project-error"),
      remove: $("#project-delete"),
      editorPanel: $("#editor-panel"),
      counts: $("#editor-counts"),
      render: $("#editor-render"),
      renderError: $("#editor-render-error"),
      retry: $("#run-retry"),
      cancel: $("#run-cancel"),
    };
    this.speakerList = h("datalist", { id: "speaker-names" });
    document.body.append(this.speakerList);

    this.run = new RunPanel({
      panel: $("#run-panel"),
      stages: $("#run-stages"),
      bar: $("#run-bar"),
      percent: $("#run-percent"),
      message: $("#run-message"),
      error: $("#run-error"),
      retryRow: $("#run-retry-row"),
      cancel: this.el.cancel,
    });
    this.timeline = new Timeline({
      scroll: $("#timeline-scroll"),
      inner: $("#timeline-inner"),
      canvas: $("#waveform"),
      regions: $("#timeline-regions"),
      playhead: $("#playhead"),
      note: $("#timeline-note"),
      zoomIn: $("#zoom-in"),
      zoomOut: $("#zoom-out"),
      onSelect: (id) => this.editor.select(id, { focus: true }),
    });
    this.lineAudio = $("#line-audio");
    this.editor = new SegmentEditor({
      list: $("#segments"),
      audio: this.lineAudio,
      onChanged: () => this.refreshSoon(),
      onSelect: (id) => this.timeline.select(id),
      onUpdate: (segment) => this.timeline.updateSegment(segment),
      onDrafts: () => this.updateCounts(),
      onPlay: (segment, track) => {
        this.playingLine = segment && track === "source" ? segment : null;
        if (segment) this.result.pause();
      },
    });
    this.lineAudio.addEventListener("timeupdate", () => {
      const line = this.playingLine;
      this.timeline.setPlayhead(line ? line.start + this.lineAudio.currentTime : null);
    });
    this.result = new ResultPlayer({
      panel: $("#result-panel"),
      media: $("#result-media"),
      caption: $("#result-caption"),
      downloads: $("#result-downloads"),
      subtitlesButton: $("#result-subtitles"),
      stale: $("#result-stale"),
      soundtrackInputs: $$('input[name="soundtrack"]'),
      onTime: (time) => {
        if (this.result.soundtrack === "original" || time === null) this.timeline.setPlayhead(time);
      },
    });
    this.quality = new QualityPanel({
      panel: $("#result-quality"),
      totals: $("#quality-totals"),
      warnings: $("#quality-warnings"),
      lines: $("#quality-lines"),
      onGaps: (gaps) => this.timeline.setGaps(gaps),
    });

    this.el.render.addEventListener("click", () => this.renderAgain());
    this.el.retry.addEventListener("click", () => this.renderAgain(this.el.retry));
    this.el.cancel.addEventListener("click", () => this.cancelRun());
    this.el.remove.addEventListener("click", () => this.remove());
    this.stream = null;
    this.refreshTimer = null;
    this.dub = null;
    this.active = false;
    document.addEventListener("keydown", (event) => {
      if (this.active && event.key === "Escape" && this.editor.playing) {
        this.editor.stopPlayback();
        event.preventDefault();
      }
    });
  }

  async show({ id }) {
    if (this.dub?.id === id && this.stream) {
      this.active = true;
      return; // already live on this dub
    }
    this.hide();
    this.active = true;
    this.id = id;
    this.dub = null;
    this.el.title.textContent = "Loading…";
    this.el.meta.textContent = "";
    this.el.status.textContent = "";
    showError(this.el.error, "");
    showError(this.el.renderError, "");
    this.run.reset();
    this.run.panel.hidden = true;
    this.result.reset();
    this.quality.reset();
    this.timeline.reset();
    this.el.editorPanel.hidden = true;
    this.drafts = new SegmentDrafts(id);

    let catalog = null;
    try {
      catalog = new Catalog(await api.engines());
    } catch {
      catalog = new Catalog({ engines: [] }); // voices list stays short; editing still works
    }
    let dub;
    let segments;
    try {
      [dub, segments] = await Promise.all([api.getDub(id), api.segments(id)]);
    } catch (error) {
      if (this.id !== id) return;
      this.el.title.textContent = error.status === 404 ? "Dub not found" : "Dub";
      showError(
        this.el.error,
        error.status === 404 ? "This dub doesn't exist (it may have been deleted)." : error.message,
      );
      return;
    }
    if (this.id !== id) return;
    this.editor.reset({
      dubId: id,
      drafts: this.drafts,
      catalog,
      targetLanguage: dub.target_language,
      sourceLanguage: dub.source_language,
    });
    this.applyDub(dub);
    this.setSegments(segments.items || []);
    if (this.drafts.size) {
      announce(`${this.drafts.size} unsaved edit(s) from before were restored.`);
    }
    this.timeline.loadAudio(dub.links?.input || api.inputUrl(id));
    if (ACTIVE.has(dub.status)) this.followEvents();
    else if (this.drafts.size) this.editor.flushBlocked();
  }

  hide() {
    this.active = false;
    this.stream?.close();
    this.stream = null;
    clearTimeout(this.refreshTimer);
    this.editor.stopPlayback();
    this.result.pause();
  }

  applyDub(dub) {
    this.dub = dub;
    const from = dub.source_language ? languageName(dub.source_language) : "Detecting language";
    this.el.title.textContent = dub.input_name || "Dub";
    document.title = `${dub.input_name || "Dub"} — Dubbing Studio`;
    const parts = [`${from} → ${languageName(dub.target_language)}`];
    if (dub.duration_s) parts.push(formatDuration(dub.duration_s));
    if (dub.created_at) parts.push(`created ${formatDate(dub.created_at)}`);
    this.el.meta.textContent = parts.join(" · ");
    this.el.status.dataset.status = dub.status;
    this.el.status.textContent = statusText(dub.status);
    this.run.show(dub);
    this.editor.setLanguages(dub.source_language, dub.target_language);
    this.editor.setRunning(ACTIVE.has(dub.status));
    this.timeline.setDuration(dub.duration_s);
    this.result.update(dub, this.editor.order);
    if (dub.status === "succeeded") this.quality.update(dub);
    this.updateCounts();
  }

  setSegments(items) {
    this.editor.setSegments(items);
    this.timeline.setSegments(items);
    this.el.editorPanel.hidden = items.length === 0 && !ACTIVE.has(this.dub?.status);
    this.updateSpeakers();
    this.updateCounts();
  }

  updateSpeakers() {
    this.speakerList.replaceChildren(...this.editor.speakers().map((s) => h("option", { value: s })));
  }

  updateCounts() {
    const total = this.editor.segments.size;
    const stale = this.editor.staleCount;
    const unsaved = this.editor.unsavedCount;
    const parts = [`${total} line${total === 1 ? "" : "s"}`];
    if (stale) parts.push(`${stale} changed`);
    if (unsaved) parts.push(`${unsaved} unsaved`);
    this.el.counts.textContent = parts.join(" · ");
    const running = ACTIVE.has(this.dub?.status);
    const pending = stale + unsaved;
    this.el.render.disabled = running || (pending === 0 && this.dub?.status === "succeeded");
    this.el.render.textContent = pending ? `Render ${pending} change${pending === 1 ? "" : "s"}` : "Render";
    this.el.render.dataset.pending = String(pending);
  }

  /** After a save or a re-voice: fetch the dub and its lines again, once edits settle. */
  refreshSoon() {
    this.updateCounts();
    clearTimeout(this.refreshTimer);
    const id = this.id;
    this.refreshTimer = setTimeout(async () => {
      try {
        const [dub, segments] = await Promise.all([api.getDub(id), api.segments(id)]);
        if (id !== this.id || ACTIVE.has(this.dub?.status)) return;
        this.applyDub(dub);
        this.setSegments(segments.items || []);
      } catch {
        /* the next action shows its error next to itself */
      }
    }, 400);
  }

  followEvents() {
    this.stream?.close();
    const id = this.id;
    const cursorKey = `events-cursor:${id}`;
    this.stream = follow(api.eventsUrl(id), {
      lastEventId: local.get(cursorKey),
      onEvent: (type, data, eventId) => {
        if (eventId !== null) local.set(cursorKey, eventId);
        this.onEvent(type, data);
      },
      // Only a `done` after which the dub is no longer running ends this run.
      finishedStatus: async () => {
        try {
          const dub = await api.getDub(id);
          return ACTIVE.has(dub.status) ? null : dub.status;
        } catch (error) {
          return error.status === 404 ? "deleted" : null;
        }
      },
      onState: (state) => {
        if (state === "reconnecting") this.run.message.textContent = "Connection lost — reconnecting…";
      },
      onFatal: (error) => showError(this.el.error, error.message),
    });
  }

  onEvent(type, data) {
    const dub = this.dub;
    if (!dub) return;
    switch (type) {
      case "status":
        this.applyDub({ ...dub, status: data.status ?? dub.status, stage: data.stage ?? dub.stage });
        break;
      case "progress":
        Object.assign(dub, {
          stage: data.stage ?? dub.stage,
          progress: data.progress ?? dub.progress,
          eta_s: data.eta_s ?? dub.eta_s,
        });
        if (data.stage === "synthesize" || data.stage === "transcribe") {
          dub.segments_done = data.done ?? dub.segments_done;
          dub.segments_total = data.total ?? dub.segments_total;
        }
        if (!ACTIVE.has(dub.status)) this.applyDub({ ...dub, status: "running" });
        this.run.progress(data, dub);
        break;
      case "segment":
        if (data.segment) {
          this.editor.upsert(data.segment);
          this.el.editorPanel.hidden = false;
          this.updateSpeakers();
          this.updateCounts();
        }
        break;
      case "error":
        this.run.error.textContent = data.detail ? `The dub failed: ${data.detail}` : "The dub failed.";
        this.run.error.hidden = false;
        break;
      case "done":
        this.finished(data.status);
        break;
      default:
        break;
    }
  }

  async finished(status) {
    this.stream = null;
    try {
      const [dub, segments] = await Promise.all([api.getDub(this.id), api.segments(this.id)]);
      this.applyDub(dub);
      this.setSegments(segments.items || []);
    } catch (error) {
      showError(this.el.error, error.message);
      return;
    }
    const message = {
      succeeded: "The dub is ready.",
      failed: "The dub failed.",
      cancelled: "The dub was cancelled.",
    }[status || this.dub.status];
    if (message) announce(message, { assertive: status === "failed" });
    this.editor.flushBlocked();
  }

  async renderAgain(button = this.el.render) {
    showError(this.el.renderError, "");
    setBusy(button, true);
    try {
      if (!(await this.editor.saveAll())) {
        showError(
          this.el.renderError,
          "Some edits could not be saved (see the lines marked Unsaved). Fix them, then render again.",
        );
        return;
      }
      const dub = await api.render(this.id);
      this.run.reset();
      this.applyDub({ ...this.dub, ...dub, status: dub.status || "queued" });
      announce("Rendering started.");
      this.followEvents();
    } catch (error) {
      showError(this.el.renderError, `Could not render: ${error.message}`);
      announce(`Could not render: ${error.message}`, { assertive: true });
    } finally {
      setBusy(button, false);
      this.updateCounts();
    }
  }

  async cancelRun() {
    setBusy(this.el.cancel, true, "Cancelling…");
    try {
      const dub = await api.cancel(this.id);
      this.applyDub(dub);
    } catch (error) {
      showError(this.run.error, `Could not cancel: ${error.message}`);
    } finally {
      setBusy(this.el.cancel, false);
    }
  }

  async remove() {
    const name = this.dub?.input_name || "this dub";
    // eslint-disable-next-line no-alert
    if (!window.confirm(`Delete “${name}” and all its outputs? This can't be undone.`)) return;
    setBusy(this.el.remove, true);
    try {
      await api.remove(this.id);
      this.drafts.discard();
      local.set(`events-cursor:${this.id}`, null);
      this.hide();
      this.dub = null;
      announce(`${name} was deleted.`);
      location.hash = "#/";
    } catch (error) {
      showError(this.el.error, `Could not delete: ${error.message}`);
    } finally {
      setBusy(this.el.remove, false);
    }
  }
}
