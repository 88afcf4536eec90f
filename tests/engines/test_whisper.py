"""Whisper on real human speech: the bundled base and tiny.en models."""

from __future__ import annotations

import itertools
import wave
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import numpy as np
import pytest

from dubbing_studio.config import KokoroSettings, WhisperSettings
from dubbing_studio.domain.errors import InvalidInput, UnsupportedLanguage
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.engines.local import whisper as whisper_module
from dubbing_studio.engines.local.kokoro import KokoroSynthesizer
from dubbing_studio.engines.local.whisper import WhisperTranscriber
from dubbing_studio.engines.protocols import SynthesisOptions, TranscribeOptions
from dubbing_studio.media import decode_audio, resample
from tests.metrics import word_error_rate

JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
LEFT = (
    "He began a confused complaint against the wizard, who had vanished behind the curtain "
    "on the left."
)
RIGHT = "The horizon seems extremely distant."
SPANISH = (
    "Buenos días, me llamo Carlos y vivo en una pequeña ciudad cerca del mar.",
    "Mi familia va al mercado todos los sábados por la mañana para comprar fruta fresca.",
)


@pytest.fixture(scope="module")
def whisper_tiny_en(models_dir: Path) -> WhisperTranscriber:
    return WhisperTranscriber(
        WhisperSettings(model="tiny.en"), idle_ttl_s=3600, cache_dir=models_dir
    )


@pytest.mark.slow
def test_base_transcribes_jfk_with_words_and_language(
    whisper_base: WhisperTranscriber, samples_dir: Path
) -> None:
    result = whisper_base.transcribe(samples_dir / "jfk.flac", TranscribeOptions())

    assert word_error_rate(JFK, result.text) <= 0.10, result.text
    assert result.language == "en" and result.language_probability > 0.5
    assert result.duration == pytest.approx(11.0, abs=0.1)
    words = [word for segment in result.segments for word in segment.words]
    assert len(words) >= 20
    assert all(word.text and word.text == word.text.strip() for word in words)
    assert all(0.0 <= word.start <= word.end <= result.duration + 0.01 for word in words)
    assert all(a.start <= b.start and a.end <= b.end for a, b in pairwise(words))
    assert all(0.0 <= word.probability <= 1.0 for word in words)


@pytest.mark.slow
def test_base_with_a_given_language_and_no_word_timestamps(
    whisper_base: WhisperTranscriber, samples_dir: Path
) -> None:
    options = TranscribeOptions(language="en", word_timestamps=False, vad=False)
    result = whisper_base.transcribe(samples_dir / "jfk.flac", options)

    assert word_error_rate(JFK, result.text) <= 0.10, result.text
    assert result.language == "en" and result.language_probability == 1.0
    assert result.segments and all(not segment.words for segment in result.segments)


@pytest.mark.slow
def test_tiny_en_transcribes_jfk(whisper_tiny_en: WhisperTranscriber, samples_dir: Path) -> None:
    result = whisper_tiny_en.transcribe(samples_dir / "jfk.flac", TranscribeOptions())

    assert word_error_rate(JFK, result.text) <= 0.15, result.text
    assert result.language == "en"


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [TranscribeOptions(language="es"), TranscribeOptions(task="translate")],
    ids=["spanish", "translate"],
)
def test_tiny_en_refuses_other_languages_and_translation(
    whisper_tiny_en: WhisperTranscriber, samples_dir: Path, options: TranscribeOptions
) -> None:
    with pytest.raises(UnsupportedLanguage, match="English-only"):
        whisper_tiny_en.transcribe(samples_dir / "jfk.flac", options)


@pytest.mark.slow
def test_a_call_may_ask_for_another_bundled_model(
    whisper_base: WhisperTranscriber, samples_dir: Path
) -> None:
    """base configured, tiny.en asked for: tiny.en answers (it is English-only, so Spanish is
    refused by name), and base stays the engine's own."""
    tiny = TranscribeOptions(language="en", model="tiny.en")

    result = whisper_base.transcribe(samples_dir / "jfk.flac", tiny)

    assert word_error_rate(JFK, result.text) <= 0.15, result.text
    spanish = TranscribeOptions(language="es", model="tiny.en")
    with pytest.raises(UnsupportedLanguage, match="'tiny.en' is English-only"):
        whisper_base.transcribe(samples_dir / "jfk.flac", spanish)
    assert whisper_base.info().extra["model"] == "base"
    assert whisper_base.model_id.startswith("base ")


@pytest.mark.slow
def test_each_model_decodes_with_its_own_beam(
    whisper_base: WhisperTranscriber, samples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """base at the engine's beam (3 hears it as 5 does), tiny.en at the width it needs (5: at 3
    it mishears more of a hear-back), and the stage keys tell the two apart."""
    from faster_whisper import BatchedInferencePipeline

    beams: list[int] = []
    decode = BatchedInferencePipeline.transcribe

    def recording(self: BatchedInferencePipeline, *args: object, **kwargs: object) -> object:
        beams.append(cast(int, kwargs["beam_size"]))
        return decode(self, *args, **kwargs)

    monkeypatch.setattr(BatchedInferencePipeline, "transcribe", recording)
    for model in (None, "tiny.en"):
        result = whisper_base.transcribe(
            samples_dir / "jfk.flac", TranscribeOptions(language="en", model=model)
        )
        assert word_error_rate(JFK, result.text) <= 0.15, result.text

    assert beams == [3, 5]
    assert "beam=3 tiny.en:beam=5" in whisper_base.model_id


def test_a_model_the_engine_does_not_offer_is_refused_before_any_load(
    models_dir: Path, write_wav: Callable[[FloatAudio, int], Path]
) -> None:
    engine = WhisperTranscriber(WhisperSettings(), idle_ttl_s=60, cache_dir=models_dir / "unused")
    silence = write_wav(np.zeros(16_000, dtype=np.float32), 16_000)

    with pytest.raises(InvalidInput, match="not 'large-v3'"):
        engine.transcribe(silence, TranscribeOptions(model="large-v3"))
    assert engine.info().extra["loaded"] is False


@pytest.mark.slow
@pytest.mark.parametrize(("channel", "reference"), [(0, LEFT), (1, RIGHT)], ids=["left", "right"])
def test_each_channel_of_a_two_speaker_recording(
    whisper_base: WhisperTranscriber,
    samples_dir: Path,
    write_wav: Callable[[FloatAudio, int], Path],
    channel: int,
    reference: str,
) -> None:
    # The speakers overlap in time, so a little of the other one leaks into each channel.
    with wave.open(str(samples_dir / "stereo_diarization.wav")) as stereo:
        rate, channels = stereo.getframerate(), stereo.getnchannels()
        frames = np.frombuffer(stereo.readframes(stereo.getnframes()), dtype="<i2")
    samples = frames.reshape(-1, channels)[:, channel].astype(np.float32) / 32768.0

    result = whisper_base.transcribe(write_wav(samples, rate), TranscribeOptions(language="en"))

    assert word_error_rate(reference, result.text) <= 0.25, result.text


def test_info_describes_the_engine_without_loading_a_model(models_dir: Path) -> None:
    engine = WhisperTranscriber(WhisperSettings(), idle_ttl_s=60, cache_dir=models_dir / "unused")

    info = engine.info()

    assert info.available and info.reason is None
    assert {"base", "tiny.en"} <= set(info.models)
    assert {"en", "es", "ja"} <= set(info.languages) and "eo" not in info.languages
    assert info.extra["loaded"] is False
    assert not (models_dir / "unused").exists()


def test_tiny_en_info_lists_english_only() -> None:
    engine = WhisperTranscriber(WhisperSettings(model="tiny.en"), idle_ttl_s=60)

    assert engine.info().languages == ("en",)


def test_missing_model_packages_make_it_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(whisper_module, "missing_packages", lambda *names: list(names))

    info = WhisperTranscriber(WhisperSettings(), idle_ttl_s=60).info()

    assert not info.available
    assert info.reason is not None and "pip install" in info.reason


def test_unknown_task_is_refused_before_loading(samples_dir: Path) -> None:
    engine = WhisperTranscriber(WhisperSettings(), idle_ttl_s=60)

    with pytest.raises(InvalidInput, match="summarise"):
        engine.transcribe(samples_dir / "jfk.flac", TranscribeOptions(task="summarise"))
    assert engine.info().extra["loaded"] is False


def _mono(samples_dir: Path, name: str, channel: int | None = None) -> FloatAudio:
    samples, _ = decode_audio(
        samples_dir / name, sample_rate=16_000, channels="mono", channel=channel
    )
    return samples


@pytest.mark.slow
def test_batched_decoding_hears_a_long_recording_as_sequential_decoding_does(
    whisper_base: WhisperTranscriber,
    models_dir: Path,
    samples_dir: Path,
    write_wav: Callable[[FloatAudio, int], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 46 s: more speech than one 30 s window, with a 3 s pause that starts a new window.
    pieces = [
        _mono(samples_dir, "jfk.flac"),
        _mono(samples_dir, "stereo_diarization.wav", 0),
        _mono(samples_dir, "stereo_diarization.wav", 1),
    ]
    pause = np.zeros(8_000, dtype=np.float32)
    audio = np.concatenate(
        [*(p for piece in pieces for p in (piece, pause)), np.zeros(48_000, np.float32)]
        + [p for piece in pieces for p in (piece, pause)]
    )
    path = write_wav(audio, 16_000)
    reference = " ".join([JFK, LEFT, RIGHT] * 2)
    sequential = WhisperTranscriber(
        WhisperSettings(batch_size=0), idle_ttl_s=3600, cache_dir=models_dir
    )
    options = TranscribeOptions(word_timestamps=True, language_per_region=True)
    encoded = _count_encodings(monkeypatch)

    batched_result = whisper_base.transcribe(path, options)
    # Both windows once, in one batch: each stretch's language is read from its frames, and
    # the decoding of the one language heard gets the same encodings.
    assert encoded == [2]
    sequential_result = sequential.transcribe(path, options)

    assert whisper_base.model_id != sequential.model_id  # stored transcripts are not shared
    for result in (batched_result, sequential_result):
        assert word_error_rate(reference, result.text) <= 0.05, result.text
        assert result.language == "en"
        assert {segment.language for segment in result.segments} == {"en"}
    words = [word for segment in batched_result.segments for word in segment.words]
    heard = [word for segment in sequential_result.segments for word in segment.words]
    assert len(words) == len(heard)
    assert all(0.0 <= word.start <= word.end <= batched_result.duration for word in words)
    assert all(a.start <= b.start for a, b in pairwise(words))
    # The same words at nearly the same times, but for a word after a pause: decoded one
    # window after another, Whisper may start it anywhere in the pause (here up to 0.8 s before
    # the speech); decoded with the long pauses cut out, every word lies in speech.
    moved = sorted(abs(a.start - b.start) for a, b in zip(words, heard, strict=True))
    assert moved[len(moved) // 2] <= 0.05, moved
    speech = batched_result.speech or ()
    assert all(
        any(start - 0.2 <= (word.start + word.end) / 2 <= end + 0.2 for start, end in speech)
        for word in words
    )
    silence_start = sum(len(piece) + len(pause) for piece in pieces) / 16_000
    assert not any(
        silence_start < (word.start + word.end) / 2 < silence_start + 3.0 for word in words
    )


@pytest.mark.slow
def test_each_stretch_is_heard_in_its_own_language(
    whisper_base: WhisperTranscriber,
    models_dir: Path,
    samples_dir: Path,
    write_wav: Callable[[FloatAudio, int], Path],
) -> None:
    """English, Spanish, English, Spanish: told apart stretch by stretch from the encodings of
    the windows they share, then each run decoded in its own language."""
    kokoro = KokoroSynthesizer(KokoroSettings(cache_dir=models_dir / "kokoro"), models_dir, 3600)

    def spoken_spanish(text: str) -> FloatAudio:
        speech = kokoro.synthesize(text, SynthesisOptions(language="es"))
        return resample(speech.samples, speech.sample_rate, 16_000)

    pause = np.zeros(24_000, dtype=np.float32)
    pieces = [
        _mono(samples_dir, "jfk.flac"),
        spoken_spanish(SPANISH[0]),
        _mono(samples_dir, "stereo_diarization.wav", 0),
        spoken_spanish(SPANISH[1]),
    ]
    path = write_wav(np.concatenate([p for piece in pieces for p in (piece, pause)]), 16_000)

    result = whisper_base.transcribe(
        path, TranscribeOptions(word_timestamps=True, language_per_region=True)
    )

    heard = [(segment.language, segment.text) for segment in result.segments]
    languages = [language for language, _ in heard]
    assert [code for code, _ in itertools.groupby(languages)] == ["en", "es", "en", "es"], heard
    english = " ".join(text for language, text in heard if language == "en")
    spanish = " ".join(text for language, text in heard if language == "es")
    assert word_error_rate(f"{JFK} {LEFT}", english) <= 0.1, english
    assert word_error_rate(" ".join(SPANISH), spanish) <= 0.15, spanish


def _count_encodings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The batch size of every call to Whisper's encoder from now on."""
    from faster_whisper import WhisperModel

    calls: list[int] = []
    encode = WhisperModel.encode

    def counting(self: WhisperModel, features: np.ndarray) -> object:
        calls.append(len(features))
        return encode(self, features)

    monkeypatch.setattr(WhisperModel, "encode", counting)
    return calls


def test_windows_group_speech_up_to_whisper_window_and_cut_long_speech_where_quiet() -> None:
    rng = np.random.default_rng(0)
    samples = rng.uniform(-0.5, 0.5, 80 * 16_000).astype(np.float32)
    samples[int(33.0 * 16_000) : int(33.1 * 16_000)] = 0.0  # the quiet spot in 70 s of talk
    speech = [(0.5, 3.0), (3.5, 6.0), (9.0, 79.0)]

    windows = whisper_module._windows(samples, speech, 0.0, 80.0)

    spans = [(window["start"], window["end"]) for window in windows]
    assert spans[0] == pytest.approx((0.1, 6.4))  # a short pause joins, padding either side
    assert spans[1][0] == pytest.approx(8.6)  # 3 s of silence start a new window
    assert spans[1][1] == pytest.approx(33.05, abs=0.1)  # cut in the quiet tenth of a second
    assert all(end - start <= 30.0 for start, end in spans)
    assert all(a[1] <= b[0] for a, b in pairwise(spans))
    assert spans[-1][1] == pytest.approx(79.4)


def test_a_region_of_speech_without_words_is_unheard() -> None:
    def word(start: float, end: float) -> SimpleNamespace:
        return SimpleNamespace(start=start, end=end)

    segments = [SimpleNamespace(words=[word(0.5, 0.9), word(1.0, 1.6), word(4.1, 4.4)])]
    speech = [(0.4, 1.8), (2.5, 3.5), (3.9, 4.5), (5.0, 5.2), (7.0, 8.0)]

    unheard = whisper_module._unheard(speech, (0.0, 6.0), segments)  # type: ignore[arg-type]

    assert unheard == [(2.5, 3.5)]  # 5.0-5.2 is too short to ask again; 7.0 is another run


def test_splicing_cuts_long_pauses_down_to_the_padding_around_speech() -> None:
    speech = [(0.5, 3.0), (3.4, 6.0), (9.0, 20.0), (30.0, 31.0)]

    splice = whisper_module._Splice.around(speech, 0.0, 25.0)

    pad = whisper_module._SPLICE_PAD_S
    # A short pause stays whole; a longer one keeps the padding either side; 30.0 is another run.
    edges = [edge for piece in splice.pieces for edge in piece]
    assert edges == pytest.approx([0.5 - pad, 6.0 + pad, 9.0 - pad, 20.0 + pad])
    assert splice.starts == pytest.approx((0.0, 6.0 + 2 * pad - 0.5))
    heard = splice.regions(speech)
    assert len(heard) == 3
    assert [splice.time(start) for start, _ in heard] == pytest.approx([0.5, 3.4, 9.0])
    assert [splice.time(end) for _, end in heard] == pytest.approx([3.0, 6.0, 20.0])


def test_spliced_times_map_back_in_order_and_never_into_a_removed_pause() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        edges = np.cumsum(rng.uniform(0.05, 4.0, 2 * rng.integers(1, 8)))
        pieces = [(float(a), float(b)) for a, b in edges.reshape(-1, 2)]
        splice = whisper_module._Splice.of(pieces)
        length = splice.starts[-1] + pieces[-1][1] - pieces[-1][0]

        times = [splice.time(t) for t in np.sort(rng.uniform(-1.0, length + 1.0, 200))]

        assert times == sorted(times)
        assert all(any(a <= t <= b for a, b in pieces) for t in times)
        for index, (start, end) in enumerate(pieces):
            offset = splice.starts[index]
            assert splice.time(offset) == pytest.approx(start)
            assert splice.time(offset + end - start, index) == pytest.approx(end)


def test_a_word_across_a_removed_pause_stays_in_the_piece_of_its_middle() -> None:
    from faster_whisper.transcribe import Segment, Word

    splice = whisper_module._Splice.of([(1.0, 3.0), (10.0, 12.0)])  # 2.0 in the splice is 10.0
    word = Word(start=1.9, end=2.3, word=" hello", probability=0.9)
    segment = Segment(0, 0, 0.2, 2.0, " hello", [], -0.1, 1.0, 0.01, [word], 0.0)

    moved = splice.to_input(segment)

    assert moved.words
    assert (moved.words[0].start, moved.words[0].end) == pytest.approx((10.0, 10.3))
    assert (moved.start, moved.end) == pytest.approx((1.2, 3.0))  # ends where its piece ends
