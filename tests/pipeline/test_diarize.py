"""Speakers told apart by voice: the clustering rules on synthetic embeddings, then the real
encoder on real speech and through the pipeline (with the ``speakers`` extra installed)."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from dubbing_studio import media
from dubbing_studio.domain.dub import DubPlan
from dubbing_studio.domain.errors import EngineUnavailable, InvalidInput
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.engines.local import speakers as encoder_parts
from dubbing_studio.engines.local.speakers import Embedding, ResemblyzerEncoder
from dubbing_studio.pipeline.diarize import (
    MIN_VOICE_S,
    SAME_SPEAKER,
    Span,
    assign_speakers,
    diarization_enabled,
    diarize,
    diarize_file,
    one_voice,
)
from dubbing_studio.pipeline.runner import DubPipeline
from tests.conftest import require

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
    """Lines 0.8 alike within each speaker and 0.6 across: averaging 20 lines into centroids
    puts the two speakers about 0.75 alike, over the line threshold (what centroid linkage
    would merge); the mean similarity of their lines stays 0.6."""
    speakers = [i % 2 for i in range(40)]
    embeddings = _voices(np.random.default_rng(5), speakers, within=0.8, across=0.6)
    first, second = (
        np.mean([e for e, s in zip(embeddings, speakers, strict=True) if s == k], axis=0)
        for k in (0, 1)
    )
    assert _unit(first) @ _unit(second) > SAME_SPEAKER
    labels = assign_speakers(_spans(len(speakers)), embeddings)
    assert labels == ["S1" if s == 0 else "S2" for s in speakers]


def test_the_threshold_decides_what_is_one_voice() -> None:
    speakers = [0, 1, 0, 1]
    embeddings = _voices(np.random.default_rng(4), speakers, within=0.8, across=0.6)
    assert len(set(assign_speakers(_spans(4), embeddings, threshold=0.5))) == 1
    assert len(set(assign_speakers(_spans(4), embeddings, threshold=0.7))) == 2
    assert len(set(assign_speakers(_spans(4), embeddings, threshold=0.95, same_voice=1.01))) == 4


def test_a_voice_that_linkage_splits_by_chance_is_one() -> None:
    """A noisy voice, its lines only 0.72 alike (at the threshold): average linkage leaves it
    in several clusters, whose lines are as alike across clusters as one voice's lines are."""
    for seed in range(8):
        embeddings = _voices(np.random.default_rng(seed), [0] * 24, within=0.72, across=0.5)
        assert len(set(assign_speakers(_spans(24), embeddings, same_voice=1.01))) > 1
        assert set(assign_speakers(_spans(24), embeddings)) == {"S1"}


def test_two_similar_noisy_voices_stay_two() -> None:
    """Lines 0.75 alike within each voice and 0.6 across: with the noise taken out the voices
    are 0.8 alike (as the two LibriSpeech readers are), under ``SAME_VOICE``."""
    speakers = [i % 2 for i in range(30)]
    for seed in range(8):
        embeddings = _voices(np.random.default_rng(seed), speakers, within=0.75, across=0.6)
        labels = assign_speakers(_spans(30), embeddings)
        assert labels == ["S1" if s == 0 else "S2" for s in speakers]


def test_too_little_speech_is_not_a_voice_of_its_own() -> None:
    """A 1.5 s line unlike every other (a noisy short clip) joins the voice it is most like,
    not the one nearest in time; 2 s is enough to stand alone."""
    rng = np.random.default_rng(10)
    a1, a2, b1, b2, odd = _voices(rng, [0, 0, 1, 1, 0], within=0.85, across=0.4)
    odd = _unit(0.55 * odd + 0.45 * a1 + _unit(rng.standard_normal(DIM)))
    assert odd @ a1 < SAME_SPEAKER and odd @ a1 > odd @ b1
    spans: list[Span] = [(0.0, 3.0), (4.0, 7.0), (8.0, 11.0), (11.2, 12.7), (13.0, 16.0)]
    embeddings = [a1, a2, b1, odd, b2]
    assert assign_speakers(spans, embeddings) == ["S1", "S1", "S2", "S1", "S2"]
    assert assign_speakers(spans, embeddings, min_voice_s=0.0) == [
        "S1", "S1", "S2", "S3", "S2"
    ]  # fmt: skip
    long_enough = [*spans[:3], (11.2, 11.2 + MIN_VOICE_S), spans[4]]
    assert assign_speakers(long_enough, embeddings) == ["S1", "S1", "S2", "S3", "S2"]


def test_when_every_voice_is_brief_they_are_one() -> None:
    a, b = _voices(np.random.default_rng(11), [0, 1], within=0.99, across=0.3)
    assert assign_speakers([(0.0, 1.2), (2.0, 3.2)], [a, b]) == ["S1", "S1"]


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

    def embed(self, clips: Sequence[FloatAudio]) -> list[Embedding | None]:
        self.lengths.extend(len(clip) for clip in clips)
        louds = [float(np.abs(clip).mean()) > 0.3 for clip in clips]
        return [np.array([1.0, 0.0] if loud else [0.0, 1.0], dtype=np.float32) for loud in louds]


class _RefusingEncoder(_LoudnessEncoder):
    """An encoder that must not be asked."""

    def embed(self, clips: Sequence[FloatAudio]) -> list[Embedding | None]:
        raise AssertionError("the encoder was asked to embed a line")


def test_diarize_embeds_each_long_enough_span_of_the_audio() -> None:
    audio = np.concatenate([np.full(2 * RATE, 0.5), np.full(3 * RATE, 0.1)]).astype(np.float32)
    encoder = _LoudnessEncoder()
    spans: list[Span] = [(0.0, 2.0), (2.0, 2.5), (2.5, 5.0)]
    assert diarize(audio, RATE, spans, encoder) == ["S1", "S1", "S2"]
    assert encoder.lengths == [32_000, 40_000], "the 0.5 s line is not embedded"
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


def test_lines_the_clustering_could_not_split_are_one_voice_without_a_listen() -> None:
    """Fewer than two lines long enough to embed, or less speech in them than two voices
    need: ``assign_speakers`` would say one speaker whatever the embeddings."""
    noise = np.random.default_rng(3).normal(0, 0.1, 20 * RATE).astype(np.float32)
    assert one_voice(noise, RATE, [(0.0, 8.0), (9.0, 9.8)])  # the second is too short
    assert one_voice(noise, RATE, [(0.0, 1.9), (2.0, 3.9)])  # 3.8 s: not two voices of 2 s
    assert not one_voice(noise, RATE, [(0.0, 3.0), (4.0, 7.0)])  # no pitch to vouch for it


# --- the real encoder on real speech ----------------------------------------------------------
@pytest.fixture(scope="module")
def encoder() -> ResemblyzerEncoder:
    """The real encoder: required (CI fails without the ``speakers`` extra)."""
    real = ResemblyzerEncoder()
    installed, why = real.available()
    require("the speakers extra (resemblyzer)", installed, why)
    return real


@pytest.fixture(scope="module")
def speech(samples_dir: Path) -> tuple[FloatAudio, FloatAudio, FloatAudio]:
    """JFK (11 s), and the left and right LibriSpeech readers (5 s each) as 16 kHz mono."""
    jfk, _ = media.decode_audio(samples_dir / "jfk.flac", sample_rate=RATE, channels="mono")
    stereo, _ = media.decode_audio(
        samples_dir / "stereo_diarization.wav", sample_rate=RATE, channels=None
    )
    return jfk, stereo[0], stereo[1]


_Layout = tuple[FloatAudio, list[Span], list[str]]  # audio, line spans, who says each line


def _one_channel(recordings: list[FloatAudio]) -> tuple[FloatAudio, list[Span]]:
    """The recordings one after another with 1 s of silence around each, and their spans."""
    silence = np.zeros(RATE, dtype=np.float32)
    parts, spans, at = [silence], [], 1.0
    for samples in recordings:
        spans.append((at, at + len(samples) / RATE))
        parts += [samples, silence]
        at += len(samples) / RATE + 1.0
    return np.concatenate(parts), spans


def _layouts(speech: tuple[FloatAudio, FloatAudio, FloatAudio]) -> dict[str, _Layout]:
    """Real lines on one channel with who says them: the five halves and wholes of
    ``test_real_voices_are_told_apart``, and JFK's lines as Whisper cut them in the mono reel
    (one of them a 1.06 s fragment, "do for your country.") before the left reader."""
    jfk, left, right = speech
    halves = [jfk[: len(jfk) // 2], left[: len(left) // 2], right]
    halves += [jfk[len(jfk) // 2 :], left[len(left) // 2 :]]
    audio, spans = _one_channel(halves)
    reel = np.concatenate([jfk, np.zeros(RATE, dtype=np.float32), left])
    reel_spans: list[Span] = [(0.0, 2.1), (3.28, 9.32), (9.32, 10.38), (12.02, 16.52)]
    return {
        "halves": (audio, spans, ["jfk", "left", "right", "jfk", "left"]),
        "reel": (reel, reel_spans, ["jfk", "jfk", "jfk", "left"]),
    }


def test_one_speakers_lines_skip_the_encoder_and_several_speakers_do_not(
    speech: tuple[FloatAudio, FloatAudio, FloatAudio], tmp_path: Path
) -> None:
    """JFK's lines as Whisper cut them in the reel agree in pitch (1.3 semitones) and spectrum:
    no embedding is needed. With the left reader after him, the two readers in turn, or the
    halves of all three recordings, they do not."""
    jfk, left, right = speech
    layouts = _layouts(speech)
    jfk_spans = [span for span, who in zip(*layouts["reel"][1:], strict=True) if who == "jfk"]
    path = tmp_path / "jfk.wav"
    media.write_audio(path, jfk, RATE, "wav")
    assert diarize_file(path, jfk_spans, _RefusingEncoder()) == ["S1"] * len(jfk_spans)

    reel, reel_spans, _ = layouts["reel"]
    assert not one_voice(reel, RATE, reel_spans)
    readers, reader_spans = _one_channel([left, right])
    assert not one_voice(readers, RATE, reader_spans)
    halves, halves_spans, _ = layouts["halves"]
    assert not one_voice(halves, RATE, halves_spans)


def _embed(encoder: ResemblyzerEncoder, layout: _Layout) -> list[Embedding | None]:
    audio, spans, _ = layout
    return encoder.embed([audio[round(start * RATE) : round(end * RATE)] for start, end in spans])


def _embed_with_torch(layout: _Layout) -> list[Embedding | None]:
    """``ResemblyzerEncoder.embed`` with resemblyzer's own torch network in bf16 on 4 threads
    instead of the studio's numpy one (the same partials go in)."""
    import torch
    from resemblyzer import VoiceEncoder

    network = VoiceEncoder("cpu", verbose=False)
    audio, spans, _ = layout
    vectors: list[Embedding | None] = []
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        for start, end in spans:
            line = audio[round(start * RATE) : round(end * RATE)]
            speech = encoder_parts._trim_long_silences(encoder_parts._raise_volume(line, -30))
            mels = torch.from_numpy(encoder_parts._partials(encoder_parts.mel_power(speech)))
            mean = _bf16_forward(network, mels).mean(axis=0)
            vectors.append((mean / np.linalg.norm(mean)).astype(np.float32))
    finally:
        torch.set_num_threads(threads)
    return vectors


def _bf16_forward(network: Any, mels: Any) -> npt.NDArray[np.float32]:
    """The network's output under bf16 autocast, where this CPU's oneDNN has a bf16 LSTM.
    Without one (AVX2 only: "could not create a primitive descriptor"), bf16 precision is
    emulated: weights and input rounded to bf16, then run in float32."""
    import torch

    with torch.inference_mode():
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return network(mels).float().numpy()  # type: ignore[no-any-return]
        except RuntimeError as error:
            if "primitive descriptor" not in str(error):
                raise
        rounded = copy.deepcopy(network).to(torch.bfloat16).float()
        return rounded(mels.to(torch.bfloat16).float()).numpy()  # type: ignore[no-any-return]


def test_the_numpy_network_is_resemblyzers(
    encoder: ResemblyzerEncoder, speech: tuple[FloatAudio, FloatAudio, FloatAudio]
) -> None:
    """The weights read without torch, run in numpy, give resemblyzer's own embeddings (its
    torch network in float32 on one thread)."""
    import torch
    from resemblyzer import VoiceEncoder

    torch.set_num_threads(1)
    network = VoiceEncoder("cpu", verbose=False)
    jfk, left, right = speech
    lines = [jfk, left, right[: int(1.5 * RATE)]]  # the last one shorter than a partial
    for line, embedded in zip(lines, encoder.embed(lines), strict=True):
        speech_only = encoder_parts._trim_long_silences(encoder_parts._raise_volume(line, -30))
        mels = encoder_parts._partials(encoder_parts.mel_power(speech_only))
        with torch.inference_mode():
            expected = network(torch.from_numpy(mels)).numpy()
        mean = expected.mean(axis=0)
        assert embedded is not None
        assert 1 - float(embedded @ (mean / np.linalg.norm(mean))) < 1e-5


def test_clips_embedded_together_are_embedded_as_alone(
    encoder: ResemblyzerEncoder,
    speech: tuple[FloatAudio, FloatAudio, FloatAudio],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batching the clips' partials (several batches here, and a partial shorter than the
    others) gives each clip the embedding it gets alone; clips too short get None."""
    jfk, left, right = speech
    clips = [jfk, right[: int(0.5 * RATE)], left, right[: int(1.5 * RATE)], right]
    alone = [encoder.embed([clip])[0] for clip in clips]
    monkeypatch.setattr(encoder_parts, "_BATCH_PARTIALS", 4)
    together = encoder.embed(clips)
    assert alone[1] is None and together[1] is None
    for single, batched in zip(alone, together, strict=True):
        if single is not None:
            assert batched is not None
            assert 1 - float(single @ batched) < 1e-6


def _expected(speakers: list[str]) -> list[str]:
    names: dict[str, str] = {}
    return [names.setdefault(s, f"S{len(names) + 1}") for s in speakers]


@pytest.mark.slow
def test_real_voices_are_told_apart(
    encoder: ResemblyzerEncoder, speech: tuple[FloatAudio, FloatAudio, FloatAudio]
) -> None:
    """A B C A B on one channel with 1 s of silence between: each recording's spans get one
    label and different recordings different labels."""
    audio, spans, speakers = _layouts(speech)["halves"]
    started = time.perf_counter()
    labels = diarize(audio, RATE, spans, encoder)
    print(f"\ndiarized 5 spans in {time.perf_counter() - started:.2f} s (with model load)")
    assert labels == ["S1", "S2", "S3", "S1", "S2"] == _expected(speakers)


@pytest.mark.slow
def test_the_thresholds_sit_in_the_gap_between_real_voices(
    encoder: ResemblyzerEncoder, speech: tuple[FloatAudio, FloatAudio, FloatAudio]
) -> None:
    """Every pair of real lines of 2 s or more: one speaker's score at least 0.05 over
    ``SAME_SPEAKER``, two speakers' at least 0.05 under it (measured: 0.79-0.85 and
    0.44-0.65, the close pair being the two readers). Lines under ``MIN_VOICE_S`` are noisier
    (the 1.06 s fragment: 0.69 to JFK's 2.1 s line) and may not found a voice of their own."""
    same: list[float] = []
    different: list[float] = []
    for name, layout in _layouts(speech).items():
        _, spans, speakers = layout
        vectors = _embed(encoder, layout)
        print(f"\n{name}")
        for i, vector in enumerate(vectors):
            assert vector is not None
            print(" ".join(f"{vector @ other:5.2f}" for other in vectors if other is not None))
            for j in range(i + 1, len(vectors)):
                if min(spans[k][1] - spans[k][0] for k in (i, j)) < MIN_VOICE_S:
                    continue
                other = vectors[j]
                assert other is not None
                (same if speakers[i] == speakers[j] else different).append(float(vector @ other))
    print(
        f"one speaker {min(same):.3f}-{max(same):.3f} ({len(same)} pairs), "
        f"two {min(different):.3f}-{max(different):.3f} ({len(different)} pairs): "
        f"margins {min(same) - SAME_SPEAKER:.3f} over and {SAME_SPEAKER - max(different):.3f} "
        f"under {SAME_SPEAKER}"
    )
    assert min(same) >= SAME_SPEAKER + 0.05
    assert max(different) <= SAME_SPEAKER - 0.05


@pytest.mark.slow
def test_labels_survive_what_other_cpus_and_noise_do_to_embeddings(
    encoder: ResemblyzerEncoder, speech: tuple[FloatAudio, FloatAudio, FloatAudio]
) -> None:
    """resemblyzer's own network (torch: oneDNN kernels, bf16, 4 threads) gives embeddings
    within 1 - cos ~ 2e-4 of the studio's numpy one. The labels hold under that, under bf16
    rounding, and under Gaussian noise 50 times as large (sigma 0.01 a component: 1 - cos ~
    0.013, line similarities 0.03 lower; measured to hold up to sigma 0.0175, where the old
    rules and embeddings split JFK's lines with no noise at all)."""
    perturbations: dict[str, Callable[[list[Embedding | None], int], list[Embedding | None]]]
    perturbations = {"bf16 rounding": lambda vectors, _: [_bf16(v) for v in vectors]}
    for sigma in (0.005, 0.01):
        perturbations[f"noise {sigma}"] = lambda vectors, seed, sigma=sigma: _noisy(
            vectors, sigma, seed
        )
    for name, layout in _layouts(speech).items():
        _, spans, speakers = layout
        expected = _expected(speakers)
        vectors = _embed(encoder, layout)
        other_kernels = _embed_with_torch(layout)
        pairs = zip(vectors, other_kernels, strict=True)
        moved = max(1 - float(a @ b) for a, b in pairs if a is not None and b is not None)
        print(f"\n{name}: bf16 kernels on 4 threads moved embeddings by 1 - cos = {moved:.1e}")
        assert assign_speakers(spans, other_kernels) == expected
        for what, perturb in perturbations.items():
            for seed in range(20):
                assert assign_speakers(spans, perturb(vectors, seed)) == expected, (what, seed)


@pytest.mark.slow
def test_a_mono_reel_of_two_speakers_gets_two_voices(
    encoder: ResemblyzerEncoder,
    pipeline: DubPipeline,
    speech: tuple[FloatAudio, FloatAudio, FloatAudio],
    tmp_path: Path,
) -> None:
    kennedy, reader, _ = speech
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


def _bf16(vector: Embedding | None) -> Embedding | None:
    """Rounded to bfloat16's 8 significant bits (truncated, the coarser way)."""
    if vector is None:
        return None
    bits = np.ascontiguousarray(vector, dtype=np.float32).view(np.uint32) & 0xFFFF0000
    return bits.view(np.float32)


def _noisy(vectors: list[Embedding | None], sigma: float, seed: int) -> list[Embedding | None]:
    rng = np.random.default_rng(seed)
    return [
        None if v is None else (v + rng.normal(0.0, sigma, v.shape)).astype(np.float32)
        for v in vectors
    ]
