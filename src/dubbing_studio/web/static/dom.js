// Small DOM and formatting helpers shared by every view.

/** Create an element: h("button", {class: "button", onclick: fn, "aria-label": "Play"}, "Play"). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "value") el.value = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key in el && !key.includes("-") && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** Tell screen readers about a change; assertive for errors. */
export function announce(message, { assertive = false } = {}) {
  const region = document.getElementById(assertive ? "alerter" : "announcer");
  if (!region) return;
  region.textContent = "";
  // A fresh text node after a tick makes repeated messages heard again.
  setTimeout(() => { region.textContent = message; }, 30);
}

/** Show an error next to what caused it; `field` (optional) is marked aria-invalid. */
export function showError(box, message, field = null) {
  if (!box) return;
  box.textContent = message;
  box.hidden = !message;
  if (field) field.setAttribute("aria-invalid", message ? "true" : "false");
}

export function clearError(box, field = null) {
  showError(box, "", field);
  if (field) field.removeAttribute("aria-invalid");
}

export function setBusy(button, busy, busyLabel = null) {
  if (busy) {
    button.dataset.label ??= button.textContent;
    if (busyLabel) button.textContent = busyLabel;
    button.setAttribute("aria-busy", "true");
    button.disabled = true;
  } else {
    if (button.dataset.label) button.textContent = button.dataset.label;
    delete button.dataset.label;
    button.removeAttribute("aria-busy");
    button.disabled = false;
  }
}

/** 75.3 -> "1:15.3" (tenths shown for line times). */
export function formatTime(seconds, { tenths = true } = {}) {
  if (!Number.isFinite(seconds)) return "–";
  const sign = seconds < 0 ? "-" : "";
  let s = Math.abs(seconds);
  const hours = Math.floor(s / 3600);
  s -= hours * 3600;
  const minutes = Math.floor(s / 60);
  s -= minutes * 60;
  const secs = tenths ? s.toFixed(1).padStart(4, "0") : String(Math.floor(s)).padStart(2, "0");
  return hours
    ? `${sign}${hours}:${String(minutes).padStart(2, "0")}:${secs}`
    : `${sign}${minutes}:${secs}`;
}

/** Seconds as words for durations and ETAs: "45 s", "3 min 05 s", "1 h 02 min". */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds)) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

export function formatEta(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 5) return "almost done";
  return `about ${formatDuration(seconds)} left`;
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "";
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit && value < 10 ? 1 : 0)} ${units[unit]}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : dateFormat.format(date);
}

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return [...crypto.getRandomValues(new Uint8Array(16))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** Replace a select's options: items are {value, label, disabled?, group?}. */
export function fillSelect(select, items, selected = undefined) {
  const keep = selected === undefined ? select.value : selected;
  select.replaceChildren();
  const groups = new Map();
  for (const item of items) {
    const option = h("option", { value: item.value, disabled: Boolean(item.disabled) }, item.label);
    if (item.title) option.title = item.title;
    if (item.group) {
      if (!groups.has(item.group)) {
        const group = h("optgroup", { label: item.group });
        groups.set(item.group, group);
        select.append(group);
      }
      groups.get(item.group).append(option);
    } else {
      select.append(option);
    }
  }
  const values = items.filter((i) => !i.disabled).map((i) => i.value);
  if (values.includes(keep)) select.value = keep;
  else if (values.length) select.value = values[0];
}
