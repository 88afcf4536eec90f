"""Voices matched to the speaker on real speech: two speakers (one per channel) get distinct
voices, and with ``match_voice`` each speaker's dub moves toward their own median pitch, as
measured on the output lines with the same tracker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.media.pitch import track_f0
from dubbing_studio.pipeline.artifacts import ArtifactStore
from dubbing_studio.pipeline.runner import DubPipeline, DubResult

pytestmark = pytest.mark.slow


def dub_pitch(result: DubResult, store: ArtifactStore) -> dict[str, float]:
    """Median F0 of each speaker's dubbed lines (the fitted clips as mixed)."""
    tracks: dict[str, list[np.ndarray]] = {}
    for segment in result.segments:
        assert segment.audio_key
        loaded = store.load_audio(segment.audio_key)
        assert loaded is not None
        tracks.setdefault(segment.speaker, []).append(track_f0(*loaded))
    return {speaker: float(np.median(np.concatenate(f0))) for speaker, f0 in tracks.items()}


def test_speakers_get_their_own_voice_and_pitch(
    pipeline: DubPipeline, store: ArtifactStore, samples_dir: Path, tmp_path: Path
) -> None:
    source = samples_dir / "stereo_diarization.wav"
    results = {
        match: asyncio.run(
            pipeline.run(
                source,
                DubPlan(target_language="es", synthesizer="espeak-ng", match_voice=match),
                tmp_path / str(match),
            )
        )
        for match in (False, True)
    }
    plain, matched = results[False], results[True]
    speakers = matched.report.speakers
    assert set(speakers) == {"S1", "S2"}
    assert speakers["S1"]["voice"] != speakers["S2"]["voice"]
    assert {s.voice for s in matched.segments if s.speaker == "S1"} == {speakers["S1"]["voice"]}
    for estimate in speakers.values():
        assert estimate["median_f0"] and estimate["gender"] in ("male", "female")
        assert 0 < estimate["gender_confidence"] <= 1
        assert abs(estimate["pitch_shift_semitones"]) <= 4
    assert all(s["pitch_shift_semitones"] == 0 for s in plain.report.speakers.values())
    report = json.loads((tmp_path / "True" / "report.json").read_text())
    assert report["speakers"] == speakers

    before, after = dub_pitch(plain, store), dub_pitch(matched, store)
    for speaker, estimate in speakers.items():
        original = estimate["median_f0"]
        assert abs(after[speaker] - original) < abs(before[speaker] - original), (
            speaker,
            original,
            before[speaker],
            after[speaker],
        )
