"""The new-dub form with a translation the user already has: the lines are the SRT's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.pipeline.test_subtitle_import import SPANISH_SRT

from .conftest import Console, check_accessibility, open_studio
from .test_dub_flow import WATCH_RUN, wait_until_done

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_dub_with_an_imported_translation(
    page: Any, console: Console, samples_dir: Path, tmp_path: Path
) -> None:
    subtitles = tmp_path / "jfk.es.srt"
    subtitles.write_text(SPANISH_SRT, encoding="utf-8")
    open_studio(page, "#/new")
    page.wait_for_selector("#new-target option[value='es']", state="attached")
    page.click("summary:has-text('Subtitles you already have')")
    check_accessibility(page, "new dub (subtitles open)")
    page.set_input_files("#new-file", str(samples_dir / "jfk.flac"))
    page.set_input_files("#new-translation", str(subtitles))
    page.select_option("#new-target", "es")
    page.evaluate(WATCH_RUN)
    page.click("#new-submit")
    page.wait_for_url("**/studio#/dubs/*")
    wait_until_done(page)
    assert "transcribe" not in page.evaluate("window.__seen")["stages"]
    targets = page.eval_on_selector_all(
        "#segments textarea[id$='-target']", "areas => areas.map(a => a.value)"
    )
    assert targets == [
        "Y así, mis compatriotas:",
        "no preguntéis qué puede hacer vuestro país por vosotros,",
        "preguntad qué podéis hacer vosotros por vuestro país.",
    ]
