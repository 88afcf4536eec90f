// Unsaved edits, kept in memory and in localStorage until the server has them, so a failed
// save, a reload or a closed tab never loses what a person typed.

const PREFIX = "dubbing-studio:draft:";

function read(key) {
  try {
    return JSON.parse(localStorage.getItem(key) || "null");
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    if (value === null || (typeof value === "object" && !Object.keys(value).length)) {
      localStorage.removeItem(key);
    } else {
      localStorage.setItem(key, JSON.stringify(value));
    }
  } catch {
    /* storage full or disabled: the in-memory copy still holds the edit */
  }
}

/** Drafts of one dub's segments: {segmentId: {field: value}}. */
export class SegmentDrafts {
  constructor(dubId) {
    this.key = PREFIX + dubId;
    this.drafts = read(this.key) || {};
  }

  get(segmentId) {
    return this.drafts[segmentId] || null;
  }

  set(segmentId, field, value, serverValue) {
    const draft = { ...(this.drafts[segmentId] || {}) };
    if (value === serverValue) delete draft[field];
    else draft[field] = value;
    if (Object.keys(draft).length) this.drafts[segmentId] = draft;
    else delete this.drafts[segmentId];
    write(this.key, this.drafts);
  }

  /** Forget fields the server now has (only if they still hold the saved value). */
  saved(segmentId, changes) {
    const draft = this.drafts[segmentId];
    if (!draft) return;
    for (const [field, value] of Object.entries(changes)) {
      if (draft[field] === value) delete draft[field];
    }
    if (!Object.keys(draft).length) delete this.drafts[segmentId];
    write(this.key, this.drafts);
  }

  ids() {
    return Object.keys(this.drafts);
  }

  get size() {
    return this.ids().length;
  }

  discard() {
    this.drafts = {};
    write(this.key, null);
  }
}

/** A small keyed store for form text (quick mode) and preferences. */
export const local = {
  get(name, fallback = null) {
    const value = read(PREFIX + name);
    return value === null ? fallback : value;
  },
  set(name, value) {
    write(PREFIX + name, value);
  },
};
