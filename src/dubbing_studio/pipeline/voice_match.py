"""Voices matched to the speaker, offline: each speaker's median F0 and gender from their own
lines, each local voice's median F0 measured once (and stored), and the pitch shift that
brings a voice toward its speaker (``--match-voice``), bounded to ±4 semitones.

Gender is read from F0 with one threshold (165 Hz, between typical adult male and female
speech); its confidence grows with the distance from the threshold and with the amount of
voiced speech heard.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dubbing_studio import media
from dubbing_studio.domain.dub import DubPlan, Segment
from dubbing_studio.domain.speech import RECOGNITION_RATE, FloatAudio, Voice
from dubbing_studio.engines.protocols import SynthesisOptions, VoiceCloner
from dubbing_studio.engines.registry import EngineRegistry
from dubbing_studio.media.pitch import HOP_S, semitones, track_f0
from dubbing_studio.pipeline.artifacts import ArtifactStore, artifact_key
from dubbing_studio.pipeline.casting import VoiceRef, cast_voices, pitch_pool
from dubbing_studio.pipeline.context import DubContext
from dubbing_studio.pipeline.ingest import Ingested
from dubbing_studio.pipeline.reference import reference_span

GENDER_THRESHOLD_HZ = 165.0
CLEAR_SEMITONES = 4.0  # this far from the threshold, gender is as sure as F0 can make it
ENOUGH_VOICED_S = 1.0  # less voiced speech than this lowers the confidence
ESTIMATE_BUDGET_S = 90.0  # of each speaker's speech, for their pitch
MAX_SHIFT_SEMITONES = 4.0
# What each voice says once to have its pitch measured (an even, declarative sentence).
PITCH_SAMPLE = "Hello, this is how my voice sounds."
# Where measured voice pitches are kept: beside the assembled models, since they describe the
# installed voices rather than any one dub (and outlive every project).
VOICE_PITCH_DIR = Path("models") / "voice-pitch"


@dataclass(frozen=True, slots=True)
class SpeakerPitch:
    """What a speaker's lines say about their voice."""

    median_f0: float | None  # Hz, over voiced frames; None when none was voiced
    voiced_s: float
    gender: str | None  # "male" / "female" from F0; None without F0
    confidence: float  # 0..1, how sure the gender is

    @classmethod
    def from_f0(cls, f0: np.ndarray) -> SpeakerPitch:
        if not len(f0):
            return cls(None, 0.0, None, 0.0)
        median = float(np.median(f0))
        voiced_s = len(f0) * HOP_S
        distance = abs(semitones(GENDER_THRESHOLD_HZ, median)) / CLEAR_SEMITONES
        confidence = (0.5 + 0.5 * min(1.0, distance)) * min(1.0, voiced_s / ENOUGH_VOICED_S)
        return cls(
            median_f0=round(median, 1),
            voiced_s=round(voiced_s, 2),
            gender="female" if median >= GENDER_THRESHOLD_HZ else "male",
            confidence=round(confidence, 2),
        )


def speaker_audio(ingested: Ingested, speaker: str) -> Path:
    """The recognition audio a speaker is heard in: their own channel when the speakers were
    panned apart (``S<n>`` is channel n), else the one mono file."""
    channels = ingested.recognition
    number = speaker[1:] if speaker.startswith("S") else ""
    if len(channels) > 1 and number.isdigit() and 1 <= int(number) <= len(channels):
        return channels[int(number) - 1]
    return channels[0]


def estimate_speakers(ingested: Ingested, lines: Sequence[Segment]) -> dict[str, SpeakerPitch]:
    """Median F0 and gender of every speaker, from the audio of their own lines only (their
    longest lines up to ``ESTIMATE_BUDGET_S``, each decoded alone: hours of input cost no
    more than a few minutes of it)."""
    estimates = {}
    for speaker in dict.fromkeys(line.speaker for line in lines):
        path = speaker_audio(ingested, speaker)
        f0 = [
            track_f0(_line_audio(path, line.start, line.end), RECOGNITION_RATE)
            for line in _longest(lines, speaker, ESTIMATE_BUDGET_S)
        ]
        estimates[speaker] = SpeakerPitch.from_f0(np.concatenate(f0) if f0 else np.zeros(0))
    return estimates


def _longest(lines: Sequence[Segment], speaker: str, budget_s: float) -> list[Segment]:
    chosen, total = [], 0.0
    for line in sorted((s for s in lines if s.speaker == speaker), key=lambda s: -s.duration):
        if total >= budget_s:
            break
        chosen.append(line)
        total += line.duration
    return chosen


def _line_audio(path: Path, start: float, end: float) -> FloatAudio:
    """A window of the studio's own recognition audio (trusted: it wrote the file)."""
    return media.decode_audio(path, sample_rate=RECOGNITION_RATE, start_s=start, end_s=end)[0]


async def voice_pitch(ctx: DubContext, voice: VoiceRef, language: str) -> float | None:
    """A voice's median F0, measured on a sample sentence the first time and then stored."""
    synth = ctx.studio.registry.synthesizer(voice.engine)
    key = artifact_key("voice-pitch", engine=voice.engine, model=synth.model_id, voice=voice.voice)
    table = ArtifactStore(ctx.studio.settings.data_dir / VOICE_PITCH_DIR)
    if table.has(key, "json"):
        stored: float | None = table.read_json(key)["median_f0"]
        return stored
    options = SynthesisOptions(voice=voice.voice, language=language)
    speech = await ctx.engine("voice-pitch", synth.name, synth.synthesize, PITCH_SAMPLE, options)
    f0 = await ctx.compute(track_f0, speech.samples, speech.sample_rate)
    median = round(float(np.median(f0)), 1) if len(f0) else None
    table.write_json(key, {"median_f0": median})
    return median


async def voice_pitches(
    ctx: DubContext, voices: Sequence[tuple[str, Voice]], language: str
) -> dict[str, float]:
    """``engine:voice`` → median F0 for each voice that has one."""
    table = {}
    for engine, voice in voices:
        ref = VoiceRef(engine, voice.id)
        f0 = await voice_pitch(ctx, ref, language)
        if f0 is not None:
            table[str(ref)] = f0
    return table


def pitch_shift_toward(speaker_f0: float | None, voice_f0: float | None) -> float:
    """Semitones that move the voice to the speaker's median F0, within ±4."""
    if not speaker_f0 or not voice_f0:
        return 0.0
    shift = semitones(voice_f0, speaker_f0)
    return round(max(-MAX_SHIFT_SEMITONES, min(MAX_SHIFT_SEMITONES, shift)), 2)


def voices_to_measure(
    registry: EngineRegistry, plan: DubPlan, language: str, genders: dict[str, str | None]
) -> list[tuple[str, Voice]]:
    """The voices casting compares by pitch for these speakers (``speaker`` → gender); the
    speakers the plan gives a voice need none."""
    counts = Counter(
        gender
        for speaker, gender in genders.items()
        if gender and not (plan.speaker_voices.get(speaker) or plan.voice)
    )
    return [
        candidate
        for gender, count in sorted(counts.items())
        for candidate in pitch_pool(registry, language, plan, gender, count)
    ]


@dataclass(frozen=True, slots=True)
class Casting:
    """Who speaks each speaker, the semitones their lines move, what each cast voice was
    measured at (``match_voice``), and the speakers' own voice samples for cloning engines."""

    voices: dict[str, VoiceRef]
    shifts: dict[str, float]
    voice_f0: dict[str, float | None]
    references: dict[str, bytes]  # WAV samples of the speakers whose engine clones voices
    reference_spans: dict[str, tuple[float, float]]

    def report(self, estimates: Mapping[str, SpeakerPitch]) -> dict[str, dict[str, Any]]:
        """What the dub's report says of each speaker: their voice, and the one cast."""
        report: dict[str, dict[str, Any]] = {}
        for speaker, voice in self.voices.items():
            estimate = estimates[speaker]
            report[speaker] = {
                "median_f0": estimate.median_f0,
                "voiced_s": estimate.voiced_s,
                "gender": estimate.gender,
                "gender_confidence": estimate.confidence,
                "voice": str(voice),
                "voice_median_f0": self.voice_f0[speaker],
                "pitch_shift_semitones": self.shifts[speaker],
            }
            if speaker in self.reference_spans:
                report[speaker]["reference_s"] = self.reference_spans[speaker]
        return report


async def cast_speakers(
    ctx: DubContext,
    ingested: Ingested,
    lines: Sequence[Segment],
    language: str,
    estimating: Awaitable[dict[str, SpeakerPitch]],
) -> Casting:
    """Cast every speaker. With ``match_voice``: wait for ``estimating`` (each speaker's
    pitch and gender, ``estimate_speakers``), measure the voices casting compares, cast by
    gender and nearest pitch, and work out each speaker's pitch shift; without it the
    casting is the default one (fast engines first, genders alternating), so a default dub
    waits for no measurement (the estimates are only reported)."""
    registry, plan = ctx.studio.registry, ctx.plan
    speakers = list(dict.fromkeys(line.speaker for line in lines))
    table: dict[str, float] = {}
    estimates = await estimating if plan.match_voice else {}
    traits = None
    if plan.match_voice:
        genders = {speaker: estimate.gender for speaker, estimate in estimates.items()}
        pool = voices_to_measure(registry, plan, language, genders)
        table = await voice_pitches(ctx, pool, language)
        traits = {s: (e.gender, e.median_f0) for s, e in estimates.items()}
    # Casting may ask a speech server for its voices: off the event loop.
    voices = await ctx.compute(cast_voices, registry, speakers, language, plan, traits, table)
    shifts: dict[str, float] = {}
    voice_f0: dict[str, float | None] = {}
    references: dict[str, bytes] = {}
    spans: dict[str, tuple[float, float]] = {}
    for speaker, voice in voices.items():
        if plan.match_voice and str(voice) not in table:
            measured = await voice_pitch(ctx, voice, language)
            if measured is not None:
                table[str(voice)] = measured
        voice_f0[speaker] = table.get(str(voice))
        shifts[speaker] = (
            pitch_shift_toward(estimates[speaker].median_f0, voice_f0[speaker])
            if plan.match_voice
            else 0.0
        )
        synth = registry.synthesizer(voice.engine)
        if isinstance(synth, VoiceCloner) and synth.clones_voice:
            found = await ctx.compute(speaker_reference, ingested, lines, speaker)
            if found is not None:
                spans[speaker], references[speaker] = found
    return Casting(voices, shifts, voice_f0, references, spans)


def speaker_reference(
    ingested: Ingested, lines: Sequence[Segment], speaker: str
) -> tuple[tuple[float, float], bytes] | None:
    """The speaker's cleanest 6–10 s (their span and WAV bytes), for a cloning engine."""
    path = speaker_audio(ingested, speaker)
    span = reference_span(
        lines, speaker, lambda start, end: _line_audio(path, start, end), RECOGNITION_RATE
    )
    if span is None:
        return None
    return span, media.encode_audio(_line_audio(path, *span), RECOGNITION_RATE, "wav")
