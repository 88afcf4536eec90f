// The studio page: a hash router over four views, the colour theme, and focus management.
//   #/            projects          #/new         new dub
//   #/quick       quick mode        #/dubs/{id}   one dub: progress, lines, result

import { setApiKey } from "./api.js";
import { $, $$, h } from "./dom.js";
import { local } from "./drafts.js";
import { ProjectView } from "./project.js";
import { ProjectsView } from "./projects.js";
import { QuickView } from "./quick.js";
import { NewDubView } from "./upload.js";

// ---- theme: follow the system, or light, or dark -------------------------------------
const THEMES = ["system", "light", "dark"];
const THEME_LABELS = { system: "follow system", light: "light", dark: "dark" };

function applyTheme(theme) {
  const root = document.documentElement;
  if (theme === "system") root.removeAttribute("data-theme");
  else root.dataset.theme = theme;
  const button = $("#theme-toggle");
  const label = `Colour theme: ${THEME_LABELS[theme]}`;
  button.setAttribute("aria-label", label);
  button.title = `${label} (click to change)`;
}

function setupTheme() {
  let theme = local.get("theme", "system");
  if (!THEMES.includes(theme)) theme = "system";
  applyTheme(theme);
  $("#theme-toggle").addEventListener("click", () => {
    theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    local.set("theme", theme);
    applyTheme(theme);
  });
}

// ---- an API key, when the studio asks for one ----------------------------------------
function setupApiKeyPrompt() {
  const banner = $("#connection-banner");
  window.addEventListener("studio:unauthorized", () => {
    if (!banner.hidden) return;
    const input = h("input", { type: "password", id: "api-key", autocomplete: "off" });
    const form = h(
      "form",
      { class: "inline" },
      h("label", { for: "api-key" }, "This studio needs an API key:"),
      input,
      h("button", { class: "button", type: "submit" }, "Use key"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      setApiKey(input.value.trim());
      location.reload();
    });
    banner.replaceChildren(form);
    banner.hidden = false;
    input.focus();
  });
}

// ---- router --------------------------------------------------------------------------
const routes = [
  { pattern: /^#?\/?$/, view: "projects" },
  { pattern: /^#\/new$/, view: "new" },
  { pattern: /^#\/quick$/, view: "quick" },
  { pattern: /^#\/dubs\/([^/]+)$/, view: "project", params: (m) => ({ id: decodeURIComponent(m[1]) }) },
];

function main() {
  setupTheme();
  setupApiKeyPrompt();

  const navigate = (hash) => {
    if (location.hash === hash) route();
    else location.hash = hash;
  };
  const views = {
    projects: new ProjectsView(),
    new: new NewDubView({ navigate }),
    quick: new QuickView(),
    project: new ProjectView(),
  };
  let current = null;
  let first = true;

  function route() {
    const hash = location.hash || "#/";
    if (!hash.startsWith("#/") && hash !== "#") return; // an in-page anchor
    let name = "missing";
    let params = {};
    for (const r of routes) {
      const match = hash.match(r.pattern);
      if (match) {
        name = r.view;
        params = r.params ? r.params(match) : {};
        break;
      }
    }
    if (current && current !== views[name]) current.hide();
    for (const section of $$(".view")) section.hidden = section.id !== `view-${name}`;
    for (const link of $$("[data-nav]")) {
      if (link.dataset.nav === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    current = views[name] || null;
    if (current) current.show(params);
    else document.title = "Not found — Dubbing Studio";
    if (!first) {
      // Move focus to the new view's heading so keyboard and screen-reader users land there.
      // (After the browser's own fragment handling, which would take focus back to <body>.)
      const heading = $(`#view-${name} h1`);
      if (heading) {
        heading.tabIndex = -1;
        setTimeout(() => {
          heading.focus({ preventScroll: true });
          window.scrollTo(0, 0);
        }, 0);
      }
    }
    first = false;
  }

  $("#skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    $("#main").focus();
  });
  window.addEventListener("hashchange", route);
  route();
  document.documentElement.dataset.ready = "true";
}

main();
