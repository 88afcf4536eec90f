// The new-dub form: a file (dropped or picked), languages, engines, voice, glossary and timing.
// Errors from the server are shown next to the field they are about.

import { api } from "./api.js";
import { Catalog, baseCode, languageName } from "./catalog.js";
import { $, $$, announce, clearError, fillSelect, formatBytes, formatDuration, newKey, setBusy, showError } from "./dom.js";
import { local } from "./drafts.js";

const MEDIA_EXTENSIONS = /\.(aac|aif|aiff|avi|flac|m4a|m4v|mka|mkv|mov|mp3|mp4|mpeg|mpg|oga|ogg|opus|wav|weba|webm|wma|wmv|3gp)$/i;

/** A drop zone around a real (visually hidden) file input. */
export class FilePicker {
  constructor({ input, zone, info, error, onChange = () => {} }) {
    Object.assign(this, { input, zone, info, error, onChange });
    this.defaultInfo = info.innerHTML;
    input.addEventListener("change", () => this.changed());
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("dragover");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragover"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragover");
      if (event.dataTransfer?.files?.length) {
        input.files = event.dataTransfer.files;
        this.changed();
      }
    });
  }

  get file() {
    return this.input.files?.[0] || null;
  }

  changed() {
    const file = this.file;
    this.setError("");
    this.zone.classList.toggle("has-file", Boolean(file));
    if (!file) {
      this.info.innerHTML = this.defaultInfo;
      this.onChange(null);
      return;
    }
    this.info.textContent = "";
    const name = document.createElement("span");
    name.className = "file-name";
    name.textContent = file.name;
    this.info.append(name, ` · ${formatBytes(file.size)}`);
    const looksLikeMedia = /^(audio|video)\//.test(file.type) || MEDIA_EXTENSIONS.test(file.name);
    if (!looksLikeMedia) {
      this.setError("This doesn't look like an audio or video file. Pick a recording or a video.");
    } else {
      this.probeDuration(file);
    }
    announce(`Selected ${file.name}`);
    this.onChange(file);
  }

  /** Show the length of the picked file (when the browser can read it). */
  probeDuration(file) {
    const objectUrl = URL.createObjectURL(file);
    const probe = document.createElement(file.type.startsWith("video/") ? "video" : "audio");
    probe.preload = "metadata";
    const done = () => URL.revokeObjectURL(objectUrl);
    probe.addEventListener("loadedmetadata", () => {
      if (Number.isFinite(probe.duration) && this.file === file) {
        this.info.append(` · ${formatDuration(probe.duration)}`);
      }
      done();
    }, { once: true });
    probe.addEventListener("error", done, { once: true });
    probe.src = objectUrl;
  }

  setError(message) {
    showError(this.error, message);
    this.zone.classList.toggle("invalid", Boolean(message));
    if (message) this.input.setAttribute("aria-invalid", "true");
    else this.input.removeAttribute("aria-invalid");
  }

  reset() {
    this.input.value = "";
    this.changed();
  }
}

export class NewDubView {
  constructor({ navigate }) {
    this.navigate = navigate;
    this.form = $("#new-form");
    this.f = {
      target: $("#new-target"),
      source: $("#new-source"),
      translator: $("#new-translator"),
      synthesizer: $("#new-synthesizer"),
      voice: $("#new-voice"),
      keep: $("#new-keep"),
      force: $("#new-force"),
      maxSpeed: $("#new-max-speed"),
      maxSpeedOut: $("#new-max-speed-out"),
      keepOriginal: $("#new-keep-original"),
      url: $("#new-url"),
      transcript: $("#new-transcript"),
      translation: $("#new-translation"),
      matchVoice: $("#new-match-voice"),
      backTranscribe: $("#new-back-transcribe"),
      submit: $("#new-submit"),
      progress: $("#new-upload-progress"),
      uploadStatus: $("#new-upload-status"),
    };
    this.errors = {
      target: $("#new-target-error"),
      source: $("#new-source-error"),
      force: $("#new-force-error"),
      form: $("#new-form-error"),
    };
    this.picker = new FilePicker({
      input: $("#new-file"),
      zone: $("#new-dropzone"),
      info: $("#new-file-info"),
      error: $("#new-file-error"),
      onChange: () => {
        this.idempotencyKey = null; // a different file is a different request
      },
    });
    this.catalog = null;
    this.idempotencyKey = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.f.translator.addEventListener("change", () => this.refreshLanguages());
    this.f.synthesizer.addEventListener("change", () => this.describeEngines());
    this.f.source.addEventListener("change", () => this.refreshLanguages());
    this.f.target.addEventListener("change", () => this.refreshVoices());
    this.f.synthesizer.addEventListener("change", () => this.refreshVoices());
    this.f.maxSpeed.addEventListener("input", () => this.showSpeed());
    this.f.force.addEventListener("change", () => this.parseForce());
    this.form.addEventListener("change", () => this.savePrefs());
    this.form.addEventListener("input", () => {
      this.idempotencyKey = null;
    });
  }

  async show() {
    document.title = "New dub — Dubbing Studio";
    if (this.catalog) return;
    try {
      this.catalog = new Catalog(await api.engines());
    } catch (error) {
      showError(this.errors.form, `Could not load the engines: ${error.message}`);
      return;
    }
    showError(this.errors.form, "");
    const prefs = local.get("new-dub-prefs", {});
    fillSelect(this.f.translator, this.catalog.engineOptions("translate"), prefs.translator ?? "");
    fillSelect(this.f.synthesizer, this.catalog.engineOptions("synthesize"), prefs.synthesizer ?? "");
    fillSelect(
      this.f.source,
      [{ value: "", label: "Detect automatically" }, ...this.catalog.sourceLanguages()],
      prefs.source ?? "",
    );
    this.refreshLanguages(prefs.target);
    this.refreshVoices(prefs.voice);
    if (prefs.maxSpeed) this.f.maxSpeed.value = prefs.maxSpeed;
    this.showSpeed();
    this.describeEngines();
    this.offerSeparation();
  }

  /** "Without its voices" needs a separator that can run here; otherwise say why not. */
  offerSeparation() {
    const option = $('input[name="background"][value="separate"]', this.form);
    if (!option) return;
    const separators = this.catalog.of("separate");
    const usable = separators.find((e) => e.available);
    option.disabled = !usable;
    option.parentElement.title = usable
      ? usable.description
      : separators[0]?.reason || "No speech separator is installed.";
    if (!usable && option.checked) $('input[name="background"][value="auto"]', this.form).checked = true;
  }

  hide() {}

  describeEngines() {
    const describe = (select, capability, hint) => {
      const engine = this.catalog.engine(capability, select.value);
      $(hint).textContent = engine?.description || "";
    };
    describe(this.f.translator, "translate", "#new-translator-hint");
    describe(this.f.synthesizer, "synthesize", "#new-synthesizer-hint");
  }

  refreshLanguages(preferred = undefined) {
    const translator = this.f.translator.value;
    const source = this.f.source.value;
    let targets = this.catalog.targetLanguages(translator, source).filter((t) => t.value !== baseCode(source));
    if (!targets.length) targets = this.catalog.targetLanguages(translator);
    const current = preferred ?? this.f.target.value;
    const fallback = targets.some((t) => t.value === "es") ? "es" : targets[0]?.value;
    fillSelect(this.f.target, targets, targets.some((t) => t.value === current) ? current : fallback);
    this.refreshVoices();
    this.describeEngines();
  }

  refreshVoices(preferred = undefined) {
    const target = this.f.target.value;
    const synthesizer = this.f.synthesizer.value;
    const voices = this.catalog.voices(target, synthesizer);
    fillSelect(
      this.f.voice,
      [{ value: "", label: "Automatic (best voice for the language)" }, ...voices],
      preferred ?? this.f.voice.value,
    );
    const hint = $("#new-voice-hint");
    const targetHint = $("#new-target-hint");
    if (target && !this.catalog.canSpeak(target, synthesizer)) {
      hint.textContent = `No usable voice speaks ${languageName(target)}${synthesizer ? ` in ${synthesizer}` : ""}.`;
    } else {
      hint.textContent = voices.length ? `${voices.length} voices speak ${languageName(target)}.` : "";
    }
    const sources = this.catalog.sourcesFor(this.f.translator.value, target);
    targetHint.textContent = sources.length
      ? `Can be translated from ${sources.map(languageName).join(", ")}.`
      : "";
    clearError(this.errors.target, this.f.target);
  }

  showSpeed() {
    this.f.maxSpeedOut.value = `×${Number(this.f.maxSpeed.value).toFixed(2)}`;
  }

  /** "source = target" lines -> [[source, target]]; null (with an error shown) if malformed. */
  parseForce() {
    const pairs = [];
    const bad = [];
    this.f.force.value.split("\n").forEach((line, index) => {
      if (!line.trim()) return;
      const match = line.match(/^(.+?)\s*(?:=|→|->|\t)\s*(.+)$/);
      if (match) pairs.push([match[1].trim(), match[2].trim()]);
      else bad.push(index + 1);
    });
    if (bad.length) {
      showError(
        this.errors.force,
        `Line ${bad.join(", ")}: write the word, an equals sign, then its translation (dub = doblaje).`,
        this.f.force,
      );
      return null;
    }
    clearError(this.errors.force, this.f.force);
    return pairs;
  }

  savePrefs() {
    local.set("new-dub-prefs", {
      target: this.f.target.value,
      source: this.f.source.value,
      translator: this.f.translator.value,
      synthesizer: this.f.synthesizer.value,
      voice: this.f.voice.value,
      maxSpeed: this.f.maxSpeed.value,
    });
  }

  options() {
    const options = {};
    if (this.f.translator.value) options.translator = this.f.translator.value;
    if (this.f.synthesizer.value) options.synthesizer = this.f.synthesizer.value;
    if (this.f.voice.value) options.voice = this.f.voice.value;
    const keep = this.f.keep.value.split("\n").map((s) => s.trim()).filter(Boolean);
    const force = this.parseForce();
    if (force === null) return null;
    if (keep.length || force.length) options.glossary = { keep, force };
    const maxSpeed = Number(this.f.maxSpeed.value);
    if (Math.abs(maxSpeed - 1.3) > 1e-6) options.timing = { max_speed: maxSpeed };
    const fit = $('input[name="fit"]:checked', this.form)?.value || "strict";
    if (fit !== "strict") options.timing = { ...(options.timing || {}), fit };
    if (!this.f.backTranscribe.checked) options.back_transcribe = false;
    const background = $('input[name="background"]:checked', this.form)?.value;
    if (background && background !== "auto") options.mix = { background };
    if (this.f.keepOriginal.checked) options.keep_original_audio = true;
    if (this.f.matchVoice.checked) options.match_voice = true;
    const formats = $$('input[name="audio_formats"]:checked', this.form).map((i) => i.value);
    if (formats.length && !(formats.length === 1 && formats[0] === "mp3")) options.audio_formats = formats;
    return options;
  }

  clearErrors() {
    showError(this.errors.form, "");
    clearError(this.errors.target, this.f.target);
    clearError(this.errors.source, this.f.source);
    this.picker.setError("");
  }

  async submit() {
    this.clearErrors();
    const file = this.picker.file;
    const url = this.f.url.value.trim();
    if (!file && !url) {
      this.picker.setError("Choose an audio or video file to dub, or give a link to one.");
      this.picker.input.focus();
      return;
    }
    if (!this.f.target.value) {
      showError(this.errors.target, "Choose the language to dub into.", this.f.target);
      this.f.target.focus();
      return;
    }
    const options = this.options();
    if (options === null) {
      this.f.force.focus();
      return;
    }
    const form = new FormData();
    form.append("target_language", this.f.target.value);
    if (this.f.source.value) form.append("source_language", this.f.source.value);
    if (Object.keys(options).length) form.append("options", JSON.stringify(options));
    if (file) form.append("file", file, file.name);
    else form.append("url", url);
    for (const name of ["transcript", "translation"]) {
      const subtitles = this.f[name].files[0];
      if (subtitles) form.append(name, subtitles, subtitles.name);
    }

    // The same key for retries of this very submission, so a lost answer never dubs twice.
    this.idempotencyKey ??= newKey();
    setBusy(this.f.submit, true, "Uploading…");
    this.f.progress.hidden = false;
    this.f.progress.value = 0;
    this.f.uploadStatus.textContent = "Uploading…";
    try {
      const created = await api.createDub(form, {
        idempotencyKey: this.idempotencyKey,
        onProgress: (fraction, state) => {
          this.f.progress.value = fraction;
          this.f.uploadStatus.textContent = state?.uploaded
            ? "Uploaded; checking the file…"
            : `Uploading… ${Math.round(fraction * 100)}%`;
        },
      });
      this.idempotencyKey = null;
      this.f.uploadStatus.textContent = "";
      announce("Upload complete. Dubbing started.");
      this.picker.reset();
      for (const input of [this.f.url, this.f.transcript, this.f.translation]) input.value = "";
      this.navigate(`#/dubs/${encodeURIComponent(created.id)}`);
    } catch (error) {
      this.f.uploadStatus.textContent = "";
      this.showSubmitError(error);
    } finally {
      setBusy(this.f.submit, false);
      this.f.progress.hidden = true;
    }
  }

  /** Put the server's message next to the field it is about. */
  showSubmitError(error) {
    const field = error.field;
    const fileCodes = new Set(["unsupported_media_type", "undecodable_media", "payload_too_large"]);
    announce(error.message, { assertive: true });
    if (fileCodes.has(error.code) || field === "file" || error.status === 413 || error.status === 415) {
      this.picker.setError(error.message);
      this.picker.input.focus();
    } else if (field === "target_language" || (error.code === "unsupported_language" && !this.f.source.value)) {
      showError(this.errors.target, error.message, this.f.target);
      this.f.target.focus();
    } else if (field === "source_language") {
      showError(this.errors.source, error.message, this.f.source);
      this.f.source.focus();
    } else {
      showError(this.errors.form, error.message);
    }
  }
}
