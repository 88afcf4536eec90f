"""What the local synthesizers share: voice choice, rate limits and chunked synthesis.

Every engine speaks long text as bounded chunks (memory and latency stay flat), trims each
chunk's own leading and trailing silence and joins them with one fixed pause, so pauses sound the
same whichever engine spoke.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from dubbing_studio.domain.errors import (
    EngineUnavailable,
    InvalidInput,
    NotFound,
    UnsupportedLanguage,
)
from dubbing_studio.domain.languages import language_name
from dubbing_studio.domain.speech import FloatAudio, Speech, Voice
from dubbing_studio.engines.protocols import SynthesisOptions
from dubbing_studio.engines.text import split_sentences

SENTENCE_PAUSE_S = 0.2
MIN_RATE, MAX_RATE = 0.5, 2.0
_SILENCE = 0.01  # about -40 dBFS
_EDGE_PAD_S = 0.04  # kept around speech so soft onsets and endings are not clipped
_LISTED_VOICES = 30


def check_rate(rate: float) -> float:
    """The speaking rate, if every local engine can honour it (Kokoro stops at 0.5-2.0)."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise InvalidInput(f"Speaking rate must be between {MIN_RATE} and {MAX_RATE}, not {rate}.")
    return rate


def pick_voice(engine: str, voices: Sequence[Voice], options: SynthesisOptions) -> Voice:
    """The requested voice, or the first one speaking the requested language.

    Engines list their best default for each language first.
    """
    language = options.language
    if options.voice:
        voice = next((v for v in voices if v.id == options.voice), None)
        if voice is None:
            raise NotFound(
                f"{engine} has no voice {options.voice!r}; voices: {_voice_list(voices)}."
            )
        if language and not voice.speaks(language):
            raise UnsupportedLanguage(
                f"{engine} voice {voice.id!r} does not speak {language_name(language)}."
            )
        return voice
    if not voices:
        raise EngineUnavailable(f"{engine} has no voice installed.")
    speakers = [v for v in voices if not language or v.speaks(language)]
    if not speakers:
        spoken = ", ".join(sorted({code for v in voices for code in (v.language, *v.languages)}))
        raise UnsupportedLanguage(
            f"{engine} has no voice for {language_name(language or '')}; it speaks: {spoken}."
        )
    return speakers[0]


def speak_in_chunks(text: str, speak: Callable[[str], FloatAudio], sample_rate: int) -> Speech:
    """Speak ``text`` chunk by chunk with ``speak`` and join the pieces with short pauses."""
    chunks = split_sentences(text)
    if not chunks:
        raise InvalidInput("Text to speak must not be empty.")
    return Speech(join_with_pauses((speak(chunk) for chunk in chunks), sample_rate), sample_rate)


def join_with_pauses(parts: Iterable[FloatAudio], sample_rate: int) -> FloatAudio:
    """Trimmed pieces joined by ``SENTENCE_PAUSE_S`` of silence, clipped to [-1, 1]."""
    pause = np.zeros(int(SENTENCE_PAUSE_S * sample_rate), dtype=np.float32)
    joined: list[FloatAudio] = []
    for part in parts:
        trimmed = trim_silence(part, sample_rate)
        if trimmed.size:
            joined.extend((pause, trimmed) if joined else (trimmed,))
    if not joined:
        return np.zeros(0, dtype=np.float32)
    return np.clip(np.concatenate(joined), -1.0, 1.0).astype(np.float32, copy=False)


def trim_silence(samples: FloatAudio, sample_rate: int) -> FloatAudio:
    """``samples`` as mono float32 without leading and trailing silence (but a short pad)."""
    audio = np.asarray(samples, dtype=np.float32).ravel()
    loud = np.flatnonzero(np.abs(audio) > _SILENCE)
    if not loud.size:
        return audio[:0]
    pad = int(_EDGE_PAD_S * sample_rate)
    return audio[max(0, loud[0] - pad) : loud[-1] + 1 + pad]


def _voice_list(voices: Sequence[Voice]) -> str:
    ids = [v.id for v in voices[:_LISTED_VOICES]]
    more = len(voices) - len(ids)
    return ", ".join(ids) + (f" (and {more} more)" if more > 0 else "") if ids else "none"
