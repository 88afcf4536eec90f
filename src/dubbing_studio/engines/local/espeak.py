"""espeak-ng: robotic but tiny and instant, in about a hundred languages.

It is the voice of last resort for languages no neural voice here speaks. Each base voice is also
offered with espeak's male and female variants (``es+m3``, ``es+f3``, ``es+f4``) so that several
speakers of one language can still sound different.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import threading
import wave

import numpy as np

from dubbing_studio.config import EspeakSettings
from dubbing_studio.domain.errors import EngineFailed, EngineUnavailable
from dubbing_studio.domain.speech import FloatAudio, Speech, Voice
from dubbing_studio.engines.local._synthesis import check_rate, pick_voice, speak_in_chunks
from dubbing_studio.engines.protocols import (
    Capability,
    EngineInfo,
    SynthesisOptions,
    Synthesizer,
)
from dubbing_studio.engines.registry import Engine

NATURAL_WPM = 175  # espeak-ng's default speed
SAMPLE_RATE = 22050
_VARIANTS = (("m3", "male"), ("f3", "female"), ("f4", "female"))
# espeak names some languages differently from ISO 639-1, or has no plain voice for them.
_ISO_CODES = {"cmn": "zh"}
_DEFAULT_VOICES = {"en": "en-us", "fr": "fr-fr", "zh": "cmn"}
_TIMEOUT_S = 60.0
_MISSING = "espeak-ng is not installed (apt-get install espeak-ng)."


class EspeakSynthesizer(Engine, Synthesizer):
    """Runs the ``espeak-ng`` program once per chunk; text goes in on stdin, WAV comes out."""

    name = "espeak-ng"

    def __init__(self, settings: EspeakSettings) -> None:
        self._settings = settings
        self._voices: list[Voice] | None = None
        self._voices_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._settings.binary

    def info(self) -> EngineInfo:
        available = shutil.which(self._settings.binary) is not None
        voices = self.voices() if available else []
        return EngineInfo(
            name=self.name,
            capability=Capability.SYNTHESIZE,
            description="espeak-ng formant TTS: robotic, instant, about a hundred languages.",
            available=available,
            reason=None if available else _MISSING,
            languages=tuple(sorted({v.language for v in voices})),
            voices=tuple(voices),
        )

    def voices(self) -> list[Voice]:
        """Parsed from ``espeak-ng --voices`` once; the default voice of each language first."""
        with self._voices_lock:
            if self._voices is None:
                listing = self._run(["--voices"], b"").decode("utf-8", errors="replace")
                self._voices = _parse_voices(listing)
            return self._voices

    def synthesize(self, text: str, options: SynthesisOptions) -> Speech:
        wpm = round(NATURAL_WPM * check_rate(options.rate))
        voice = pick_voice(self.name, self.voices(), options)
        args = ["--stdout", "-b", "1", "-v", voice.id, "-s", str(wpm)]

        def speak(chunk: str) -> FloatAudio:
            return _decode_wav(self._run(args, chunk.encode("utf-8")))

        return speak_in_chunks(text, speak, SAMPLE_RATE)

    def _run(self, args: list[str], stdin: bytes) -> bytes:
        """espeak-ng's stdout; the text only ever travels on stdin, never as an argument."""
        try:
            done = subprocess.run(
                [self._settings.binary, *args],
                input=stdin,
                capture_output=True,
                timeout=_TIMEOUT_S,
                check=False,
            )
        except FileNotFoundError as error:
            raise EngineUnavailable(_MISSING) from error
        except subprocess.TimeoutExpired as error:
            raise EngineFailed(f"espeak-ng took longer than {_TIMEOUT_S:.0f} s.") from error
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", errors="replace").strip()[-300:]
            raise EngineFailed(f"espeak-ng failed (exit {done.returncode}): {detail}")
        return done.stdout


def _parse_voices(listing: str) -> list[Voice]:
    """Voices from the ``--voices`` table (Pty, Language, Age/Gender, VoiceName, File, ...)."""
    bases: list[tuple[str, str, str, str | None]] = []
    seen: set[str] = set()
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[1] in seen:
            continue
        tag, gender_field, label = fields[1], fields[2], fields[3]
        seen.add(tag)
        primary = tag.split("-")[0].lower()
        language = _ISO_CODES.get(primary, primary)
        gender = {"M": "male", "F": "female"}.get(gender_field.rpartition("/")[2])
        bases.append((tag, language, label.replace("_", " "), gender))
    # The default voice of each language first: pick_voice takes the first that speaks it.
    bases.sort(key=lambda b: b[0] not in {b[1], f"{b[1]}-{b[1]}", _DEFAULT_VOICES.get(b[1])})
    voices: list[Voice] = []
    for tag, language, label, gender in bases:
        voices.append(Voice(id=tag, language=language, name=label, gender=gender))
        voices.extend(
            Voice(id=f"{tag}+{variant}", language=language, name=f"{label} ({variant})", gender=g)
            for variant, g in _VARIANTS
        )
    return voices


def _decode_wav(data: bytes) -> FloatAudio:
    """16-bit mono WAV to float32. Streamed to a pipe, espeak's header gives no real length."""
    try:
        with wave.open(io.BytesIO(data)) as reader:
            rate, width = reader.getframerate(), reader.getsampwidth()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as error:
        raise EngineFailed(f"espeak-ng returned no readable audio: {error}") from error
    if (rate, width) != (SAMPLE_RATE, 2):  # mbrola voices (not listed) would be 16 kHz
        raise EngineFailed(
            f"espeak-ng returned {rate} Hz {8 * width}-bit audio, not {SAMPLE_RATE} Hz 16-bit."
        )
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
