// Quick mode: the seed's three steps on one screen — transcribe, edit the text, translate and
// speak — through the seed endpoints. The texts survive a reload (kept in localStorage).

import { api } from "./api.js";
import { Catalog, applyLanguage, baseCode, languageName } from "./catalog.js";
import { $, announce, clearError, fillSelect, formatDuration, setBusy, showError } from "./dom.js";
import { local } from "./drafts.js";
import { FilePicker } from "./upload.js";

const AUTO_VOICES = [
  { value: JSON.stringify({ model: "gpt-4o-mini-tts", voice: "onyx" }), label: "Automatic, male voice" },
  { value: JSON.stringify({ model: "gpt-4o-mini-tts", voice: "nova" }), label: "Automatic, female voice" },
];

export class QuickView {
  constructor() {
    this.f = {
      source: $("#quick-source"),
      transcribe: $("#quick-transcribe"),
      transcribeStatus: $("#quick-transcribe-status"),
      detected: $("#quick-detected"),
      text: $("#quick-text"),
      from: $("#quick-from"),
      target: $("#quick-target"),
      translate: $("#quick-translate"),
      translateStatus: $("#quick-translate-status"),
      translateError: $("#quick-translate-error"),
      translation: $("#quick-translation"),
      voice: $("#quick-voice"),
      speak: $("#quick-speak"),
      speakStatus: $("#quick-speak-status"),
      speakError: $("#quick-speak-error"),
      output: $("#quick-output"),
      audio: $("#quick-audio"),
      download: $("#quick-download"),
    };
    this.picker = new FilePicker({
      input: $("#quick-file"),
      zone: $("#quick-dropzone"),
      info: $("#quick-file-info"),
      error: $("#quick-file-error"),
    });
    this.catalog = null;
    this.audioUrl = null;
    const f = this.f;
    f.transcribe.addEventListener("click", () => this.transcribe());
    f.translate.addEventListener("click", () => this.translate());
    f.speak.addEventListener("click", () => this.speak());
    f.text.addEventListener("input", () => local.set("quick-text", f.text.value));
    f.translation.addEventListener("input", () => local.set("quick-translation", f.translation.value));
    f.from.addEventListener("change", () => {
      applyLanguage(f.text, f.from.value);
      this.refreshTargets();
      this.savePrefs();
    });
    f.target.addEventListener("change", () => {
      applyLanguage(f.translation, f.target.value);
      this.refreshVoices();
      this.savePrefs();
    });
    f.voice.addEventListener("change", () => this.savePrefs());
    f.text.value = local.get("quick-text", "");
    f.translation.value = local.get("quick-translation", "");
  }

  async show() {
    document.title = "Quick mode — Dubbing Studio";
    if (this.catalog) return;
    try {
      this.catalog = new Catalog(await api.engines());
    } catch (error) {
      showError(this.f.translateError, `Could not load the engines: ${error.message}`);
      return;
    }
    const prefs = local.get("quick-prefs", {});
    const languages = this.catalog.sourceLanguages();
    fillSelect(this.f.source, [{ value: "", label: "Detect automatically" }, ...languages], "");
    fillSelect(this.f.from, languages, prefs.from || "en");
    applyLanguage(this.f.text, this.f.from.value);
    this.refreshTargets(prefs.target);
    this.refreshVoices(prefs.voice);
  }

  hide() {
    this.f.audio.pause();
  }

  savePrefs() {
    local.set("quick-prefs", { from: this.f.from.value, target: this.f.target.value, voice: this.f.voice.value });
  }

  /** Targets the default translator offers from the chosen source language. */
  refreshTargets(preferred = undefined) {
    const source = this.f.from.value;
    let targets = this.catalog.targetLanguages(this.catalog.defaults.translate, source);
    targets = targets.filter((t) => t.value !== baseCode(source));
    const current = preferred ?? this.f.target.value;
    const fallback = targets.some((t) => t.value === "es") ? "es" : targets[0]?.value;
    if (!targets.length) {
      fillSelect(this.f.target, [{ value: "", label: `No translation from ${languageName(source)} here`, disabled: true }]);
      this.f.target.value = "";
    } else {
      fillSelect(this.f.target, targets, targets.some((t) => t.value === current) ? current : fallback);
    }
    applyLanguage(this.f.translation, this.f.target.value);
    this.refreshVoices();
  }

  refreshVoices(preferred = undefined) {
    const language = this.f.target.value || this.f.from.value;
    const local = this.catalog.voices(language).map((v) => ({
      value: JSON.stringify({ model: v.engine === "openai" ? "gpt-4o-mini-tts" : v.engine, voice: v.voice }),
      label: v.label,
      group: v.engine,
    }));
    fillSelect(this.f.voice, [...AUTO_VOICES, ...local], preferred ?? this.f.voice.value);
  }

  async transcribe() {
    const file = this.picker.file;
    this.picker.setError("");
    if (!file) {
      this.picker.setError("Choose an audio or video file to transcribe.");
      this.picker.input.focus();
      return;
    }
    const form = new FormData();
    if (this.f.source.value) form.append("language", this.f.source.value);
    form.append("file", file, file.name);
    setBusy(this.f.transcribe, true, "Transcribing…");
    this.f.transcribeStatus.textContent = "Uploading…";
    try {
      const result = await api.transcribe(form, {
        onProgress: (fraction, state) => {
          this.f.transcribeStatus.textContent = state?.uploaded
            ? "Transcribing…"
            : `Uploading… ${Math.round(fraction * 100)}%`;
        },
      });
      this.f.text.value = result.text.trim();
      local.set("quick-text", this.f.text.value);
      if (result.language_code) {
        fillSelect(this.f.from, this.catalog.sourceLanguages(), result.language_code);
        applyLanguage(this.f.text, result.language_code);
        this.refreshTargets();
      }
      this.f.detected.textContent = result.language ? `(${result.language})` : "";
      const lines = result.segments?.length || 0;
      this.f.transcribeStatus.textContent = `Done: ${lines} line${lines === 1 ? "" : "s"}, ${formatDuration(result.duration)}.`;
      announce("Transcript ready. You can edit it before translating.");
    } catch (error) {
      this.f.transcribeStatus.textContent = "";
      this.picker.setError(error.message);
      announce(error.message, { assertive: true });
    } finally {
      setBusy(this.f.transcribe, false);
    }
  }

  async translate() {
    clearError(this.f.translateError, this.f.text);
    const text = this.f.text.value.trim();
    if (!text) {
      showError(this.f.translateError, "There is no text to translate: transcribe a file or type some text first.", this.f.text);
      this.f.text.focus();
      return;
    }
    if (!this.f.target.value) {
      showError(this.f.translateError, "Choose a language to translate into.");
      return;
    }
    setBusy(this.f.translate, true, "Translating…");
    this.f.translateStatus.textContent = "";
    try {
      const result = await api.translate({
        text,
        source_language: this.f.from.value,
        target_language: this.f.target.value,
      });
      this.f.translation.value = result.translated_text;
      local.set("quick-translation", this.f.translation.value);
      applyLanguage(this.f.translation, result.target_language_code || this.f.target.value);
      this.f.translateStatus.textContent = "Done.";
      announce("Translation ready.");
    } catch (error) {
      showError(this.f.translateError, error.message);
      announce(error.message, { assertive: true });
    } finally {
      setBusy(this.f.translate, false);
    }
  }

  async speak() {
    clearError(this.f.speakError);
    const text = this.f.translation.value.trim() || this.f.text.value.trim();
    if (!text) {
      showError(this.f.speakError, "There is nothing to speak: translate some text first.");
      return;
    }
    const language = this.f.translation.value.trim() ? this.f.target.value : this.f.from.value;
    const choice = JSON.parse(this.f.voice.value || AUTO_VOICES[0].value);
    setBusy(this.f.speak, true, "Speaking…");
    this.f.speakStatus.textContent = "";
    try {
      const blob = await api.tts({ text, voice: choice.voice, model: choice.model, language });
      if (this.audioUrl) URL.revokeObjectURL(this.audioUrl);
      this.audioUrl = URL.createObjectURL(blob);
      this.f.audio.src = this.audioUrl;
      this.f.download.href = this.audioUrl;
      this.f.output.hidden = false;
      this.f.speakStatus.textContent = "Done.";
      announce("Speech ready. Press play to listen.");
    } catch (error) {
      showError(this.f.speakError, error.message);
      announce(error.message, { assertive: true });
    } finally {
      setBusy(this.f.speak, false);
    }
  }
}
