"""The real studio (uvicorn on a loopback port, real engines) driven by Debian's Chromium
through Playwright. Every page fails its test on a console error or an uncaught exception,
unless the test said beforehand which error it provokes."""

from __future__ import annotations

import importlib.resources
import importlib.util
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dubbing_studio.api.app import create_app
from dubbing_studio.config import Settings
from dubbing_studio.web import PAGE_PATH
from tests.conftest import require
from tests.live import serving

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--mute-audio",
]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# axe-core, served from this machine: the PyPI package axe-playwright-python bundles it; the
# npm package (npm install --prefix .cache/npm axe-core) is looked for too.
AXE_LOCATIONS = (REPO_ROOT / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js",)


@pytest.fixture(scope="session")
def studio_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The whole studio (API + page) served by uvicorn, with a fresh data folder."""
    root = tmp_path_factory.mktemp("browser-studio")
    settings = Settings(
        data_dir=root / "data",
        temp_dir=root / "tmp",
        max_upload_mb=64,
        _env_file=None,  # type: ignore[call-arg]
    )
    with serving(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for the browser tests, closed when they are done: Playwright's sync API
    keeps an event loop running in this thread while it is open, which later async tests
    (pytest-asyncio) could not run beside."""
    require(
        "Playwright", importlib.util.find_spec("playwright") is not None, "pip install -e '.[dev]'"
    )
    require("Chromium", CHROMIUM.exists(), f"not at {CHROMIUM} (apt-get install chromium)")
    import playwright.sync_api as playwright_sync

    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Console:
    """Console errors and page errors seen on one page; `allow` names expected ones."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def record(self, text: str) -> None:
        if not any(p.search(text) for p in self.allowed):
            self.errors.append(text)


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: Any, studio_url: str, console: Console) -> Iterator[Any]:
    # bypass_csp lets the test inject axe-core; the page's own code runs under its CSP
    # (a violation would still be reported, as a console error, by the studio's headers).
    context = browser.new_context(
        viewport=DESKTOP, accept_downloads=True, bypass_csp=True, base_url=studio_url
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            console.record(f"console.{message.type}: {message.text}")
            if message.type in ("error", "assert")
            else None
        ),
    )
    page.on("pageerror", lambda error: console.record(f"page error: {error}"))
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()
    assert not console.errors, "console errors during the test:\n" + "\n".join(console.errors)


def is_mp3(data: bytes) -> bool:
    """An ID3 tag or an MPEG audio frame sync at the start."""
    return data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


def open_studio(page: Any, route: str = "#/") -> None:
    page.goto(f"{PAGE_PATH}{route}")
    page.wait_for_selector("html[data-ready='true']")


def screenshot(page: Any, name: str) -> None:
    """Save the page at desktop size and 390 px wide under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.evaluate("window.scrollTo(0, 0)")  # the sticky header belongs at the top
    page.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(150)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}-390.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page.set_viewport_size(size)
    assert overflow <= 0, f"{name}: the page is {overflow}px wider than a 390px screen"


def axe_source() -> str:
    try:
        bundled = importlib.resources.files("axe_playwright_python") / "axe.min.js"
        if bundled.is_file():
            return bundled.read_text(encoding="utf-8")
    except ModuleNotFoundError:
        pass
    for path in AXE_LOCATIONS:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    pytest.fail(
        "axe-core is not installed: pip install axe-playwright-python (bundles axe.min.js) "
        "or npm install --prefix .cache/npm axe-core"
    )


def check_accessibility(page: Any, name: str) -> None:
    """Run axe-core on the page as it is; fail on serious or critical violations."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(content=axe_source())
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' — ' + n.failureSummary),
            }));
        }"""
    )
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    report = "\n".join(
        f"{v['impact']}: {v['id']} ({v['help']})\n  " + "\n  ".join(v["nodes"]) for v in bad
    )
    assert not bad, f"accessibility violations on {name}:\n{report}"
