"""Subtitle files as a dub's transcript or translation, on real speech and real engines."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.domain.errors import ValidationFailed
from dubbing_studio.pipeline.runner import DubPipeline, DubResult
from dubbing_studio.services.studio import Studio
from dubbing_studio.services.subtitle_import import SubtitleImport

pytestmark = pytest.mark.slow

SPANISH_SRT = """1
00:00:00,300 --> 00:00:02,900
Y así, mis compatriotas:

2
00:00:03,600 --> 00:00:07,400
<i>no preguntéis</i> qué puede hacer vuestro país por vosotros,

3
00:00:08,000 --> 00:00:10,800
preguntad qué podéis hacer vosotros por vuestro país.

4
00:00:30,000 --> 00:00:31,000
Past the end of the recording: dropped.
"""
ENGLISH_VTT = """WEBVTT

00:00.300 --> 00:03.200
And so, my fellow Americans,

00:03.300 --> 00:10.900
ask not what your country can do for you, ask what you can do for your country.
"""


def _run(
    pipeline: DubPipeline, studio: Studio, jfk: Path, imported: SubtitleImport, out: Path
) -> DubResult:
    plan = DubPlan(target_language="es", source_language="en", audio_formats=("wav",))
    transcript = imported.to_transcript(studio, plan.source_language, 11.0)
    return asyncio.run(pipeline.run(jfk, plan, out, transcript=transcript))


def test_an_imported_translation_skips_recognition_and_translation_and_keeps_its_timing(
    pipeline: DubPipeline, pipeline_studio: Studio, jfk: Path, tmp_path: Path
) -> None:
    imported = SubtitleImport.parse(translation=("subs.es.srt", SPANISH_SRT))
    assert imported is not None
    result = _run(pipeline, pipeline_studio, jfk, imported, tmp_path)
    calls = result.engine_calls
    assert not [k for k in calls if k.startswith(("transcribe", "translate", "shorten"))], calls
    assert sum(v for k, v in calls.items() if k.startswith("synthesize")) >= 1, calls
    lines = result.report.segments
    assert [line.target_text for line in lines] == [
        "Y así, mis compatriotas:",
        "no preguntéis qué puede hacer vuestro país por vosotros,",
        "preguntad qué podéis hacer vosotros por vuestro país.",
    ]
    cues = [(0.3, 2.9, 3.6), (3.6, 7.4, 8.0), (8.0, 10.8, 11.0)]  # start, end, next start
    for line, (start, end, following) in zip(lines, cues, strict=True):
        assert abs(line.start - start) <= 0.1, line
        assert line.slot_s == pytest.approx(end - start, abs=1e-3), line
        assert line.end <= following + 0.1 + 1e-6, line  # silence borrowed, no more
    assert "Y así, mis compatriotas:" in result.outputs["subtitles.target.srt"].read_text()


def test_an_imported_transcript_skips_recognition_only(
    pipeline: DubPipeline, pipeline_studio: Studio, jfk: Path, tmp_path: Path
) -> None:
    imported = SubtitleImport.parse(transcript=("talk.vtt", ENGLISH_VTT))
    assert imported is not None
    result = _run(pipeline, pipeline_studio, jfk, imported, tmp_path)
    assert not [k for k in result.engine_calls if k.startswith("transcribe")]
    assert result.segments[0].source_text == "And so, my fellow Americans,"
    assert all(s.target_text and s.target_text != s.source_text for s in result.segments)
    assert [round(s.start, 1) for s in result.segments] == [0.3, 3.3]


def test_cues_outside_the_media_are_refused(pipeline_studio: Studio) -> None:
    late = "1\n00:01:00,000 --> 00:01:02,000\nToo late.\n"
    imported = SubtitleImport.parse(translation=("late.srt", late))
    assert imported is not None
    with pytest.raises(ValidationFailed, match="inside the media"):
        imported.to_transcript(pipeline_studio, None, 11.0)
