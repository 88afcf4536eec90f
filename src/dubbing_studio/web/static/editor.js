// The segment editor: a row per line with its time, speaker, voice, source text and
// translation. Edits are kept as drafts (memory + localStorage) and saved to the server on
// blur or after a pause in typing; a failed save keeps the draft and says why, in the row.

import { api, url } from "./api.js";
import { applyLanguage, languageName } from "./catalog.js";
import { announce, debounce, formatTime, h } from "./dom.js";
import { flagText } from "./quality.js";

const STATUS_LABELS = {
  pending: "Waiting",
  ready: "Dubbed",
  stale: "Changed — render to update",
  failed: "Failed",
};

const TEXT_FIELDS = ["source_text", "target_text", "speaker"];
const SAVE_DELAY_MS = 1500;

function outcomeBadge(segment) {
  const speed = segment.speed ? `×${segment.speed.toFixed(2)}` : "";
  switch (segment.outcome) {
    case "fits":
      return { text: "Fits", cls: "ok", title: "Spoken at natural pace inside its slot." };
    case "borrowed":
      return { text: "Fits, uses pause", cls: "ok", title: "Runs into the silence after the line." };
    case "sped_up":
      return { text: `Sped up ${speed}`, cls: "info", title: "Spoken faster to fit its slot." };
    case "overrun":
      return {
        text: `Runs ${(segment.overrun_s || 0).toFixed(2)} s over`,
        cls: "warn",
        title: "Longer than its slot even when sped up; shorten the translation.",
      };
    case "trimmed": {
      const lost = segment.words_trimmed ? `: ${segment.words_trimmed} words lost` : "";
      return {
        text: `Cut short${lost}`,
        cls: "bad",
        title: "Too long even at the fastest speed; the end was cut. Shorten the translation, or dub with the natural fit.",
      };
    }
    default:
      return null;
  }
}

export class SegmentEditor {
  /**
   * `list` is the <ol>; `audio` the shared line player; callbacks:
   * onChanged() after a save (counts changed), onSelect(id), onPlay(segment, track, audio),
   * onUpdate(segment) when one line changes (not for a bulk setSegments), onDrafts() when a
   * line gains or loses unsaved edits.
   */
  constructor({ list, audio, onChanged, onSelect, onPlay, onUpdate, onDrafts }) {
    Object.assign(this, { list, audio, onChanged, onSelect, onPlay, onUpdate, onDrafts });
    this.rows = new Map();
    this.segments = new Map();
    this.revoiced = new Map(); // segment id -> object URL of its re-voiced clip
    this.saving = new Map(); // segment id -> promise
    this.again = new Set();
    this.blocked = new Set(); // drafts the server refused while a run was going
    this.playing = null; // {button, segmentId, track}
    this.running = false;
    audio.addEventListener("ended", () => this.stopped());
    audio.addEventListener("pause", () => this.stopped());
    audio.addEventListener("error", () => {
      if (!this.playing) return;
      this.rowMessage(this.playing.segmentId, "This clip can't be played right now.", true);
      this.stopped();
    });
  }

  /** A new project: its id, target/source languages, voices and the drafts store. */
  reset({ dubId, drafts, catalog, targetLanguage, sourceLanguage }) {
    this.stopPlayback();
    for (const urlValue of this.revoiced.values()) URL.revokeObjectURL(urlValue);
    Object.assign(this, { dubId, drafts, catalog, targetLanguage, sourceLanguage });
    this.rows.clear();
    this.segments.clear();
    this.revoiced.clear();
    this.saving.clear();
    this.again.clear();
    this.blocked.clear();
    this.list.replaceChildren();
  }

  setLanguages(sourceLanguage, targetLanguage) {
    this.sourceLanguage = sourceLanguage;
    this.targetLanguage = targetLanguage;
    for (const row of this.rows.values()) {
      applyLanguage(row.source, sourceLanguage);
      applyLanguage(row.target, targetLanguage);
    }
  }

  setRunning(running) {
    this.running = running;
    for (const row of this.rows.values()) this.updateButtons(row);
  }

  /** Replace every row (a fresh load); drafts stay on top of the server's text. */
  setSegments(segments) {
    const ids = new Set(segments.map((s) => s.id));
    for (const [id, row] of this.rows) {
      if (!ids.has(id)) {
        row.li.remove();
        this.rows.delete(id);
        this.segments.delete(id);
      }
    }
    segments.forEach((segment) => this.upsert(segment, { quiet: true }));
    this.renumber();
  }

  get order() {
    return [...this.segments.values()].sort((a, b) => a.start - b.start || a.id.localeCompare(b.id));
  }

  get staleCount() {
    let count = 0;
    for (const segment of this.segments.values()) if (segment.status === "stale") count += 1;
    return count;
  }

  get unsavedCount() {
    return this.drafts ? this.drafts.size : 0;
  }

  /** Add or update one line from the server. */
  upsert(segment, { quiet = false } = {}) {
    const isNew = !this.rows.has(segment.id);
    if (segment.status !== "stale" && this.revoiced.has(segment.id)) {
      // Rendered since it was re-voiced: the server's clip is the one in the mix now.
      URL.revokeObjectURL(this.revoiced.get(segment.id));
      this.revoiced.delete(segment.id);
    }
    this.segments.set(segment.id, segment);
    const row = isNew ? this.createRow(segment) : this.rows.get(segment.id);
    this.fill(row, segment);
    if (isNew) {
      const next = this.order.find((s) => s.start > segment.start && this.rows.get(s.id)?.li.isConnected);
      this.list.insertBefore(row.li, next ? this.rows.get(next.id).li : null);
      if (!quiet) {
        row.li.classList.add("appear");
        this.renumber();
      }
    }
    if (!quiet) this.onUpdate?.(segment);
    return row;
  }

  renumber() {
    this.order.forEach((segment, index) => {
      const row = this.rows.get(segment.id);
      if (!row) return;
      row.index = index;
      row.no.textContent = `${index + 1}`;
      row.li.setAttribute("aria-label", `Line ${index + 1}`);
      for (const [el, text] of row.labelled) el.setAttribute("aria-label", `${text}, line ${index + 1}`);
    });
  }

  createRow(segment) {
    const id = segment.id;
    const base = `seg-${id}`;
    const row = { id, labelled: [] };
    row.no = h("span", { class: "seg-no" });
    row.time = h("span", { class: "seg-time" });
    row.status = h("span", { class: "badge" });
    row.outcome = h("span", { class: "badge" });
    row.language = h("span", { class: "badge info" });
    row.review = h("span", { class: "badge warn" });
    row.unsaved = h("span", { class: "unsaved", hidden: true }, "Unsaved");

    row.speaker = h("input", {
      type: "text",
      id: `${base}-speaker`,
      dir: "auto",
      autocomplete: "off",
      list: "speaker-names",
      spellcheck: "false",
    });
    row.voice = h("select", { id: `${base}-voice` });
    row.source = h("textarea", { id: `${base}-source`, rows: 3, dir: "auto" });
    row.target = h("textarea", { id: `${base}-target`, rows: 3, dir: "auto" });
    row.msg = h("p", { class: "seg-msg", id: `${base}-msg` });
    for (const control of [row.speaker, row.voice, row.source, row.target]) {
      control.setAttribute("aria-describedby", row.msg.id);
    }

    row.playSource = h("button", { type: "button", class: "button small", "data-action": "play-source", "aria-pressed": "false" }, "▶ Original");
    row.playDub = h("button", { type: "button", class: "button small", "data-action": "play-dub", "aria-pressed": "false" }, "▶ Dub");
    row.revoice = h(
      "button",
      { type: "button", class: "button small", "data-action": "revoice", title: "Save and re-voice this line (Ctrl+Enter)" },
      "Re-voice",
    );
    row.labelled.push(
      [row.playSource, "Play the original"],
      [row.playDub, "Play the dub"],
      [row.revoice, "Re-voice"],
    );

    row.sourceLabel = h("label", { for: row.source.id }, "Original");
    row.targetLabel = h("label", { for: row.target.id }, "Translation");

    row.li = h(
      "li",
      { class: "seg", id: base, tabindex: "-1", dataset: { id } },
      h(
        "div",
        { class: "seg-meta" },
        h("div", { class: "seg-title" }, row.no, row.time),
        h("div", { class: "seg-badges" }, row.status, row.outcome, row.language, row.review, row.unsaved),
        h("div", { class: "field" }, h("label", { for: row.speaker.id }, "Speaker"), row.speaker),
        h("div", { class: "field" }, h("label", { for: row.voice.id }, "Voice"), row.voice),
      ),
      h("div", { class: "field seg-src" }, row.sourceLabel, row.source),
      h("div", { class: "field seg-dst" }, row.targetLabel, row.target),
      h("div", { class: "seg-acts" }, row.playSource, row.playDub, row.revoice, row.msg),
    );

    applyLanguage(row.source, this.sourceLanguage);
    applyLanguage(row.target, this.targetLanguage);
    this.fillVoices(row, segment.voice);

    const save = debounce(() => this.save(id), SAVE_DELAY_MS);
    row.save = save;
    const edit = (field, control) => {
      control.addEventListener("input", () => {
        this.drafts.set(id, field, control.value, this.segments.get(id)?.[field] ?? "");
        this.markUnsaved(row);
        save();
      });
      control.addEventListener("change", () => {
        save.cancel();
        this.save(id);
      });
    };
    edit("source_text", row.source);
    edit("target_text", row.target);
    edit("speaker", row.speaker);
    row.voice.addEventListener("change", () => {
      // "" asks the server to go back to the speaker's voice.
      this.drafts.set(id, "voice", row.voice.value, this.segments.get(id)?.voice ?? "");
      this.markUnsaved(row);
      this.save(id);
    });
    for (const area of [row.source, row.target]) {
      area.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          save.cancel();
          this.revoice(id);
        }
      });
    }
    row.playSource.addEventListener("click", () => this.play(id, "source", row.playSource));
    row.playDub.addEventListener("click", () => this.play(id, "dub", row.playDub));
    row.revoice.addEventListener("click", () => this.revoice(id));
    row.li.addEventListener("focusin", () => this.onSelect?.(id));

    this.rows.set(id, row);
    return row;
  }

  fillVoices(row, current) {
    const voices = this.catalog ? this.catalog.voices(this.targetLanguage) : [];
    const options = [{ value: "", label: "Automatic" }, ...voices];
    if (current && !voices.some((v) => v.value === current)) options.push({ value: current, label: current });
    row.voice.replaceChildren();
    const groups = new Map();
    for (const item of options) {
      const option = h("option", { value: item.value }, item.label);
      if (item.group) {
        if (!groups.has(item.group)) {
          groups.set(item.group, h("optgroup", { label: item.group }));
          row.voice.append(groups.get(item.group));
        }
        groups.get(item.group).append(option);
      } else {
        row.voice.append(option);
      }
    }
    row.voice.value = current || "";
  }

  /** Show the server's segment, keeping any draft the person has not saved yet. */
  fill(row, segment) {
    const draft = this.drafts?.get(segment.id) || {};
    row.time.textContent = `${formatTime(segment.start)} – ${formatTime(segment.end)}`;
    row.li.dataset.status = segment.status;
    row.status.dataset.status = segment.status;
    row.status.textContent = STATUS_LABELS[segment.status] || segment.status;
    const badge = outcomeBadge(segment);
    row.outcome.className = `badge ${badge?.cls || ""}`;
    row.outcome.textContent = badge?.text || "";
    row.outcome.title = badge?.title || "";
    row.language.textContent = segment.language ? languageName(segment.language) : "";
    row.language.title = segment.language ? "Language spoken in this line" : "";
    row.review.textContent = segment.flags?.length ? `Review: ${flagText(segment.flags)}` : "";
    const values = {
      source_text: row.source,
      target_text: row.target,
      speaker: row.speaker,
    };
    for (const field of TEXT_FIELDS) {
      const control = values[field];
      const value = field in draft ? draft[field] : segment[field] ?? "";
      if (control.value !== value) control.value = value;
    }
    const voice = "voice" in draft ? draft.voice : segment.voice;
    if ([...row.voice.options].some((o) => o.value === (voice || ""))) row.voice.value = voice || "";
    else this.fillVoices(row, voice);
    row.targetLabel.textContent = this.targetLanguage ? `Translation (${languageName(this.targetLanguage)})` : "Translation";
    row.sourceLabel.textContent = this.sourceLanguage ? `Original (${languageName(this.sourceLanguage)})` : "Original";
    this.markUnsaved(row);
    this.updateButtons(row);
  }

  markUnsaved(row) {
    const has = Boolean(this.drafts?.get(row.id));
    const changed = row.unsaved.hidden === has;
    row.unsaved.hidden = !has;
    row.li.classList.toggle("has-draft", has);
    if (changed) this.onDrafts?.();
  }

  updateButtons(row) {
    const segment = this.segments.get(row.id);
    const hasDub = Boolean(this.revoiced.get(row.id) || (segment?.links?.dubbed_audio && segment.status !== "pending"));
    row.playDub.disabled = !hasDub;
    row.playSource.disabled = !segment?.links?.source_audio;
    row.revoice.disabled = this.running || segment?.status === "pending";
  }

  rowMessage(id, text, isError = false) {
    const row = this.rows.get(id);
    if (!row) return;
    row.msg.textContent = text;
    row.msg.classList.toggle("error", isError);
    if (text) announce(`Line ${row.index + 1}: ${text}`, { assertive: isError });
  }

  /** Send a line's draft to the server. Resolves true when nothing is left unsaved. */
  async save(id) {
    if (this.saving.has(id)) {
      this.again.add(id);
      return this.saving.get(id);
    }
    const draft = this.drafts.get(id);
    if (!draft) return true;
    const changes = { ...draft };
    const promise = (async () => {
      try {
        const segment = await api.patchSegment(this.dubId, id, changes);
        this.drafts.saved(id, changes);
        this.blocked.delete(id);
        this.upsert(segment);
        this.rowMessage(id, "Saved. Re-voice to hear it, or render to update the result.");
        this.onChanged?.();
        return true;
      } catch (error) {
        if (error.status === 409) {
          this.blocked.add(id);
          this.rowMessage(id, "Kept on this device: it will be saved when the current run finishes.");
        } else {
          this.rowMessage(id, `Not saved: ${error.message} Your text is kept here.`, true);
        }
        this.markUnsaved(this.rows.get(id));
        return false;
      } finally {
        this.saving.delete(id);
      }
    })();
    this.saving.set(id, promise);
    const ok = await promise;
    if (this.again.delete(id)) return this.save(id);
    return ok && !this.drafts.get(id);
  }

  /** Save every draft (before a render). Resolves true when all were saved. */
  async saveAll() {
    for (const row of this.rows.values()) row.save.cancel();
    const results = await Promise.all(this.drafts.ids().filter((id) => this.rows.has(id)).map((id) => this.save(id)));
    return results.every(Boolean);
  }

  /** Retry drafts the server refused while a run was going. */
  flushBlocked() {
    for (const id of [...this.blocked]) this.save(id);
  }

  async revoice(id) {
    const row = this.rows.get(id);
    if (!row || row.revoice.disabled) return;
    row.revoice.setAttribute("aria-busy", "true");
    row.revoice.disabled = true;
    this.rowMessage(id, "Re-voicing…");
    try {
      row.save.cancel();
      if (!(await this.save(id))) return;
      const blob = await api.synthesize(this.dubId, id);
      const previous = this.revoiced.get(id);
      if (previous) URL.revokeObjectURL(previous);
      this.revoiced.set(id, URL.createObjectURL(blob));
      const segment = this.segments.get(id);
      if (segment && segment.status !== "stale") this.upsert({ ...segment, status: "stale" });
      this.onChanged?.();
      const playing = await this.play(id, "dub", row.playDub, { quiet: true });
      this.rowMessage(
        id,
        playing
          ? "Re-voiced. Render to put it in the result."
          : "Re-voiced. Press ▶ Dub to listen; render to put it in the result.",
      );
    } catch (error) {
      this.rowMessage(id, `Re-voicing failed: ${error.message}`, true);
    } finally {
      row.revoice.removeAttribute("aria-busy");
      this.updateButtons(row);
    }
  }

  clipUrl(id, track) {
    const segment = this.segments.get(id);
    if (track === "dub" && this.revoiced.has(id)) return this.revoiced.get(id);
    // Signed links play without an API key (an <audio> element cannot send one).
    const links = { ...segment?.links, ...segment?.signed_links };
    const link = track === "dub" ? links.dubbed_audio : links.source_audio;
    if (!link) return null;
    // The dubbed clip changes when a line is re-rendered: never play a cached old one.
    const stamp = `${segment.status}-${segment.fitted_s ?? ""}-${segment.synthesized_s ?? ""}`;
    return `${link}${link.includes("?") ? "&" : "?"}v=${encodeURIComponent(stamp)}`;
  }

  /** Play one line's original or dub; resolves true once it plays. Pressed again: stop. */
  async play(id, track, button, { quiet = false } = {}) {
    if (this.playing?.button === button && !this.audio.paused) {
      this.stopPlayback();
      return false;
    }
    this.stopPlayback();
    const src = this.clipUrl(id, track);
    if (!src) return false;
    this.audio.src = src.startsWith("blob:") ? src : url(src);
    this.playing = { button, segmentId: id, track };
    button.setAttribute("aria-pressed", "true");
    button.dataset.playing = "true";
    this.onPlay?.(this.segments.get(id), track, this.audio);
    try {
      await this.audio.play();
      return true;
    } catch (error) {
      if (quiet || error.name === "AbortError") {
        /* the caller says what happened */
      } else if (error.name === "NotAllowedError") {
        this.rowMessage(id, `Press ${track === "dub" ? "▶ Dub" : "▶ Original"} to listen.`);
      } else {
        this.rowMessage(id, "This clip can't be played right now.", true);
      }
      this.stopped();
      return false;
    }
  }

  stopPlayback() {
    if (!this.audio.paused) this.audio.pause();
    this.stopped();
  }

  stopped() {
    if (!this.playing) return;
    this.playing.button.setAttribute("aria-pressed", "false");
    delete this.playing.button.dataset.playing;
    this.playing = null;
    this.onPlay?.(null, null, this.audio);
  }

  select(id, { scroll = true, focus = false } = {}) {
    for (const [key, row] of this.rows) row.li.classList.toggle("selected", key === id);
    const row = this.rows.get(id);
    if (!row) return;
    if (scroll) row.li.scrollIntoView({ block: "nearest", behavior: "smooth" });
    if (focus) row.target.focus({ preventScroll: true });
  }

  /** Speakers for the speaker fields' suggestions. */
  speakers() {
    return [...new Set([...this.segments.values()].map((s) => s.speaker).filter(Boolean))].sort();
  }
}
