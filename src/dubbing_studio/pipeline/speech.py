"""Stage 5: speak each line in its speaker's voice and fit it to the original timing.

Too long for its slot: first borrow the silence before the speaker's next line, then ask the
engine for a faster native rate, then time-stretch (pitch kept) the rest, never beyond the
speed cap. What still does not fit runs a little over, or is cut at a pause with a fade and
reported. Lines shorter than their slot are padded with silence, never slowed down.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dubbing_studio import media
from dubbing_studio.domain.dub import FitOutcome, Segment, SegmentStatus
from dubbing_studio.domain.speech import FloatAudio, Speech
from dubbing_studio.engines.protocols import SynthesisOptions
from dubbing_studio.pipeline.artifacts import artifact_key
from dubbing_studio.pipeline.casting import VoiceRef
from dubbing_studio.pipeline.context import DubContext
from dubbing_studio.pipeline.timing import FitPlan, Window, plan_fit

FADE_S = 0.03
PAUSE_FRAME_S = 0.02
PAUSE_DB = -35.0


@dataclass(frozen=True, slots=True)
class FittedLine:
    segment: Segment
    start: float  # where the clip is placed in the mix
    samples: FloatAudio
    sample_rate: int

    @property
    def end(self) -> float:
        return self.start + len(self.samples) / self.sample_rate


async def speak_line(
    ctx: DubContext,
    segment: Segment,
    start: float,
    window: Window,
    voice: VoiceRef,
    language: str,
    shift: float = 0.0,
    reference: bytes | None = None,
    character: str | None = None,
) -> FittedLine:
    """The fitted clip of one line, from the store when its inputs are unchanged; ``shift``
    moves its pitch by that many semitones (the speaker's own pitch), keeping its length;
    ``reference`` is the speaker's voice sample for an engine that clones voices;
    ``character`` (``character_of``) is passed to synthesizers that direct delivery."""
    speak = _Speaking(segment.target_text, voice, language, character, reference)
    natural_key, natural = await _synthesized(ctx, speak, 1.0)
    plan = plan_fit(natural.duration, start, window, ctx.plan.timing)
    fitted_key = artifact_key(
        "fitted",
        speech=natural_key,
        speed=round(plan.speed, 4),
        length=round(plan.length_s, 4),
        outcome=plan.outcome.value,
        **({"shift": round(shift, 2)} if shift else {}),  # unshifted keys stay as they were
    )
    await ctx.use((fitted_key, "npz"))
    cached = ctx.store.load_audio(fitted_key)
    if cached is not None:
        samples, rate = cached
    else:
        samples, rate = await _fit(ctx, speak, natural, plan)
        if shift:
            samples = await ctx.compute(media.pitch_shift, samples, rate, shift)
        ctx.store.save_audio(fitted_key, samples, rate)
    fitted_s = len(samples) / rate
    spoken_s = natural.duration / plan.speed
    return FittedLine(
        segment=segment.edited(
            voice=str(voice),
            status=SegmentStatus.READY,
            audio_key=fitted_key,
            synthesized_s=round(natural.duration, 3),
            fitted_s=round(fitted_s, 3),
            speed=round(plan.speed, 3),
            overrun_s=round(plan.overrun_s, 3),
            outcome=plan.outcome,
            words_trimmed=(
                words_lost(segment.target_text, fitted_s, spoken_s)
                if plan.outcome == FitOutcome.TRIMMED
                else 0
            ),
        ),
        start=start,
        samples=samples,
        sample_rate=rate,
    )


@dataclass(frozen=True, slots=True)
class _Speaking:
    text: str
    voice: VoiceRef
    language: str
    character: str | None
    reference: bytes | None = None  # WAV of the voice to speak in (``VoiceCloner``s)


def character_of(speaker: str, voice: VoiceRef, lines: Sequence[Segment]) -> str:
    """Who says a speaker's lines, for voice direction: the speaker, the voice and a few of
    their lines, so every line of one speaker is directed as the same character."""
    said = [s.target_text for s in lines if s.speaker == speaker and s.target_text][:3]
    return f"Speaker {speaker} (voice {voice.voice}), who says: " + " / ".join(said)[:400]


async def _synthesized(ctx: DubContext, speak: _Speaking, rate: float) -> tuple[str, Speech]:
    voice, reference = speak.voice, speak.reference
    synth = ctx.studio.registry.synthesizer(voice.engine)
    # Only an engine that directs delivery hears the character; for the others it would
    # only split the cache.
    character = speak.character if getattr(synth, "directs_delivery", False) else None
    key = artifact_key(
        "speech",
        engine=voice.engine,
        model=synth.model_id,
        voice=voice.voice,
        language=speak.language,
        text=speak.text,
        rate=round(rate, 4),
        **({"character": character} if character else {}),
        **({"reference": hashlib.sha256(reference).hexdigest()} if reference else {}),
    )
    await ctx.use((key, "npz"))
    cached = ctx.store.load_audio(key)
    if cached is not None:
        return key, Speech(*cached)
    options = SynthesisOptions(
        voice=voice.voice,
        language=speak.language,
        rate=rate,
        character=character,
        reference_audio=reference,
    )
    speech = await ctx.engine("synthesize", synth.name, synth.synthesize, speak.text, options)
    ctx.store.save_audio(key, speech.samples, speech.sample_rate)
    return key, speech


async def _fit(
    ctx: DubContext, speak: _Speaking, natural: Speech, plan: FitPlan
) -> tuple[FloatAudio, int]:
    if plan.speed <= 1.0:
        samples, rate = natural.samples, natural.sample_rate
    else:
        _, faster = await _synthesized(ctx, speak, plan.speed)
        rate = faster.sample_rate
        spoken_s = natural.duration / plan.speed  # the length at exactly the planned speed
        samples = await ctx.compute(_stretch_to, faster.samples, rate, round(spoken_s * rate))
    if plan.outcome == FitOutcome.TRIMMED:
        samples = trim_at_pause(samples, rate, plan.length_s)
    return samples, rate


def _stretch_to(samples: FloatAudio, rate: int, length: int) -> FloatAudio:
    """Pitch-preserving stretch to exactly ``length`` samples."""
    if length <= 0:
        return np.zeros(0, dtype=np.float32)
    factor = len(samples) / length
    out = samples if abs(factor - 1.0) < 1e-3 else media.time_stretch(samples, rate, factor)
    if len(out) >= length:
        return out[:length].astype(np.float32)
    return np.pad(out, (0, length - len(out))).astype(np.float32)


def trim_at_pause(samples: FloatAudio, rate: int, limit_s: float) -> FloatAudio:
    """Cut at the last quiet moment (a gap between words) before ``limit_s``, with a short
    fade, so a line that cannot fit never stops mid-word when a pause is available."""
    limit = min(len(samples), int(limit_s * rate))
    frame = max(1, int(PAUSE_FRAME_S * rate))
    peak = float(np.max(np.abs(samples[:limit]))) if limit else 0.0
    cut = limit
    if peak > 0:
        threshold = peak * 10 ** (PAUSE_DB / 20)
        for end in range(limit, limit // 2, -frame):
            window = samples[max(0, end - frame) : end]
            if np.sqrt(np.mean(window**2)) < threshold:
                cut = end
                break
    out = samples[:cut].astype(np.float32).copy()
    fade = min(len(out), int(FADE_S * rate))
    if fade:
        out[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return out


def words_lost(text: str, kept_s: float, spoken_s: float) -> int:
    """Words of ``text`` cut when only ``kept_s`` of its ``spoken_s`` are heard, assuming an
    even pace: at least one whenever anything audible was cut."""
    lost = 1.0 - kept_s / spoken_s if spoken_s > 0 else 0.0
    if lost <= 0.02:  # the fade and a trailing pause, not words
        return 0
    words = len(text.split())
    return min(words, max(1, math.ceil(words * lost - 0.5)))
