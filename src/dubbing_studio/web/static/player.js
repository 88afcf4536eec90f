// The result: the dubbed video or audio with an original/dub switch, subtitles on or off,
// and a download link for every output.

import { url } from "./api.js";
import { applyLanguage, languageName } from "./catalog.js";
import { formatBytes, h } from "./dom.js";

const OUTPUT_LABELS = [
  [/^video\./, "Dubbed video"],
  [/^audio\./, "Dubbed audio"],
  [/^original\./, "Original audio"],
  [/^subtitles\.target\./, "Subtitles, translation"],
  [/^subtitles\.source\./, "Subtitles, original"],
  [/^subtitles\.bilingual\./, "Subtitles, both languages"],
  [/^report\./, "Report"],
];

/** "subtitles.target.srt" -> "Subtitles, translation". */
export function outputKind(name) {
  const match = OUTPUT_LABELS.find(([pattern]) => pattern.test(name));
  return match ? match[1] : name.replace(/\.[^.]+$/, "");
}

/** An output's link for players and downloads: signed (they cannot send an API key). */
function mediaLink(output) {
  return output.signed_url || output.url;
}

function withVersion(link, version) {
  return `${url(link)}${link.includes("?") ? "&" : "?"}v=${encodeURIComponent(version || "")}`;
}

/** SRT text -> WebVTT text, for a <track> when only SRT subtitles exist. */
export function srtToVtt(srt) {
  const body = srt.replace(/\r\n?/g, "\n").replace(/(\d\d:\d\d:\d\d),(\d\d\d)/g, "$1.$2");
  return `WEBVTT\n\n${body}`;
}

export class ResultPlayer {
  constructor({ panel, media, caption, downloads, subtitlesButton, stale, soundtrackInputs, onTime }) {
    Object.assign(this, { panel, media, caption, downloads, subtitlesButton, stale, onTime });
    this.soundtrack = "dub";
    this.subtitles = true;
    this.element = null;
    this.segments = [];
    this.dub = null;
    this.trackUrl = null;
    soundtrackInputs.forEach((input) =>
      input.addEventListener("change", () => {
        if (input.checked) this.switchTo(input.value);
      }),
    );
    this.soundtrackInputs = soundtrackInputs;
    subtitlesButton.addEventListener("click", () => {
      this.subtitles = !this.subtitles;
      subtitlesButton.setAttribute("aria-pressed", String(this.subtitles));
      this.applySubtitles();
    });
  }

  reset() {
    this.element?.pause();
    this.element = null;
    this.media.replaceChildren();
    this.downloads.replaceChildren();
    this.dub = null;
    this.segments = [];
    this.soundtrack = "dub";
    this.soundtrackInputs.forEach((input) => { input.checked = input.value === "dub"; });
    this.panel.hidden = true;
  }

  output(prefix, extensions = null) {
    const outputs = this.dub?.outputs || [];
    return outputs.find(
      (o) => o.name.startsWith(prefix) && (!extensions || extensions.some((ext) => o.name.endsWith(`.${ext}`))),
    );
  }

  /** Show a finished dub (or hide the panel when it has no outputs yet). */
  update(dub, segments) {
    this.segments = segments;
    const outputs = dub.outputs || [];
    const changed = !this.dub || this.dub.updated_at !== dub.updated_at || this.dub.id !== dub.id;
    this.dub = dub;
    this.panel.hidden = outputs.length === 0;
    if (!outputs.length) return;

    const staleCount = dub.stale_segments || 0;
    this.stale.hidden = staleCount === 0;
    this.stale.textContent =
      staleCount === 1
        ? "1 line changed since this was rendered. Render again to hear it here."
        : `${staleCount} lines changed since this was rendered. Render again to hear them here.`;

    if (changed) {
      this.renderDownloads();
      this.renderMedia();
    }
  }

  /** One row per kind of output ("Subtitles, translation"), one link per format. */
  renderDownloads() {
    const groups = new Map();
    const items = [...(this.dub.outputs || [])].sort((a, b) => rank(a.name) - rank(b.name));
    for (const output of items) {
      const stem = output.name.replace(/\.[^.]+$/, "");
      if (!groups.has(stem)) groups.set(stem, []);
      groups.get(stem).push(output);
    }
    this.downloads.replaceChildren(
      ...[...groups.values()].map((outputs) => {
        const title = outputKind(outputs[0].name);
        return h(
          "li",
          {},
          h("span", { class: "download-kind" }, title),
          h(
            "span",
            { class: "download-links" },
            outputs.map((output) => {
              const format = output.name.split(".").pop().toUpperCase();
              return h(
                "a",
                {
                  class: "button small",
                  href: withVersion(mediaLink(output), this.dub.updated_at),
                  download: output.name,
                  "data-output": output.name,
                  "aria-label": `Download ${title}, ${format}${output.size ? `, ${formatBytes(output.size)}` : ""}`,
                },
                `⬇ ${format}`,
                output.size ? h("span", { class: "hint" }, ` ${formatBytes(output.size)}`) : null,
              );
            }),
          ),
        );
      }),
    );
  }

  mediaSource(track) {
    if (track === "original") return url(this.dub.signed_links?.input || this.dub.links.input);
    const output = this.isVideo
      ? this.output("video.")
      : this.output("audio.", ["mp3", "m4a", "ogg", "opus", "wav", "flac"]);
    return output ? withVersion(mediaLink(output), this.dub.updated_at) : null;
  }

  get isVideo() {
    return Boolean(this.output("video."));
  }

  renderMedia() {
    const time = this.element?.currentTime || 0;
    this.element?.pause();
    const tag = this.isVideo ? "video" : "audio";
    const element = h(tag, {
      controls: true,
      preload: "metadata",
      id: "result-player",
      "aria-label": this.soundtrack === "dub" ? "Dubbed result" : "Original",
    });
    if (tag === "video") element.setAttribute("playsinline", "");
    const src = this.mediaSource(this.soundtrack);
    if (src) element.src = src;
    element.addEventListener("loadedmetadata", () => {
      if (time && time < element.duration) element.currentTime = time;
    }, { once: true });
    element.addEventListener("timeupdate", () => {
      this.showCaption(element.currentTime);
      this.onTime?.(element.paused ? null : element.currentTime);
    });
    element.addEventListener("pause", () => this.onTime?.(null));
    element.addEventListener("error", () => {
      if (!element.getAttribute("src")) return;
      this.caption.hidden = false;
      this.caption.textContent = "This media can't be played in this browser; download it below.";
    });
    this.element = element;
    this.media.replaceChildren(element);
    this.addTrack();
    this.applySubtitles();
  }

  async addTrack() {
    if (!this.element || this.element.tagName !== "VIDEO") return;
    const side = this.soundtrack === "dub" ? "target" : "source";
    const language = side === "target" ? this.dub.target_language : this.dub.source_language;
    let src = null;
    const vtt = this.output(`subtitles.${side}.`, ["vtt"]);
    if (vtt) {
      src = withVersion(mediaLink(vtt), this.dub.updated_at);
    } else {
      const srt = this.output(`subtitles.${side}.`, ["srt"]);
      if (srt) {
        try {
          const text = await (await fetch(withVersion(mediaLink(srt), this.dub.updated_at))).text();
          if (this.trackUrl) URL.revokeObjectURL(this.trackUrl);
          this.trackUrl = URL.createObjectURL(new Blob([srtToVtt(text)], { type: "text/vtt" }));
          src = this.trackUrl;
        } catch {
          src = null;
        }
      }
    }
    if (!src || !this.element) return;
    this.element.append(
      h("track", {
        kind: "subtitles",
        src,
        srclang: language || "und",
        label: languageName(language) || "Subtitles",
        default: true,
      }),
    );
    this.applySubtitles();
  }

  applySubtitles() {
    if (!this.element) return;
    for (const track of this.element.textTracks || []) track.mode = this.subtitles ? "showing" : "hidden";
    if (this.element.tagName === "VIDEO") {
      this.caption.hidden = true;
    } else {
      this.caption.hidden = !this.subtitles;
      this.showCaption(this.element.currentTime);
    }
  }

  /** For audio results: the line at `time`, as a caption under the player. */
  showCaption(time) {
    if (!this.element || this.element.tagName === "VIDEO" || !this.subtitles) return;
    const line = this.segments.find((s) => time >= s.start && time < s.end);
    const dub = this.soundtrack === "dub";
    const text = line ? (dub ? line.target_text : line.source_text) : "";
    applyLanguage(this.caption, dub ? this.dub.target_language : this.dub.source_language);
    const shown = text || (this.element.paused && !this.element.currentTime ? "Subtitles appear here as it plays." : "\u00a0");
    if (this.caption.textContent !== shown) this.caption.textContent = shown;
    this.caption.classList.toggle("hint", !text);
  }

  switchTo(track) {
    if (track === this.soundtrack) return;
    const playing = this.element && !this.element.paused;
    this.soundtrack = track;
    this.renderMedia();
    if (playing) this.element.play().catch(() => {});
  }

  pause() {
    this.element?.pause();
  }
}

function rank(name) {
  const order = ["video.", "audio.", "subtitles.target.", "subtitles.bilingual.", "subtitles.source.", "original.", "report."];
  const index = order.findIndex((prefix) => name.startsWith(prefix));
  return index < 0 ? order.length : index;
}
