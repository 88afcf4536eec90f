"""Speakers told apart by voice: the clustering rules on synthetic embeddings, then the real
encoder on real speech and through the pipeline (with the ``speakers`` extra installed)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from dubbing_studio import media
from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.domain.errors import EngineUnavailable, InvalidInput
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.engines.local.speakers import Embedding, ResemblyzerEncoder
from dubbing_studio.pipeline.diarize import (
    SAME_SPEAKER,
    Span,
    assign_speakers,
    diarization_enabled,
    diarize,
)
from dubbing_studio.pipeline.runner import DubPipeline

ENCODER = ResemblyzerEncoder()

RATE = 16_000
DIM = 256


def _voices(
    rng: np.random.Generator, speakers: list[int], within: float, across: float
) -> list[npt.NDArray[np.float64]]:
    """A unit vector per line of the given speakers: lines of one speaker are ``within``
    alike on average, lines of two speakers ``across``."""
    shared = _unit(rng.standard_normal(DIM))
    alike = across / within  # how alike two speakers' own voices are
    voices = [
        _unit(np.sqrt(alike) * shared + np.sqrt(1 - alike) * _unit(rng.standard_normal(DIM)))
        for _ in range(max(speakers) + 1)
    ]
    return [
        _unit(np.sqrt(within) * voices[s] + np.sqrt(1 - within) * _unit(rng.standard_normal(DIM)))
        for s in speakers
    ]


def _unit(vector: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return vector / np.linalg.norm(vector)


def _spans(count: int, length: float = 3.0, gap: float = 1.0) -> list[Span]:
    return [(i * (length + gap), i * (length + gap) + length) for i in range(count)]


# --- clustering -----------------------------------------------------------------------------
def test_two_voices_get_two_labels_in_order_of_appearance() -> None:
    speakers = [1, 0, 0, 1, 0, 1, 1, 0]
    embeddings = _voices(np.random.default_rng(1), speakers, within=0.8, across=0.5)
    labels = assign_speakers(_spans(len(speakers)), embeddings)
    assert labels == ["S1" if s == 1 else "S2" for s in speakers]


def test_one_voice_is_one_speaker() -> None:
    embeddings = _voices(np.random.default_rng(2), [0] * 30, within=0.78, across=0.5)
    assert set(assign_speakers(_spans(30), embeddings)) == {"S1"}


def test_similar_voices_stay_apart_however_many_lines_they_have() -> None:
    """Lines 0.8 alike within each speaker and 0.6 across: averaging 15 lines into centroids
    would put the two speakers about 0.73 apart, over the threshold; the mean similarity of
    their lines stays at 0.6."""
    speakers = [i % 2 for i in range(30)]
    embeddings = _voices(np.random.default_rng(3), speakers, within=0.8, across=0.6)
    first, second = (
        np.mean([e for e, s in zip(embeddings, speakers, strict=True) if s == k], axis=0)
        for k in (0, 1)
    )
    assert _unit(first) @ _unit(second) > SAME_SPEAKER  # what centroid linkage would merge
    labels = assign_speakers(_spans(len(speakers)), embeddings)
    assert labels == ["S1" if s == 0 else "S2" for s in speakers]


def test_the_threshold_decides_what_is_one_voice() -> None:
    speakers = [0, 1, 0, 1]
    embeddings = _voices(np.random.default_rng(4), speakers, within=0.8, across=0.6)
    assert len(set(assign_speakers(_spans(4), embeddings, threshold=0.5))) == 1
    assert len(set(assign_speakers(_spans(4), embeddings, threshold=0.7))) == 2
    assert len(set(assign_speakers(_spans(4), embeddings, threshold=0.95))) == 4


def test_short_or_unembedded_lines_take_the_nearest_lines_label() -> None:
    a, b = _voices(np.random.default_rng(5), [0, 1], within=0.99, across=0.3)
    spans: list[Span] = [
        (0.0, 3.0),  # A
        (3.2, 3.8),  # too short: A ends 0.2 s before it, B starts 1.2 s after
        (5.0, 8.0),  # B
        (8.5, 10.0),  # no embedding (too little speech): B is nearest
        (12.0, 15.0),  # A
        (16.0, 16.5),  # short, 1 s after A
    ]
    embeddings = [a, a, b, None, a, b]
    assert assign_speakers(spans, embeddings) == ["S1", "S1", "S2", "S2", "S1", "S1"]


def test_a_tie_goes_to_the_earlier_line() -> None:
    a, b = _voices(np.random.default_rng(6), [0, 1], within=0.99, across=0.3)
    spans: list[Span] = [(0.0, 2.0), (3.0, 3.5), (4.5, 6.5)]
    assert assign_speakers(spans, [b, None, a]) == ["S1", "S1", "S2"]


def test_without_an_embeddable_line_everything_is_one_speaker() -> None:
    (a,) = _voices(np.random.default_rng(7), [0], within=0.9, across=0.5)
    assert assign_speakers([(0.0, 0.5), (1.0, 1.4)], [a, None]) == ["S1", "S1"]
    assert assign_speakers([], []) == []


def test_labels_follow_time_not_input_order() -> None:
    a, b = _voices(np.random.default_rng(8), [0, 1], within=0.99, across=0.3)
    assert assign_speakers([(5.0, 7.0), (0.0, 2.0)], [a, b]) == ["S2", "S1"]


def test_spans_and_embeddings_must_pair_up() -> None:
    with pytest.raises(ValueError, match="2 spans but 1 embeddings"):
        assign_speakers([(0.0, 2.0), (3.0, 5.0)], [None])


# --- diarize with a stand-in encoder ----------------------------------------------------------
class _LoudnessEncoder:
    """Tells "voices" apart by loudness, and records what it was given."""

    name = "loudness"

    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.lengths: list[int] = []

    def available(self) -> tuple[bool, str]:
        return self.ok, "" if self.ok else "stand-in not installed; pip install it"

    def embed(self, samples_16k_mono: FloatAudio) -> Embedding | None:
        self.lengths.append(len(samples_16k_mono))
        loud = float(np.abs(samples_16k_mono).mean()) > 0.3
        return np.array([1.0, 0.0] if loud else [0.0, 1.0], dtype=np.float32)


def test_diarize_embeds_each_long_enough_span_of_the_audio() -> None:
    audio = np.concatenate([np.full(2 * RATE, 0.5), np.full(2 * RATE, 0.1)]).astype(np.float32)
    encoder = _LoudnessEncoder()
    spans: list[Span] = [(0.0, 1.5), (1.5, 2.0), (2.0, 4.0)]
    assert diarize(audio, RATE, spans, encoder) == ["S1", "S1", "S2"]
    assert encoder.lengths == [24_000, 32_000], "the 0.5 s line is not embedded"
    with pytest.raises(InvalidInput, match="16000 Hz"):
        diarize(audio, 22_050, spans, encoder)


def test_the_plan_decides_whether_to_diarize() -> None:
    installed, missing = _LoudnessEncoder(), _LoudnessEncoder(ok=False)
    assert diarization_enabled(None, installed) is True
    assert diarization_enabled(None, missing) is False
    assert diarization_enabled(False, installed) is False
    assert diarization_enabled(True, installed) is True
    with pytest.raises(EngineUnavailable, match="stand-in not installed; pip install"):
        diarization_enabled(True, missing)


# --- the real encoder on real speech ----------------------------------------------------------
needs_encoder = pytest.mark.skipif(
    not ENCODER.available()[0], reason=f"speakers extra: {ENCODER.available()[1]}"
)


def _speech(samples_dir: Path) -> tuple[FloatAudio, FloatAudio, FloatAudio]:
    """JFK (11 s), and the left and right LibriSpeech readers (5 s each) as 16 kHz mono."""
    jfk, _ = media.decode_audio(samples_dir / "jfk.flac", sample_rate=RATE, channels="mono")
    stereo, _ = media.decode_audio(
        samples_dir / "stereo_diarization.wav", sample_rate=RATE, channels=None
    )
    return jfk, stereo[0], stereo[1]


@pytest.mark.slow
@needs_encoder
def test_real_voices_are_told_apart(samples_dir: Path) -> None:
    """A B C A B on one channel with 1 s of silence between: each recording's spans get one
    label and different recordings different labels."""
    jfk, left, right = _speech(samples_dir)
    # Halves at a pause; the right reader says one short sentence (2.5 s of speech), whole.
    recordings = {
        "jfk-1": jfk[: len(jfk) // 2],
        "left-1": left[: len(left) // 2],
        "right": right,
        "jfk-2": jfk[len(jfk) // 2 :],
        "left-2": left[len(left) // 2 :],
    }
    silence = np.zeros(RATE, dtype=np.float32)
    parts, spans, at = [silence], [], 1.0
    for samples in recordings.values():
        spans.append((at, at + len(samples) / RATE))
        parts += [samples, silence]
        at += len(samples) / RATE + 1.0
    audio = np.concatenate(parts)

    started = time.perf_counter()
    labels = diarize(audio, RATE, spans, ENCODER)
    print(f"\ndiarized 5 spans in {time.perf_counter() - started:.2f} s (with model load)")
    assert labels == ["S1", "S2", "S3", "S1", "S2"]

    embeddings = {}
    for name, (start, end) in zip(recordings, spans, strict=True):
        started = time.perf_counter()
        embeddings[name] = ENCODER.embed(audio[round(start * RATE) : round(end * RATE)])
        print(f"{name:>7} {end - start:.1f} s embedded in {time.perf_counter() - started:.3f} s")
    vectors = {name: e for name, e in embeddings.items() if e is not None}
    assert len(vectors) == 5
    for name, vector in vectors.items():
        print(f"{name:>7} " + " ".join(f"{vector @ other:5.2f}" for other in vectors.values()))
    same = [vectors["jfk-1"] @ vectors["jfk-2"], vectors["left-1"] @ vectors["left-2"]]
    jfk_vs_others = [
        vectors[a] @ vectors[b] for a in ("jfk-1", "jfk-2") for b in ("left-1", "left-2", "right")
    ]
    assert min(same) >= 0.75  # measured 0.82, 0.81
    assert max(jfk_vs_others) <= 0.6  # measured 0.47-0.51
    # The two LibriSpeech readers are the close pair: 0.64-0.65, under the 0.7 threshold.


@pytest.mark.slow
@needs_encoder
def test_a_mono_reel_of_two_speakers_gets_two_voices(
    pipeline: DubPipeline, samples_dir: Path, tmp_path: Path
) -> None:
    kennedy, reader, _ = _speech(samples_dir)
    reel = tmp_path / "reel.wav"
    silence = np.zeros(RATE, dtype=np.float32)
    media.write_audio(reel, np.concatenate([kennedy, silence, reader]), RATE, "wav")
    reader_from = len(kennedy) / RATE + 0.5  # the middle of the silence

    # espeak-ng speaks fast and has several Spanish voices; the voices are not what is tested.
    plan = DubPlan(
        target_language="es", synthesizer="espeak-ng", audio_formats=("wav",), diarize=True
    )
    result = asyncio.run(pipeline.run(reel, plan, tmp_path / "out"))
    assert result.engine_calls["diarize:resemblyzer"] == 1
    by_reader = {s.id: (s.start + s.end) / 2 > reader_from for s in result.segments}
    assert {s.speaker for s in result.segments if not by_reader[s.id]} == {"S1"}
    assert {s.speaker for s in result.segments if by_reader[s.id]} == {"S2"}
    voices = {s.speaker: s.voice for s in result.segments}
    assert voices["S1"] != voices["S2"]

    plan = DubPlan(
        target_language="es", synthesizer="espeak-ng", audio_formats=("wav",), diarize=False
    )
    result = asyncio.run(pipeline.run(reel, plan, tmp_path / "one"))
    assert {s.speaker for s in result.segments} == {"S1"}
    assert "diarize:resemblyzer" not in result.engine_calls
