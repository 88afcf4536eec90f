"""A dub project in the browser, on real speech and real engines: upload, follow the run live,
edit a line, re-voice it, render, listen, download, come back later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import Console, check_accessibility, is_mp3, open_studio, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUN_TIMEOUT_MS = 240_000
EDITED = "Y así, mis queridos compatriotas,"

# Records what the live view showed while the run went on (it is over before a test could
# look at each step).
WATCH_RUN = """() => {
    const seen = window.__seen = {stages: [], percents: [], rowsWhileRunning: 0, statuses: []};
    const record = () => {
        const stage = document.querySelector('#run-stages [data-state="current"]');
        const key = stage && stage.dataset.stage;
        if (key && !seen.stages.includes(key)) seen.stages.push(key);
        const pct = document.querySelector('#run-bar')?.getAttribute('aria-valuenow');
        if (pct && seen.percents.at(-1) !== pct) seen.percents.push(pct);
        const status = document.querySelector('#project-status')?.dataset.status;
        if (status && seen.statuses.at(-1) !== status) seen.statuses.push(status);
        if (status === 'running') {
            seen.rowsWhileRunning = Math.max(
                seen.rowsWhileRunning, document.querySelectorAll('#segments .seg').length);
        }
    };
    new MutationObserver(record).observe(document.body,
        {subtree: true, childList: true, attributes: true, characterData: true});
}"""


def row(page: Any, index: int) -> Any:
    return page.locator("#segments .seg").nth(index)


def wait_until_done(page: Any) -> None:
    page.wait_for_selector("#project-status[data-status='succeeded']", timeout=RUN_TIMEOUT_MS)
    page.wait_for_selector("#run-panel", state="hidden")


def download(page: Any, output: str) -> bytes:
    with page.expect_download() as info:
        page.click(f"#result-downloads a[data-output='{output}']")
    return Path(info.value.path()).read_bytes()


def test_dub_edit_revoice_render_listen_download(
    page: Any, console: Console, samples_dir: Path
) -> None:
    # --- upload ---------------------------------------------------------------------------
    open_studio(page, "#/new")
    page.wait_for_selector("#new-target option[value='es']", state="attached")
    page.set_input_files("#new-file", str(samples_dir / "jfk.flac"))
    page.select_option("#new-target", "es")
    page.evaluate(WATCH_RUN)
    page.click("#new-submit")
    page.wait_for_url("**/studio#/dubs/*")
    dub_id = page.evaluate("location.hash").split("/")[-1]

    # --- follow the run live ----------------------------------------------------------------
    page.wait_for_selector("#run-panel:not([hidden])")
    screenshot_taken = False
    try:
        page.wait_for_selector("#segments .seg", timeout=RUN_TIMEOUT_MS)
        if page.get_attribute("#project-status", "data-status") == "running":
            screenshot(page, "dub-running")
            screenshot_taken = True
    finally:
        wait_until_done(page)
    seen = page.evaluate("window.__seen")
    assert "running" in seen["statuses"] and seen["statuses"][-1] == "succeeded"
    assert {"transcribe", "synthesize"} <= set(seen["stages"]), seen
    assert len(seen["percents"]) >= 3 and seen["percents"][-1] == "100", seen
    assert seen["rowsWhileRunning"] >= 1, "lines should appear while the dub runs"
    assert screenshot_taken or seen["rowsWhileRunning"]

    rows = page.locator("#segments .seg")
    assert rows.count() >= 2
    assert page.locator("#timeline-regions .region").count() == rows.count()
    sources = " ".join(
        page.eval_on_selector_all(
            "#segments textarea[id$='-source']", "areas => areas.map(a => a.value)"
        )
    )
    assert "ask not what your country" in sources.lower()
    assert page.locator("#segments .seg[data-status='stale']").count() == 0
    assert page.locator("#result-panel").is_visible()
    assert page.get_attribute("#segments .seg textarea[id$='-target']", "lang") == "es"
    page.wait_for_selector("#result-quality:not([hidden])")
    totals = page.inner_text("#quality-totals")
    assert "Speech covered by lines" in totals and "Heard back: word error rate" in totals
    assert page.locator("#quality-lines li", has_text="Heard:").count() == rows.count()
    assert page.locator("#segments .seg .badge.info", has_text="English").count() == rows.count()
    screenshot(page, "dub-done")
    check_accessibility(page, "dub project (done)")

    # --- keyboard alone reaches the player, downloads, timeline and every line control -----
    page.focus("#project-title")
    reached: list[str] = []
    for _ in range(45):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                """() => { const el = document.activeElement;
                    return el.id || el.dataset.action || el.dataset.output || el.className
                        || el.getAttribute('name') || el.tagName; }"""
            )
        )
    for control in ("soundtrack", "result-subtitles", "audio.mp3", "zoom-in", "region"):
        assert control in reached, f"Tab never reached {control}: {reached}"
    assert any(r.endswith("-target") for r in reached) and "play-source" in reached
    assert "revoice" in reached
    # Arrow keys move along the timeline; Enter jumps to that line's translation.
    page.locator("#timeline-regions .region").first.focus()
    page.keyboard.press("ArrowRight")
    second_id = page.evaluate("document.activeElement.dataset.id")
    assert second_id == row(page, 1).get_attribute("data-id")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == f"seg-{second_id}-target"
    assert "selected" in (row(page, 1).get_attribute("class") or "")
    # The project view in the dark theme.
    page.evaluate("document.documentElement.dataset.theme = 'dark'")
    check_accessibility(page, "dub project (dark)")
    page.evaluate("delete document.documentElement.dataset.theme")

    # --- edit one translation: saved on leaving the field, line marked stale ---------------
    first = row(page, 0)
    target = first.locator("textarea[id$='-target']")
    target.fill(EDITED)
    assert first.locator(".unsaved").is_visible()
    page.keyboard.press("Tab")  # leaving the field saves it
    first.locator(".unsaved").wait_for(state="hidden")
    page.wait_for_selector("#segments .seg:first-child[data-status='stale']")
    assert "Changed" in first.locator(".badge[data-status='stale']").inner_text()
    page.wait_for_selector("#editor-render[data-pending='1']")
    assert not page.is_disabled("#editor-render")
    page.wait_for_selector("#result-stale:not([hidden])")
    assert page.locator("#timeline-regions .region[data-status='stale']").count() == 1

    # --- re-voice it: playable now, still stale until rendered -----------------------------
    first.locator("[data-action='revoice']").click()
    first.locator(".seg-msg", has_text="Re-voiced").wait_for(timeout=120_000)
    assert first.get_attribute("data-status") == "stale"

    # --- play a line: the audio element really plays -------------------------------------
    page.evaluate(
        """() => { window.__played = false;
            document.querySelector('#line-audio').addEventListener('playing',
                () => { window.__played = true; }, {once: true}); }"""
    )
    row(page, 1).locator("[data-action='play-source']").click()
    page.wait_for_function(
        "window.__played && document.querySelector('#line-audio').currentTime > 0.1"
    )
    assert (
        row(page, 1).locator("[data-action='play-source']").get_attribute("aria-pressed") == "true"
    )
    row(page, 1).locator("[data-action='play-source']").click()  # pressed again: stop
    assert page.evaluate("document.querySelector('#line-audio').paused")

    # --- render again: the stale marker clears ----------------------------------------------
    page.click("#editor-render")
    page.wait_for_selector(
        "#project-status[data-status='running'], #project-status[data-status='queued']"
    )
    wait_until_done(page)
    page.wait_for_function(
        "document.querySelectorAll('#segments .seg[data-status=\"stale\"]').length === 0"
    )
    assert page.locator("#result-stale").is_hidden()
    assert page.locator("#timeline-regions .region[data-status='stale']").count() == 0
    assert page.input_value("#segments .seg:first-child textarea[id$='-target']") == EDITED

    # --- downloads: the subtitles carry the edit, the audio is an MP3 ---------------------
    srt = download(page, "subtitles.target.srt").decode("utf-8")
    assert "-->" in srt and EDITED.rstrip(",") in srt
    assert is_mp3(download(page, "audio.mp3"))

    # --- the result plays, with the original one click away -------------------------------
    page.evaluate("document.querySelector('#result-player').play()")
    page.wait_for_function("document.querySelector('#result-player').currentTime > 0.2")
    page.check("input[name='soundtrack'][value='original']", force=True)
    page.wait_for_function("document.querySelector('#result-player').src.includes('/input')")

    # --- come back later: a reload restores the project from the server --------------------
    page.reload()
    page.wait_for_selector("#project-status[data-status='succeeded']")
    assert page.inner_text("#project-title") == "jfk.flac"
    page.wait_for_selector("#segments .seg")
    assert page.input_value("#segments .seg:first-child textarea[id$='-target']") == EDITED
    open_studio(page, "#/")
    page.wait_for_selector(f"#projects-list [data-id='{dub_id}']")
    screenshot(page, "projects-with-dub")

    # --- an edit the server cannot take is kept, and saved later ----------------------------
    console.allow(r"ERR_INTERNET_DISCONNECTED|Failed to fetch")
    open_studio(page, f"#/dubs/{dub_id}")
    page.wait_for_selector("#segments .seg")
    page.context.set_offline(True)
    second = row(page, 1).locator("textarea[id$='-target']")
    second.fill("Texto escrito sin conexión.")
    page.keyboard.press("Tab")
    row(page, 1).locator(".seg-msg.error", has_text="Your text is kept").wait_for()
    screenshot(page, "dub-unsaved-edit")
    page.context.set_offline(False)
    page.reload()
    page.wait_for_selector("#segments .seg")
    assert page.input_value("#segments .seg:nth-child(2) textarea[id$='-target']") == (
        "Texto escrito sin conexión."
    )
    assert row(page, 1).locator(".unsaved").is_visible()
    page.click("#editor-render")  # saves the draft first, then renders
    # The project reads "succeeded" from the last run until this one starts: wait for the
    # saved line (stale until rendered) to be rendered, not for the status alone.
    row(page, 1).locator(".unsaved").wait_for(state="hidden")
    page.wait_for_function(
        "document.querySelectorAll('#segments .seg[data-status=\"stale\"]').length === 0",
        timeout=RUN_TIMEOUT_MS,
    )
    wait_until_done(page)
    assert page.input_value("#segments .seg:nth-child(2) textarea[id$='-target']") == (
        "Texto escrito sin conexión."
    )


def test_new_dub_rejects_a_file_that_is_not_media_next_to_the_upload(
    page: Any, console: Console, tmp_path: Path
) -> None:
    console.allow(r"status of 415")
    fake = tmp_path / "interview.mp4"
    fake.write_bytes(b"%PDF-1.4 not a video at all\n" * 50)
    open_studio(page, "#/new")
    page.wait_for_selector("#new-target option", state="attached")
    # Dropped on the drop zone, as a person would.
    page.evaluate(
        """(text) => {
            const data = new DataTransfer();
            data.items.add(new File([text], 'interview.mp4', {type: 'video/mp4'}));
            const zone = document.querySelector('#new-dropzone');
            for (const type of ['dragover', 'drop']) {
                zone.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true,
                                                        cancelable: true}));
            }
        }""",
        fake.read_text(),
    )
    assert "interview.mp4" in page.inner_text("#new-file-info")
    page.click("#new-submit")
    error = page.locator("#new-file-error")
    error.wait_for(state="visible", timeout=30_000)
    assert "is not an audio or video file" in error.inner_text()
    assert page.get_attribute("#new-file", "aria-invalid") == "true"
    assert page.evaluate("location.hash") == "#/new"  # the form, and what was chosen, stay
    screenshot(page, "new-dub-bad-file")


def test_cancel_then_start_again(page: Any, samples_dir: Path) -> None:
    open_studio(page, "#/new")
    page.wait_for_selector("#new-target option[value='es']", state="attached")
    page.set_input_files("#new-file", str(samples_dir / "jfk.flac"))
    page.select_option("#new-target", "fr")
    page.click("#new-submit")
    page.wait_for_url("**/studio#/dubs/*")
    page.wait_for_selector("#run-cancel:visible")
    # Reloading mid-run picks the live run up again from the server.
    page.reload()
    page.wait_for_selector("#run-panel:not([hidden])")
    assert page.get_attribute("#project-status", "data-status") in ("queued", "running")
    page.click("#run-cancel")
    page.wait_for_selector("#project-status[data-status='cancelled']", timeout=60_000)
    assert "cancelled" in page.inner_text("#run-error")
    assert page.locator("#run-retry").is_visible()
    screenshot(page, "dub-cancelled")
    page.click("#run-retry")
    page.wait_for_selector("#project-status[data-status='succeeded']", timeout=RUN_TIMEOUT_MS)
    assert page.locator("#result-downloads a[data-output='audio.mp3']").count() == 1
    assert page.get_attribute("#segments .seg textarea[id$='-target']", "lang") == "fr"


def test_a_video_plays_with_subtitles_and_the_original_one_click_away(
    page: Any, samples_dir: Path, tmp_path: Path
) -> None:
    from dubbing_studio.media.testpattern import speech_video

    video = speech_video(tmp_path / "speech.mp4", samples_dir / "jfk.flac")
    open_studio(page, "#/new")
    page.wait_for_selector("#new-target option[value='es']", state="attached")
    page.set_input_files("#new-file", str(video))
    page.select_option("#new-target", "es")
    page.click("#new-submit")
    page.wait_for_url("**/studio#/dubs/*")
    page.wait_for_selector("#project-status[data-status='succeeded']", timeout=RUN_TIMEOUT_MS)

    player = page.locator("video#result-player")
    player.wait_for(state="attached")
    assert "/outputs/video." in (player.get_attribute("src") or "")
    page.wait_for_selector("video#result-player track[srclang='es']", state="attached")
    modes = "Array.from(document.querySelector('#result-player').textTracks).map(t => t.mode)"
    page.wait_for_function(f"{modes}.includes('showing')")
    page.click("#result-subtitles")
    assert page.get_attribute("#result-subtitles", "aria-pressed") == "false"
    assert "showing" not in page.evaluate(modes)
    page.click("#result-subtitles")
    assert "showing" in page.evaluate(modes)

    page.check("input[name='soundtrack'][value='original']", force=True)
    page.wait_for_function("document.querySelector('#result-player').src.includes('/input')")
    page.wait_for_selector("video#result-player track[srclang='en']", state="attached")
    data = download(page, "video.mp4")
    assert data[4:8] == b"ftyp"
    screenshot(page, "dub-video")
