// The dub's quality, read from its report.json: what was heard back (WER/CER), how much of
// the speech the lines cover, words cut to fit, lines to review, speech nobody transcribed.

import { url } from "./api.js";
import { languageName } from "./catalog.js";
import { formatTime, h } from "./dom.js";

const FLAG_LABELS = {
  repetition: "repeats itself",
  no_speech: "Whisper heard no speech",
  outside_speech: "outside the detected speech",
  low_confidence: "uncertain recognition",
  untranslatable_language: "no translation from its language",
};

export function flagText(flags) {
  return (flags || []).map((flag) => FLAG_LABELS[flag] || flag).join(", ");
}

const percent = (value) => (value === null || value === undefined ? "—" : `${(value * 100).toFixed(1)}%`);

export class QualityPanel {
  /** `panel` is the section; `onGaps(spans)` gets the unrecognised speech for the timeline. */
  constructor({ panel, totals, warnings, lines, onGaps }) {
    Object.assign(this, { panel, totals, warnings, lines, onGaps });
    this.version = null;
  }

  reset() {
    this.version = null;
    this.panel.hidden = true;
    this.onGaps?.([]);
  }

  /** Load the report of a finished dub, once per version of it. */
  async update(dub) {
    const output = (dub.outputs || []).find((o) => o.name === "report.json");
    if (!output) return this.reset();
    const version = `${dub.id}:${dub.updated_at}`;
    if (version === this.version) return;
    this.version = version;
    try {
      const link = output.signed_url || output.url;
      const response = await fetch(url(link));
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      this.render(await response.json());
    } catch {
      this.version = null;
    }
  }

  render(report) {
    const quality = report.quality || {};
    const rows = [
      ["Speech covered by lines", percent(quality.coverage)],
      ["Heard back: word error rate", quality.back_transcribed ? percent(quality.wer) : "off"],
      ["Heard back: character error rate", quality.back_transcribed ? percent(quality.cer) : "off"],
      ["Words cut to fit", `${quality.words_trimmed ?? 0}`],
      ["Speed, mean / max", `×${(quality.mean_speed ?? 1).toFixed(2)} / ×${(quality.max_speed ?? 1).toFixed(2)}`],
      ["Lines flagged for review", `${quality.lines_flagged ?? 0}`],
      ["Fit", report.fit || "strict"],
    ];
    this.totals.replaceChildren(...rows.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
    this.warnings.replaceChildren(...(report.warnings || []).map((text) => h("li", { class: "notice" }, text)));
    const lines = (report.segments || []).map((line, index) =>
      h(
        "li",
        { dataset: { id: line.id } },
        h("span", { class: "seg-no" }, `${index + 1}`),
        ` ${formatTime(line.start)} · ${languageName(line.language) || line.language}`,
        line.translated_via ? ` (via ${languageName(line.translated_via)})` : "",
        line.wer !== null && line.wer !== undefined ? ` · WER ${percent(line.wer)}` : "",
        line.words_trimmed ? h("span", { class: "badge bad" }, `${line.words_trimmed} words cut`) : null,
        line.flags?.length ? h("span", { class: "badge warn" }, `Review: ${flagText(line.flags)}`) : null,
        line.heard_text ? h("div", { class: "hint" }, `Heard: “${line.heard_text}”`) : null,
      ),
    );
    const aside = (report.set_aside || []).map((line) =>
      h(
        "li",
        { class: "set-aside" },
        `${formatTime(line.start)}–${formatTime(line.end)} not voiced (${flagText(line.flags)}): “${line.text}”`,
      ),
    );
    const gaps = (report.unrecognised || []).map((gap) =>
      h("li", { class: "unrecognised" }, `${formatTime(gap.start)}–${formatTime(gap.end)} speech not recognised`),
    );
    this.lines.replaceChildren(...lines, ...aside, ...gaps);
    this.onGaps?.(report.unrecognised || []);
    this.panel.hidden = false;
  }
}
