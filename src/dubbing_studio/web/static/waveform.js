// The timeline of the original: a waveform drawn on a canvas from the decoded input
// (Web Audio API, no library) with one button per line on top. The line buttons form a
// toolbar with a roving tab stop: Tab reaches the current line, arrow keys move between lines.

import { apiKey, url } from "./api.js";
import { formatTime, h } from "./dom.js";

const MIN_PX_PER_S = 8;
const MAX_PX_PER_S = 400;
const PEAKS_PER_S = 200;
const MAX_DECODE_BYTES = 200 * 1024 * 1024; // larger inputs get the line blocks without a waveform
const DECODE_RATE = 8000; // enough for an envelope; keeps long inputs' memory small

export class Timeline {
  constructor({ scroll, inner, canvas, regions, playhead, note, zoomIn, zoomOut, onSelect }) {
    Object.assign(this, { scroll, inner, canvas, regions, playhead, note, onSelect });
    this.duration = 0;
    this.peaks = null;
    this.segments = [];
    this.currentId = null;
    this.pxPerS = null; // null: fit to width
    this.buttons = new Map();
    zoomIn.addEventListener("click", () => this.zoom(1.6));
    zoomOut.addEventListener("click", () => this.zoom(1 / 1.6));
    regions.addEventListener("keydown", (event) => this.onKey(event));
    this.resizeObserver = new ResizeObserver(() => this.layout());
    this.resizeObserver.observe(scroll);
    this.loadToken = 0;
  }

  reset() {
    this.loadToken += 1;
    this.duration = 0;
    this.peaks = null;
    this.segments = [];
    this.currentId = null;
    this.pxPerS = null;
    this.buttons.clear();
    this.regions.replaceChildren();
    this.note.hidden = true;
    this.setPlayhead(null);
    this.layout();
  }

  setDuration(seconds) {
    if (seconds && Math.abs(seconds - this.duration) > 0.01) {
      this.duration = seconds;
      this.layout();
    }
  }

  /** Decode the original upload and draw its waveform. Failures leave the line blocks. */
  async loadAudio(path, sizeHint = null) {
    const token = ++this.loadToken;
    if (sizeHint && sizeHint > MAX_DECODE_BYTES) {
      this.showNote("The file is too large to draw its waveform here; the lines are shown alone.");
      return;
    }
    try {
      const headers = apiKey() ? { Authorization: `Bearer ${apiKey()}` } : {};
      const response = await fetch(url(path), { headers });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const length = Number(response.headers.get("Content-Length") || 0);
      if (length > MAX_DECODE_BYTES) {
        this.showNote("The file is too large to draw its waveform here; the lines are shown alone.");
        return;
      }
      const bytes = await response.arrayBuffer();
      const context = new OfflineAudioContext(1, 1, DECODE_RATE);
      const audio = await context.decodeAudioData(bytes);
      if (token !== this.loadToken) return;
      this.peaks = computePeaks(audio);
      this.setDuration(audio.duration);
      this.draw();
    } catch (error) {
      if (token !== this.loadToken) return;
      console.info("Waveform unavailable:", error?.message || error);
      this.showNote("This browser can't draw the waveform of this file; the lines are shown alone.");
    }
  }

  showNote(text) {
    this.note.textContent = text;
    this.note.hidden = false;
  }

  /** Mark speech no line covers ({start, end} in seconds): reported, not clickable lines. */
  setGaps(gaps) {
    this.gaps = gaps;
    for (const old of this.regions.querySelectorAll(".gap-mark")) old.remove();
    for (const gap of gaps) {
      const label = `Unrecognised speech ${formatTime(gap.start)}–${formatTime(gap.end)}`;
      const mark = h("div", { class: "gap-mark", title: label, role: "img", "aria-label": label });
      mark.dataset.start = gap.start;
      mark.dataset.end = gap.end;
      this.regions.append(mark);
      this.place(mark, gap);
    }
  }

  setSegments(segments) {
    const sorted = [...segments].sort((a, b) => a.start - b.start);
    const same =
      sorted.length === this.segments.length && sorted.every((s, i) => s.id === this.segments[i].id);
    this.segments = sorted;
    const last = this.segments.at(-1);
    if (last && last.end > this.duration) this.duration = last.end;
    if (same) {
      // Same lines: update the buttons in place (keeps focus where it is).
      this.segments.forEach((segment, index) => this.describe(this.buttons.get(segment.id), segment, index));
      this.layout();
      return;
    }
    this.regions.replaceChildren();
    this.buttons.clear();
    this.segments.forEach((segment, index) => this.regions.append(this.button(segment, index)));
    if (this.gaps?.length) this.setGaps(this.gaps);
    this.updateTabStop();
    this.layout();
  }

  button(segment, index) {
    const button = h("button", {
      type: "button",
      class: "region",
      tabindex: "-1",
      dataset: { id: segment.id, status: segment.status },
      onclick: () => this.select(segment.id, { notify: true }),
    });
    this.describe(button, segment, index);
    this.buttons.set(segment.id, button);
    return button;
  }

  describe(button, segment, index) {
    const words = (segment.target_text || segment.source_text || "").trim();
    button.textContent = `${index + 1}`;
    button.dataset.status = segment.status;
    button.title = `${formatTime(segment.start)}–${formatTime(segment.end)} ${segment.speaker}: ${words}`;
    const stale = segment.status === "stale" ? ", changed" : "";
    button.setAttribute(
      "aria-label",
      `Line ${index + 1}, ${formatTime(segment.start)} to ${formatTime(segment.end)}, ${segment.speaker}${stale}`,
    );
    this.place(button, segment);
  }

  updateSegment(segment) {
    const index = this.segments.findIndex((s) => s.id === segment.id);
    if (index < 0) {
      this.setSegments([...this.segments, segment]);
      return;
    }
    this.segments[index] = segment;
    const button = this.buttons.get(segment.id);
    if (button) this.describe(button, segment, index);
  }

  select(id, { notify = false, focus = false } = {}) {
    this.currentId = id;
    for (const [key, button] of this.buttons) {
      button.setAttribute("aria-current", key === id ? "true" : "false");
    }
    this.updateTabStop();
    const button = this.buttons.get(id);
    if (button) {
      const left = button.offsetLeft;
      const right = left + button.offsetWidth;
      if (left < this.scroll.scrollLeft || right > this.scroll.scrollLeft + this.scroll.clientWidth) {
        this.scroll.scrollLeft = Math.max(0, left - this.scroll.clientWidth / 3);
      }
      if (focus) button.focus();
    }
    if (notify) this.onSelect?.(id);
  }

  updateTabStop() {
    const current = this.buttons.get(this.currentId) || this.buttons.values().next().value;
    for (const button of this.buttons.values()) button.tabIndex = button === current ? 0 : -1;
  }

  onKey(event) {
    const ids = this.segments.map((s) => s.id);
    if (!ids.length) return;
    const index = Math.max(0, ids.indexOf(event.target.dataset.id));
    const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    let next = null;
    if (event.key in moves) next = index + moves[event.key];
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = ids.length - 1;
    if (next === null) return;
    event.preventDefault();
    next = Math.min(ids.length - 1, Math.max(0, next));
    this.select(ids[next], { focus: true });
  }

  zoom(factor) {
    const current = this.pxPerS || this.fitPxPerS();
    this.pxPerS = Math.min(MAX_PX_PER_S, Math.max(MIN_PX_PER_S, current * factor));
    if (this.pxPerS <= this.fitPxPerS()) this.pxPerS = null;
    this.layout();
  }

  fitPxPerS() {
    return this.duration ? this.scroll.clientWidth / this.duration : MIN_PX_PER_S;
  }

  width() {
    const fit = this.scroll.clientWidth;
    if (!this.duration || !this.pxPerS) return fit;
    return Math.max(fit, Math.round(this.duration * this.pxPerS));
  }

  place(button, segment) {
    if (!this.duration) return;
    const width = this.width();
    const left = (segment.start / this.duration) * width;
    const span = Math.max(4, ((segment.end - segment.start) / this.duration) * width - 1);
    button.style.left = `${left}px`;
    button.style.width = `${span}px`;
  }

  layout() {
    const width = this.width();
    this.inner.style.width = `${width}px`;
    this.segments.forEach((segment) => {
      const button = this.buttons.get(segment.id);
      if (button) this.place(button, segment);
    });
    for (const mark of this.regions.querySelectorAll(".gap-mark")) {
      this.place(mark, { start: Number(mark.dataset.start), end: Number(mark.dataset.end) });
    }
    this.draw();
    if (this.playheadTime !== null && this.playheadTime !== undefined) this.setPlayhead(this.playheadTime);
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = this.width();
    const height = this.inner.clientHeight || 96;
    canvas.width = Math.max(1, Math.round(width * ratio));
    canvas.height = Math.max(1, Math.round(height * ratio));
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    if (!this.peaks || !this.duration) return;
    const style = getComputedStyle(this.inner);
    ctx.fillStyle = style.getPropertyValue("--wave").trim() || "#6d6ab8";
    const { min, max } = this.peaks;
    const mid = height / 2;
    const perPx = min.length / width;
    for (let x = 0; x < width; x += 1) {
      const from = Math.floor(x * perPx);
      const to = Math.max(from + 1, Math.floor((x + 1) * perPx));
      let lo = 0;
      let hi = 0;
      for (let i = from; i < to && i < min.length; i += 1) {
        if (min[i] < lo) lo = min[i];
        if (max[i] > hi) hi = max[i];
      }
      const top = mid - hi * mid * 0.95;
      const bottom = mid - lo * mid * 0.95;
      ctx.fillRect(x, top, 1, Math.max(1, bottom - top));
    }
  }

  /** Show the playhead at `seconds` of the original (null hides it). */
  setPlayhead(seconds) {
    this.playheadTime = seconds;
    if (seconds === null || !this.duration) {
      this.playhead.hidden = true;
      return;
    }
    this.playhead.hidden = false;
    this.playhead.style.left = `${(seconds / this.duration) * this.width()}px`;
  }
}

function computePeaks(audio) {
  const channels = [];
  for (let c = 0; c < audio.numberOfChannels; c += 1) channels.push(audio.getChannelData(c));
  const count = Math.max(1, Math.ceil(audio.duration * PEAKS_PER_S));
  const step = audio.length / count;
  const min = new Float32Array(count);
  const max = new Float32Array(count);
  let peak = 0;
  for (let i = 0; i < count; i += 1) {
    let lo = 0;
    let hi = 0;
    const from = Math.floor(i * step);
    const to = Math.min(audio.length, Math.floor((i + 1) * step));
    for (const data of channels) {
      for (let j = from; j < to; j += 1) {
        const v = data[j];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    min[i] = lo;
    max[i] = hi;
    peak = Math.max(peak, hi, -lo);
  }
  if (peak > 0) {
    for (let i = 0; i < count; i += 1) {
      min[i] /= peak;
      max[i] /= peak;
    }
  }
  return { min, max };
}
