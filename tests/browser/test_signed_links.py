"""With API keys on, the page's players, line previews and downloads work through signed
links: an <audio> element or a download cannot send the key the page holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr

from dubbing_studio import media
from dubbing_studio.api.app import create_app
from dubbing_studio.config import Settings
from dubbing_studio.domain.dub import DubPlan, Segment, SegmentStatus
from dubbing_studio.domain.jobs import DubJob, JobStatus
from dubbing_studio.web import PAGE_PATH
from tests.live import serving

from .conftest import DESKTOP, Console, is_mp3

KEY = "browser-signed-links-key"
DUB_ID = "5151515151515151"


def _tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)


@pytest.fixture(scope="module")
def keyed_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A studio with a key, holding one finished dub (put straight into its store)."""
    root = tmp_path_factory.mktemp("keyed-studio")
    settings = Settings(
        data_dir=root / "data",
        temp_dir=root / "tmp",
        api_keys=[SecretStr(KEY)],
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings)
    with serving(app) as url:
        service = app.state.dubs
        folder = service.projects / DUB_ID
        (folder / "outputs").mkdir(parents=True)
        media.write_audio(folder / "input.wav", _tone(2.0, 16_000), 16_000, "wav")
        media.write_audio(folder / "outputs" / "audio.mp3", _tone(2.0, 24_000), 24_000, "mp3")
        now = datetime.now(UTC)
        service.store.create_job(
            DubJob(
                id=DUB_ID,
                created_at=now,
                updated_at=now,
                status=JobStatus.SUCCEEDED,
                input_name="tone.wav",
                input_path=str(folder / "input.wav"),
                input_digest="0" * 64,
                plan=DubPlan(target_language="es", source_language="en"),
                source_language="en",
                duration_s=2.0,
                progress=1.0,
                outputs={"audio.mp3": "audio.mp3"},
                segments_done=1,
                segments_total=1,
            )
        )
        line = Segment(
            id="s1", start=0.5, end=1.5, speaker="S1", source_text="Hello.", target_text="Hola."
        )
        service.store.replace_segments(DUB_ID, [line.edited(status=SegmentStatus.READY)], "en")
        yield url


@pytest.fixture
def keyed_page(browser: Any, keyed_studio: str, console: Console) -> Iterator[Any]:
    context = browser.new_context(
        viewport=DESKTOP, accept_downloads=True, bypass_csp=True, base_url=keyed_studio
    )
    context.set_default_timeout(15_000)
    context.add_init_script(f"localStorage.setItem('dubbing-studio:api-key', '{KEY}')")
    page = context.new_page()
    page.on("console", lambda m: console.record(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: console.record(f"page error: {error}"))
    yield page
    context.close()
    assert not console.errors, "console errors during the test:\n" + "\n".join(console.errors)


def test_the_result_plays_lines_preview_and_downloads_work_with_keys_on(
    keyed_page: Any, keyed_studio: str
) -> None:
    page = keyed_page
    assert page.request.get(f"{keyed_studio}/api/v1/dubs/{DUB_ID}").status == 401  # keys on
    page.goto(f"{PAGE_PATH}#/dubs/{DUB_ID}")
    page.wait_for_selector("html[data-ready='true']")
    page.wait_for_selector("#project-status[data-status='succeeded']")

    player = "document.querySelector('#result-player')"
    page.wait_for_function(f"{player} && {player}.readyState >= 1")  # metadata came through
    assert "sig=" in page.evaluate(f"{player}.src")
    page.evaluate(f"{player}.play()")
    page.wait_for_function(f"{player}.currentTime > 0.2")

    page.locator("#segments .seg").first.locator("[data-action='play-source']").click()
    page.wait_for_function(
        "document.querySelector(\"#segments .seg [data-action='play-source']\")"
        ".getAttribute('aria-pressed') === 'true'"
    )

    with page.expect_download() as info:
        page.click("#result-downloads a[data-output='audio.mp3']")
    assert is_mp3(Path(info.value.path()).read_bytes())
