"""The studio page itself: served by the studio, offline, navigable by keyboard, accessible."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dubbing_studio.web import STATIC_DIR, wants_html
from tests.conftest import require_echo_plugin

from .conftest import check_accessibility, open_studio, screenshot

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("*/*", False),
        ("application/json", False),
        ("", False),
        ("text/html;q=0, application/json", False),
    ],
)
def test_wants_html(accept: str, expected: bool) -> None:
    assert wants_html(accept) is expected


def test_browsers_are_sent_to_the_studio_and_api_clients_keep_the_json_root(
    tmp_path: Path,
) -> None:
    from fastapi.testclient import TestClient

    from dubbing_studio.api.app import create_app
    from dubbing_studio.config import Settings

    settings = Settings(
        data_dir=tmp_path / "data",
        temp_dir=tmp_path / "tmp",
        allowed_hosts=["testserver"],  # TestClient's host name
        _env_file=None,  # type: ignore[call-arg]
    )
    client = TestClient(create_app(settings))  # no lifespan: no engines or database are needed here

    browser = client.get("/", headers={"Accept": BROWSER_ACCEPT}, follow_redirects=False)
    assert browser.status_code == 307
    assert browser.headers["location"] == "/studio"
    api = client.get("/", headers={"Accept": "application/json"})
    assert api.status_code == 200 and api.json()["message"] == "AI Dubbing Studio API"
    assert client.get("/").json()["docs"] == "/docs"  # httpx's default */*

    for path in ("/studio", "/studio/"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert 'src="/studio/static/app.js"' in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
    script = client.get("/studio/static/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert client.get("/studio/static/nope.js").status_code == 404
    assert client.get("/studio/static/../__init__.py").status_code == 404


def test_every_asset_is_local() -> None:
    """No CDN, no web font, no remote script: the page works offline."""
    remote = re.compile(r"""(?:src|href|url|import)\s*[=(]?\s*["']?(?:https?:)?//""", re.I)
    files = [p for p in STATIC_DIR.rglob("*") if p.suffix in {".html", ".js", ".css", ".svg"}]
    assert {p.name for p in files} >= {"index.html", "app.js", "styles.css"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not remote.search(text), f"{path.name} loads something from another host"
        if path.suffix == ".js":
            for module in re.findall(r"""from\s+["']([^"']+)["']""", text):
                assert module.startswith("./"), f"{path.name} imports {module}"
                assert (path.parent / module).is_file(), f"{path.name}: {module} is missing"


@pytest.mark.browser
def test_main_screens_look_right_and_pass_axe(page: Any) -> None:
    for route, name in (("#/", "projects"), ("#/new", "new-dub"), ("#/quick", "quick-mode")):
        open_studio(page, route)
        page.wait_for_load_state("networkidle")
        if name == "new-dub":
            page.wait_for_selector("#new-target option", state="attached")
            page.click("summary")  # show the glossary and timing options too
        screenshot(page, name)
        check_accessibility(page, f"{name} (light)")

    # Dark theme: the toggle cycles system -> light -> dark and is remembered.
    toggle = page.locator("#theme-toggle")
    toggle.click()
    toggle.click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert "dark" in (toggle.get_attribute("aria-label") or "")
    open_studio(page, "#/new")
    page.reload()
    page.wait_for_selector("html[data-theme='dark']")
    page.wait_for_selector("#new-target option", state="attached")
    screenshot(page, "new-dub-dark")
    check_accessibility(page, "new dub (dark)")
    open_studio(page, "#/quick")
    check_accessibility(page, "quick mode (dark)")


def focused(page: Any) -> dict[str, str]:
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const outline = getComputedStyle(el).outlineStyle;
            return {id: el.id, tag: el.tagName.toLowerCase(), text: (el.textContent || '').trim(),
                    label: el.getAttribute('aria-label') || '', nav: el.dataset.nav || '',
                    outline};
        }"""
    )


@pytest.mark.browser
def test_keyboard_alone_reaches_every_main_control(page: Any) -> None:
    open_studio(page, "#/new")
    page.wait_for_selector("#new-target option", state="attached")
    seen: list[dict[str, str]] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        seen.append(focused(page))
    ids = {f["id"] for f in seen}
    navs = {f["nav"] for f in seen}
    assert seen[0]["id"] == "skip-link"
    assert {"projects", "new", "quick"} <= navs
    assert {"theme-toggle", "new-file", "new-target", "new-source", "new-submit"} <= ids
    assert {"new-translator", "new-synthesizer", "new-voice"} <= ids
    # What has focus is visible (the file input is hidden; its label shows the ring).
    for item in seen:
        if item["id"] not in ("new-file", ""):
            assert item["outline"] != "none", f"no visible focus on {item}"

    # Keyboard navigation: Enter on the quick-mode link opens it and moves focus to its title.
    open_studio(page, "#/")
    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the skip link
    assert focused(page)["id"] == "main"
    page.focus("[data-nav='quick']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#view-quick:not([hidden])")
    assert focused(page)["id"] == "quick-title"
    reached = set()
    for _ in range(30):
        page.keyboard.press("Tab")
        reached.add(focused(page)["id"])
    assert {
        "quick-file",
        "quick-transcribe",
        "quick-text",
        "quick-translate",
        "quick-speak",
    } <= reached


def test_static_dir_is_inside_the_package() -> None:
    assert STATIC_DIR.is_dir() and (STATIC_DIR / "index.html").is_file()
    assert Path(STATIC_DIR).parent.name == "web"


@pytest.mark.browser
def test_right_to_left_text_is_shown_right_to_left(page: Any) -> None:
    open_studio(page, "#/quick")
    # Typed Hebrew in a dir="auto" field runs right to left.
    page.fill("#quick-text", "שלום לכולם, זהו ניסיון")
    assert page.evaluate("document.querySelector('#quick-text').matches(':dir(rtl)')")
    # A field for a right-to-left language gets dir="rtl" and its lang.
    result = page.evaluate(
        """async () => {
            const {applyLanguage, dirFor} = await import('/studio/static/catalog.js');
            const area = document.createElement('textarea');
            document.body.append(area);
            applyLanguage(area, 'he');
            const he = [area.dir, area.lang, getComputedStyle(area).direction];
            applyLanguage(area, 'es');
            const es = [area.dir, area.lang];
            area.remove();
            return {he, es, ar: dirFor('ar'), fa: dirFor('fa-IR'), ur: dirFor('ur'),
                    yi: dirFor('yi'), en: dirFor('en')};
        }"""
    )
    assert result["he"] == ["rtl", "he", "rtl"]
    assert result["es"] == ["auto", "es"]
    assert [result[k] for k in ("ar", "fa", "ur", "yi", "en")] == ["rtl"] * 4 + ["ltr"]


@pytest.mark.browser
def test_the_new_dub_form_offers_plugin_and_local_llm_translators(page: Any) -> None:
    require_echo_plugin()
    open_studio(page, "#/new")
    page.wait_for_selector("#new-translator option[value='echo']", state="attached")
    labels = page.eval_on_selector_all(
        "#new-translator option", "options => options.map(o => [o.value, o.textContent])"
    )
    offered = dict(labels)
    assert offered["echo"] == "echo (plugin)"
    assert offered["llamacpp"].startswith("llamacpp")
    assert offered["apertium"] == "apertium"
