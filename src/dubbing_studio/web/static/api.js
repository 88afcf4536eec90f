// The studio's HTTP API, as the page uses it. Every failure becomes an ApiError whose
// `message` is fit to show a person (the server's `detail`, or plain words for the rest).

const KEY_STORAGE = "dubbing-studio:api-key";

/** The app's root URL (a proxy may serve the studio under a path prefix). */
const ROOT = new URL(document.querySelector('meta[name="studio-root"]')?.content || "/", location.origin);

export class ApiError extends Error {
  constructor(status, message, code = "error", errors = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.errors = errors;
  }

  /** The first request field the server blamed, e.g. "target_language". */
  get field() {
    const loc = this.errors?.[0]?.loc;
    return Array.isArray(loc) ? loc[loc.length - 1] : null;
  }
}

/** Resolve an API path ("api/v1/engines") or a link from the API ("/api/v1/dubs/x"). */
export function url(path) {
  if (/^https?:/.test(path)) return path;
  if (path.startsWith("/")) {
    const rootPath = ROOT.pathname.replace(/\/$/, "");
    // Links from the API are absolute paths; keep them under a proxy's root path.
    const full = rootPath && !path.startsWith(`${rootPath}/`) ? rootPath + path : path;
    return new URL(full, ROOT.origin).href;
  }
  return new URL(path, ROOT).href;
}

export function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function setApiKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

const FALLBACK_MESSAGES = {
  400: "The studio could not use that request.",
  401: "This studio needs an API key.",
  403: "This API key may not do that.",
  404: "That no longer exists on the studio (it may have been deleted).",
  409: "That can't be done right now: the dub is busy. Try again when it has finished.",
  413: "The file is too large for this studio.",
  415: "That file is not audio or video.",
  422: "Some values were not accepted.",
  429: "The studio is busy. Wait a moment and try again.",
  500: "Something went wrong on the studio. The server log has the details.",
  502: "The studio's server is not answering properly. Try again shortly.",
  503: "That engine can't run on this studio right now.",
};

const NETWORK_MESSAGE =
  "Can't reach the studio. Check that it is running and that you are online, then try again.";

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.status === 401) window.dispatchEvent(new Event("studio:unauthorized"));
  const detail = typeof body?.detail === "string" ? body.detail : null;
  const message =
    detail || FALLBACK_MESSAGES[response.status] || `The studio answered ${response.status}.`;
  return new ApiError(response.status, message, body?.error_code || "http_error", body?.errors);
}

/**
 * fetch() with the studio's conventions. `json` sends a JSON body; `as` is "json" (default),
 * "blob", "text" or "response".
 */
export async function request(path, { method = "GET", json, body, headers = {}, signal, as = "json" } = {}) {
  const init = { method, signal, headers: { Accept: "application/json", ...authHeaders(), ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  let response;
  try {
    response = await fetch(url(path), init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, NETWORK_MESSAGE, "network_error");
  }
  if (!response.ok) throw await errorFrom(response);
  if (as === "response") return response;
  if (as === "blob") return response.blob();
  if (as === "text") return response.text();
  if (response.status === 204) return null;
  return response.json();
}

/**
 * A multipart upload with progress (fetch cannot report upload progress; XHR can).
 * Resolves with the parsed JSON body.
 */
export function upload(path, form, { headers = {}, onProgress = () => {}, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url(path));
    xhr.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries({ ...authHeaders(), ...headers })) {
      xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.upload.onload = () => onProgress(1, { uploaded: true });
    xhr.onerror = () => reject(new ApiError(0, NETWORK_MESSAGE, "network_error"));
    xhr.onabort = () => reject(new DOMException("Upload cancelled", "AbortError"));
    xhr.onload = async () => {
      const response = new Response(xhr.response, {
        status: xhr.status,
        headers: { "Content-Type": xhr.getResponseHeader("Content-Type") || "" },
      });
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(await response.json());
        } catch {
          reject(new ApiError(xhr.status, "The studio sent an answer the page can't read.", "bad_response"));
        }
      } else {
        reject(await errorFrom(response));
      }
    };
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(form);
  });
}

// ---- endpoints ------------------------------------------------------------------------

let enginesPromise = null;

export const api = {
  engines({ refresh = false } = {}) {
    if (!enginesPromise || refresh) {
      enginesPromise = request("api/v1/engines").catch((error) => {
        enginesPromise = null;
        throw error;
      });
    }
    return enginesPromise;
  },

  listDubs({ limit = 20, offset = 0 } = {}) {
    return request(`api/v1/dubs?limit=${limit}&offset=${offset}`);
  },
  getDub: (id) => request(`api/v1/dubs/${encodeURIComponent(id)}`),
  createDub: (form, { idempotencyKey, onProgress, signal } = {}) =>
    upload("api/v1/dubs", form, {
      headers: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {},
      onProgress,
      signal,
    }),
  segments: (id) => request(`api/v1/dubs/${encodeURIComponent(id)}/segments`),
  patchSegment: (id, sid, changes) =>
    request(`api/v1/dubs/${encodeURIComponent(id)}/segments/${encodeURIComponent(sid)}`, {
      method: "PATCH",
      json: changes,
    }),
  synthesize: (id, sid) =>
    request(`api/v1/dubs/${encodeURIComponent(id)}/segments/${encodeURIComponent(sid)}/synthesize`, {
      method: "POST",
      as: "blob",
    }),
  render: (id) => request(`api/v1/dubs/${encodeURIComponent(id)}/render`, { method: "POST" }),
  cancel: (id) => request(`api/v1/dubs/${encodeURIComponent(id)}/cancel`, { method: "POST" }),
  remove: (id) => request(`api/v1/dubs/${encodeURIComponent(id)}`, { method: "DELETE" }),
  eventsUrl: (id) => `api/v1/dubs/${encodeURIComponent(id)}/events`,
  inputUrl: (id) => `api/v1/dubs/${encodeURIComponent(id)}/input`,

  // The seed's three steps (quick mode).
  transcribe: (form, { onProgress, signal } = {}) =>
    upload("api/v1/audio/transcribe", form, { onProgress, signal }),
  translate: (body) => request("api/v1/audio/translate", { method: "POST", json: body }),
  tts: (body) => request("api/v1/audio/tts", { method: "POST", json: body, as: "blob" }),
};
