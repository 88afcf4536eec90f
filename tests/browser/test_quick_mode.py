"""Quick mode end to end on real speech: transcribe, edit the text, translate, speak."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import Console, check_accessibility, is_mp3, open_studio, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_quick_mode_transcribe_edit_translate_speak(page: Any, samples_dir: Path) -> None:
    open_studio(page, "#/quick")
    page.wait_for_selector("#quick-target option", state="attached")
    page.set_input_files("#quick-file", str(samples_dir / "jfk.flac"))
    assert "jfk.flac" in page.inner_text("#quick-file-info")
    page.click("#quick-transcribe")
    page.wait_for_function(
        "document.querySelector('#quick-text').value.length > 20", timeout=120_000
    )
    transcript = page.input_value("#quick-text").lower()
    assert "ask not what your country can do for you" in transcript
    assert page.input_value("#quick-from") == "en"
    assert "English" in page.inner_text("#quick-detected")

    # Edit the transcript before translating: the edit is what gets translated.
    page.fill("#quick-text", "My fellow Americans, ask what you can do for your country.")
    page.select_option("#quick-target", "es")
    page.click("#quick-translate")
    page.wait_for_function(
        "document.querySelector('#quick-translation').value.length > 10", timeout=60_000
    )
    translation = page.input_value("#quick-translation").lower()
    assert "americanos" in translation or "país" in translation
    assert page.get_attribute("#quick-translation", "lang") == "es"

    page.click("#quick-speak")
    page.wait_for_selector("#quick-output:not([hidden])", timeout=120_000)
    audio = page.evaluate(
        """async () => {
            const a = document.querySelector('#quick-audio');
            const bytes = new Uint8Array(await (await fetch(a.src)).arrayBuffer());
            return {head: Array.from(bytes.slice(0, 4)), size: bytes.length};
        }"""
    )
    assert is_mp3(bytes(audio["head"]))
    assert audio["size"] > 5_000

    # The player really plays it.
    page.evaluate("document.querySelector('#quick-audio').play()")
    page.wait_for_function(
        "document.querySelector('#quick-audio').currentTime > 0.2", timeout=15_000
    )
    with page.expect_download() as download_info:
        page.click("#quick-download")
    download = download_info.value
    assert is_mp3(Path(download.path()).read_bytes())
    assert download.suggested_filename == "speech.mp3"

    check_accessibility(page, "quick mode with results")
    screenshot(page, "quick-mode-done")

    # The texts survive a reload.
    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    assert page.input_value("#quick-text").startswith("My fellow Americans")
    assert page.input_value("#quick-translation").lower() == translation


def test_a_file_that_is_not_media_gets_a_readable_error_next_to_it(
    page: Any, console: Console, tmp_path: Path
) -> None:
    console.allow(r"status of 415")  # the browser logs the refused upload itself
    fake = tmp_path / "song.mp3"
    fake.write_text("This is a shopping list, not a song.\n" * 20)
    open_studio(page, "#/quick")
    page.set_input_files("#quick-file", str(fake))
    page.click("#quick-transcribe")
    error = page.locator("#quick-file-error")
    error.wait_for(state="visible", timeout=30_000)
    assert "is not an audio or video file" in error.inner_text()
    assert page.get_attribute("#quick-file", "aria-invalid") == "true"
    assert "quick-file-error" in (page.get_attribute("#quick-file", "aria-describedby") or "")
    screenshot(page, "quick-mode-bad-file")
