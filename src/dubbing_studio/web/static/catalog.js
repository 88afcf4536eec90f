// Languages and engines as the forms offer them, built from GET /api/v1/engines.

const RTL = new Set(["ar", "he", "iw", "fa", "ur", "yi", "ps", "sd", "ug", "dv", "ckb", "syr"]);

let displayNames = null;
try {
  displayNames = new Intl.DisplayNames(["en"], { type: "language" });
} catch {
  displayNames = null;
}

export function baseCode(code) {
  return String(code || "").toLowerCase().split(/[-_]/)[0];
}

/** "es" -> "Spanish"; unknown codes are shown as they are. */
export function languageName(code) {
  if (!code) return "";
  try {
    const name = displayNames?.of(code);
    if (name && name.toLowerCase() !== String(code).toLowerCase()) return name;
  } catch {
    /* not a valid tag: fall through */
  }
  return String(code);
}

/** Text direction for text in a language: "rtl" for Hebrew, Arabic, Persian, Urdu… */
export function dirFor(code) {
  return RTL.has(baseCode(code)) ? "rtl" : "ltr";
}

/** Set lang and dir of a text control for a language: right to left for RTL languages,
 * otherwise dir="auto" (so a line typed in another script still shows the right way). */
export function applyLanguage(el, code) {
  if (code) el.lang = baseCode(code);
  else el.removeAttribute("lang");
  el.dir = code && dirFor(code) === "rtl" ? "rtl" : "auto";
}

function sortByName(codes) {
  return [...new Set(codes.map(baseCode))]
    .filter(Boolean)
    .map((code) => ({ value: code, label: languageName(code) }))
    .sort((a, b) => a.label.localeCompare(b.label));
}

export class Catalog {
  constructor(data) {
    this.engines = data.engines || [];
    this.defaults = data.defaults || {};
  }

  of(capability) {
    return this.engines.filter((e) => e.capability === capability);
  }

  engine(capability, name) {
    const list = this.of(capability);
    return list.find((e) => e.name === (name || this.defaults[capability])) || list.find((e) => e.default);
  }

  /** Options for an engine select: "Automatic" first, unusable engines disabled with why. */
  engineOptions(capability) {
    const fallback = this.defaults[capability];
    return [
      { value: "", label: fallback ? `Automatic (${fallback})` : "Automatic" },
      ...this.of(capability).map((e) => ({
        value: e.name,
        label: e.available
          ? `${e.name}${e.plugin ? " (plugin)" : ""}`
          : `${e.name} — unavailable: ${e.reason || "not set up"}`,
        title: e.description,
        disabled: !e.available,
      })),
    ];
  }

  /** Languages speech can be recognised in. */
  sourceLanguages() {
    const codes = this.of("transcribe").filter((e) => e.available).flatMap((e) => e.languages);
    return sortByName(codes);
  }

  /** Languages a translator (or every usable one) can write, optionally from `source`. */
  targetLanguages(translatorName = "", source = "") {
    const translators = this.of("translate").filter(
      (e) => e.available && (!translatorName || e.name === translatorName),
    );
    const codes = [];
    for (const engine of translators) {
      if (engine.pairs?.length) {
        for (const pair of engine.pairs) {
          if (!source || baseCode(pair.source) === baseCode(source)) codes.push(pair.target);
        }
      } else {
        codes.push(...engine.languages);
      }
    }
    return sortByName(codes);
  }

  /** Which source languages a translator can translate into `target` (empty: any). */
  sourcesFor(translatorName, target) {
    const engine = this.engine("translate", translatorName);
    if (!engine?.pairs?.length) return [];
    return engine.pairs.filter((p) => baseCode(p.target) === baseCode(target)).map((p) => p.source);
  }

  /** Voices that speak `language`, as {value: "engine:voice", label, group}. */
  voices(language, synthesizerName = "") {
    const lang = baseCode(language);
    const items = [];
    for (const engine of this.of("synthesize")) {
      if (!engine.available || (synthesizerName && engine.name !== synthesizerName)) continue;
      for (const voice of engine.voices || []) {
        const langs = (voice.languages?.length ? voice.languages : [voice.language]).map(baseCode);
        if (lang && !langs.includes(lang)) continue;
        const gender = voice.gender ? `, ${voice.gender}` : "";
        items.push({
          value: `${engine.name}:${voice.id}`,
          label: `${voice.name || voice.id}${gender}`,
          group: engine.name,
          engine: engine.name,
          voice: voice.id,
        });
      }
    }
    return items;
  }

  /** Whether any usable synthesizer (or the named one) speaks `language`. */
  canSpeak(language, synthesizerName = "") {
    const lang = baseCode(language);
    return this.of("synthesize").some(
      (e) =>
        e.available &&
        (!synthesizerName || e.name === synthesizerName) &&
        (e.languages.map(baseCode).includes(lang) || this.voices(lang, e.name).length > 0),
    );
  }
}
