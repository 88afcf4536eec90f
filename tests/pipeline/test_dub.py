"""The dubbing pipeline end to end on real speech with the real local engines."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import av
import numpy as np
import pysubs2
import pytest

from dubbing_studio import media
from dubbing_studio.domain.dub import DubPlan, FitOutcome, MixPolicy, Transcript
from dubbing_studio.domain.subtitles import FORMATS
from dubbing_studio.engines.protocols import TranscribeOptions
from dubbing_studio.media.testpattern import speech_video
from dubbing_studio.pipeline.runner import DubPipeline, DubResult
from dubbing_studio.services.studio import Studio
from tests.metrics import word_error_rate

pytestmark = pytest.mark.slow


def _dub(
    pipeline: DubPipeline,
    source: Path,
    plan: DubPlan,
    out: Path,
    transcript: Transcript | None = None,
) -> DubResult:
    return asyncio.run(pipeline.run(source, plan, out, transcript=transcript))


def _check_timing(result: DubResult, plan: DubPlan) -> None:
    """Starts within 100 ms of the source, no speed above the cap, no overlap within a
    speaker, and each line ends before the speaker's next source line plus the overrun."""
    segments = {s.id: s for s in result.segments}
    lines = result.report.segments
    for index, line in enumerate(lines):
        source = segments[line.id]
        assert abs(line.start - source.start) <= 0.1 + 1e-6, line
        assert line.speed <= plan.timing.max_speed + 1e-3, line
        later = [x for x in lines[index + 1 :] if x.speaker == line.speaker]
        if later:
            assert line.end <= segments[later[0].id].start + plan.timing.max_overrun_s + 1e-3
            assert line.end <= later[0].start + 1e-6, "overlap within a speaker"


@pytest.fixture(scope="module")
def spanish(
    pipeline: DubPipeline, jfk: Path, tmp_path_factory: pytest.TempPathFactory
) -> DubResult:
    plan = DubPlan(target_language="es", audio_formats=("mp3", "wav"))
    return _dub(pipeline, jfk, plan, tmp_path_factory.mktemp("es"))


def test_jfk_to_spanish(spanish: DubResult, jfk: Path, pipeline_studio: Studio) -> None:
    wav = spanish.outputs["audio.wav"]
    assert abs(media.probe(wav).duration - media.probe(jfk).duration) <= 0.05
    assert abs(media.probe(spanish.outputs["audio.mp3"]).duration - 11.0) <= 0.08
    _check_timing(spanish, DubPlan(target_language="es"))
    report = json.loads(spanish.outputs["report.json"].read_text())
    assert report["target_language"] == "es" and report["source_language"] == "en"
    assert report["segments"] and report["totals"]["max_speed"] <= 1.3
    assert all(s["target_text"] for s in report["segments"])
    srt = spanish.outputs["subtitles.target.srt"].read_text()
    assert "-->" in srt and spanish.segments[0].target_text.split()[0] in srt
    # One engine call for all lines (none when an earlier test already translated them).
    assert spanish.engine_calls["translate:apertium"] <= 1, "one translation call per job"
    spoken = pipeline_studio.registry.transcriber().transcribe(
        wav, TranscribeOptions(language="es")
    )
    translation = " ".join(s.target_text for s in spanish.segments)
    wer = word_error_rate(translation, spoken.text)
    print(f"\nen→es back-transcription WER against the translation: {wer:.1%}")


def test_every_subtitle_cue_of_a_dub_reads_well(spanish: DubResult) -> None:
    """≤ 42 characters a line, ≤ 2 lines a cue, ≤ 20 characters a second (a bilingual cue
    is read in one language), in SRT, WebVTT and ASS alike."""
    names = [n for n in spanish.outputs if n.startswith("subtitles.")]
    assert {
        f"subtitles.{t}.{f}" for t in ("source", "target", "bilingual") for f in FORMATS
    } <= set(names)
    for name in names:
        fmt = name.rsplit(".", 1)[-1]
        events = pysubs2.SSAFile.from_string(spanish.outputs[name].read_text(), fmt)
        assert len(events) >= 2, name
        for event in events:
            lines = event.plaintext.split("\n")
            assert len(lines) <= 2 and all(0 < len(line) <= 42 for line in lines), (name, lines)
            read = max(map(len, lines)) if ".bilingual." in name else sum(map(len, lines))
            assert read / ((event.end - event.start) / 1000) <= 20.0, (name, event)


def test_video_dub_copies_the_video(pipeline: DubPipeline, jfk: Path, tmp_path: Path) -> None:
    video = speech_video(tmp_path / "talk.mp4", jfk)
    plan = DubPlan(target_language="es", keep_original_audio=True)
    result = _dub(pipeline, video, plan, tmp_path / "out")
    dubbed = result.outputs["video.mp4"]
    assert abs(media.probe(dubbed).duration - media.probe(video).duration) <= 0.05

    def packets(path: Path) -> list[bytes]:
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(container.streams.video[0]) if p.size]

    assert packets(dubbed) == packets(video)
    with av.open(str(dubbed)) as container:
        assert len(container.streams.audio) == 2
        assert container.streams.audio[0].metadata["handler_name"] == "Dub"
        assert len(container.streams.subtitles) == 2


def test_revoice_english_keeps_the_words(
    pipeline: DubPipeline, jfk: Path, tmp_path: Path, pipeline_studio: Studio
) -> None:
    # The new voice alone: under a ducked original, Kennedy's own voice 18 dB down is heard too
    # (a CI run once heard "Want your country to do" in it after the dub's last word).
    plan = DubPlan(
        target_language="en", audio_formats=("wav",), mix=MixPolicy(background="replace")
    )
    result = _dub(pipeline, jfk, plan, tmp_path)
    _check_timing(result, plan)
    spoken = pipeline_studio.registry.transcriber().transcribe(
        result.outputs["audio.wav"], TranscribeOptions(language="en")
    )
    source = " ".join(s.source_text for s in result.segments)
    assert word_error_rate(source, spoken.text) <= 0.15


def test_editing_one_line_redoes_only_that_line(
    pipeline: DubPipeline, spanish: DubResult, jfk: Path, tmp_path: Path
) -> None:
    segments = list(spanish.segments)
    segments[0] = segments[0].edited(target_text="Compatriotas, escuchad.", target_edited=True)
    transcript = Transcript("en", 11.0, tuple(segments))
    plan = DubPlan(target_language="es", audio_formats=("mp3", "wav"))
    again = _dub(pipeline, jfk, plan, tmp_path, transcript=transcript)
    # Hearing the dub back is a check of the new mix, not a stage recomputed.
    calls = {k: n for k, n in again.engine_calls.items() if not k.startswith("hear-back:")}
    assert not any(k.startswith(("transcribe", "translate")) for k in calls), calls
    assert 1 <= sum(calls.values()) <= 2, calls  # the edited line, maybe at a faster rate
    assert again.segments[0].target_text == "Compatriotas, escuchad."
    assert [s.audio_key for s in again.segments[1:]] == [s.audio_key for s in spanish.segments[1:]]


def test_a_line_that_cannot_fit_is_reported_not_fatal(
    pipeline: DubPipeline, spanish: DubResult, jfk: Path, tmp_path: Path
) -> None:
    segments = list(spanish.segments)
    long_text = " ".join(["Esta frase es demasiado larga para caber en su lugar."] * 6)
    segments[0] = segments[0].edited(target_text=long_text, target_edited=True)
    plan = DubPlan(target_language="es", audio_formats=("wav",))
    result = _dub(pipeline, jfk, plan, tmp_path, transcript=Transcript("en", 11.0, tuple(segments)))
    report = json.loads(result.outputs["report.json"].read_text())
    first = report["segments"][0]
    assert first["outcome"] == FitOutcome.TRIMMED.value
    assert first["speed"] <= 1.3 + 1e-3
    assert report["totals"]["trimmed"] >= 1
    _check_timing(result, plan)


def test_stereo_speakers_get_two_voices(
    pipeline: DubPipeline, samples_dir: Path, tmp_path: Path
) -> None:
    result = _dub(
        pipeline,
        samples_dir / "stereo_diarization.wav",
        DubPlan(target_language="es", audio_formats=("wav",)),
        tmp_path,
    )
    speakers = {s.speaker for s in result.segments}
    assert speakers == {"S1", "S2"}
    voices = {s.speaker: s.voice for s in result.segments}
    assert voices["S1"] != voices["S2"]
    _check_timing(result, DubPlan(target_language="es"))


def test_one_voice_heard_a_little_later_in_one_channel_is_dubbed_once(
    pipeline: DubPipeline, jfk: Path, tmp_path: Path
) -> None:
    """A stereo recording whose right microphone hears the speaker 2 ms after the left one
    (their channels barely correlate in step) is one speaker, not two panned apart: each
    line is dubbed once, not once per channel on top of each other."""
    left, rate = media.decode_audio(jfk, sample_rate=48_000, channels="mono")
    delay = round(0.002 * rate)
    stereo = np.stack([left, np.concatenate([np.zeros(delay, np.float32), left[:-delay]])])
    source = media.write_audio(tmp_path / "spaced-pair.wav", stereo, rate, "wav")
    result = _dub(
        pipeline,
        source,
        DubPlan(target_language="en", audio_formats=("wav",), diarize=False),
        tmp_path / "out",
    )
    assert len({s.speaker for s in result.segments}) == 1
    said = " ".join(s.source_text for s in result.segments).lower()
    assert said.count("your country can do for you") == 1, said


def test_two_english_speakers_get_two_piper_voices_and_kokoro_stays_unloaded(
    pipeline: DubPipeline, samples_dir: Path, tmp_path: Path
) -> None:
    """Piper has one English voice; the second speaker gets a voice derived from it rather
    than one of an engine about ten times slower."""
    result = _dub(
        pipeline,
        samples_dir / "stereo_diarization.wav",
        DubPlan(target_language="en", audio_formats=("wav",)),
        tmp_path,
    )
    report = json.loads(result.outputs["report.json"].read_text())
    voices = {speaker: found["voice"] for speaker, found in report["speakers"].items()}
    assert set(voices) == {"S1", "S2"} and voices["S1"] != voices["S2"]
    assert all(voice.startswith("piper:en_US-joe-medium") for voice in voices.values())
    assert {s.voice for s in result.segments} == set(voices.values())
    assert result.engine_calls["synthesize:piper"] >= 2
    assert not [call for call in result.engine_calls if call.endswith(":kokoro")]
