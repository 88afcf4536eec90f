"""Stage 2: transcribe into dub-friendly lines, each with its speaker.

Speakers panned to separate channels are told apart by channel: each channel is transcribed
on its own and its lines belong to one speaker. On one channel they are told apart by voice
when the speaker encoder is installed (``diarize``); otherwise everything is one speaker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from dubbing_studio import media
from dubbing_studio.domain.dub import Segment, Transcript
from dubbing_studio.domain.errors import InvalidInput, UnsupportedLanguage
from dubbing_studio.domain.languages import resolve_language
from dubbing_studio.domain.speech import (
    RECOGNITION_RATE,
    FloatAudio,
    SpeechRegion,
    TimedText,
    Transcription,
    Word,
)
from dubbing_studio.engines.protocols import TranscribeOptions, Transcriber
from dubbing_studio.pipeline import review
from dubbing_studio.pipeline.artifacts import artifact_key
from dubbing_studio.pipeline.context import DubContext
from dubbing_studio.pipeline.diarize import diarization_enabled, diarize_file
from dubbing_studio.pipeline.ingest import Ingested
from dubbing_studio.pipeline.timing import resegment


async def recognise(ctx: DubContext, ingested: Ingested) -> Transcript:
    """The key names the input and how it is heard, never the target language: dubs of one
    file into several languages share one recognition (concurrent ones wait for it)."""
    key = transcript_key(ctx, ingested)
    async with ctx.locks.hold(key):
        return await _recognise(ctx, ingested, key)


def _hearing(ctx: DubContext, ingested: Ingested) -> tuple[Transcriber, str | None, bool]:
    """The transcriber, the source language (None: detect) and whether to diarize by voice."""
    plan = ctx.plan
    transcriber = ctx.studio.registry.transcriber(plan.transcriber)
    language = resolve_language(plan.source_language).code if plan.source_language else None
    encoder = ctx.studio.speaker_encoder
    by_voice = diarization_enabled(plan.diarize, encoder) and len(ingested.recognition) == 1
    return transcriber, language, by_voice


def transcript_key(ctx: DubContext, ingested: Ingested) -> str:
    plan = ctx.plan
    transcriber, language, by_voice = _hearing(ctx, ingested)
    return artifact_key(
        "transcript",
        input=ingested.digest,
        engine=transcriber.name,
        model=transcriber.model_id,
        language=language,
        channels=len(ingested.recognition),
        diarize=by_voice,
        max_line_s=plan.timing.max_line_s,
        min_line_s=plan.timing.min_line_s,
        split_pause_s=plan.timing.split_pause_s,
        review="per-region language, guard 1, second chance",  # what this version adds
    )


async def _recognise(ctx: DubContext, ingested: Ingested, key: str) -> Transcript:
    plan = ctx.plan
    transcriber, language, by_voice = _hearing(ctx, ingested)
    encoder = ctx.studio.speaker_encoder
    await ctx.use((key, "json"))
    path = ctx.store.path(key, "json")
    if path.exists():
        stored = ctx.store.read_json(key)
        transcript = transcript_from_json(stored)
        ctx.engines_used["transcribe"] = stored.get("model") or transcriber.name
        ctx.report("transcribe", 1, 1, "cached", transcript.segments, transcript.language)
        return transcript
    total = len(ingested.recognition)
    results: list[Transcription] = []
    for index, audio in enumerate(ingested.recognition):
        ctx.report("transcribe", index, total, f"Transcribing channel {index + 1} of {total}")
        options = TranscribeOptions(
            language=language, word_timestamps=True, language_per_region=language is None
        )
        results.append(
            await ctx.engine("transcribe", transcriber.name, transcriber.transcribe, audio, options)
        )
    detected = language or _dominant_language(results)
    lines: list[tuple[str, TimedText, tuple[str, ...]]] = []
    for index, result in enumerate(results):
        speaker = f"S{index + 1}"
        found = resegment(result.segments, plan.timing)
        found += await _second_chance(ctx, ingested.recognition[index], found, result.speech)
        lines.extend(
            (speaker, line, review.flags(line, result.speech))
            for line in found
            if line.text.strip()
        )
    lines.sort(key=lambda item: (item[1].start, item[0]))
    if by_voice and lines:
        ctx.report("transcribe", 0, total, "Telling speakers apart by voice")
        spans = [(line.start, line.end) for _, line, _ in lines]
        speakers = await ctx.engine(
            "diarize", encoder.name, diarize_file, ingested.recognition[0], spans, encoder
        )
        lines = [
            (speaker, line, flags)
            for speaker, (_, line, flags) in zip(speakers, lines, strict=True)
        ]
    segments = [
        Segment(
            id=f"seg-{i + 1:04d}",
            start=round(line.start, 3),
            end=round(line.end, 3),
            speaker=speaker,
            source_text=line.text.strip(),
            words=line.words,
            language=line.language or detected,
            flags=flags,
        )
        for i, (speaker, line, flags) in enumerate(lines)
    ]
    heard = [r.speech for r in results if r.speech is not None]
    transcript = Transcript(
        language=detected,
        duration=ingested.duration,
        segments=tuple(s for s in segments if review.SET_ASIDE.isdisjoint(s.flags)),
        speech=tuple(sorted(r for regions in heard for r in regions)) if heard else None,
        set_aside=tuple(s for s in segments if not review.SET_ASIDE.isdisjoint(s.flags)),
    )
    # The model that answered: a transcriber may have handed off (OpenAI without timestamps).
    answered = ", ".join(dict.fromkeys(r.model for r in results if r.model))
    used = f"{transcriber.name}:{answered or transcriber.model_id}"
    ctx.engines_used["transcribe"] = used
    ctx.store.write_json(key, {**transcript_to_json(transcript), "model": used})
    ctx.report(
        "transcribe",
        total,
        total,
        f"{len(transcript.segments)} lines",
        transcript.segments,
        transcript.language,
    )
    return transcript


def _dominant_language(results: list[Transcription]) -> str:
    """The language of the channel with the most speech."""
    return max(results, key=lambda r: (len(r.text), r.language_probability)).language


def transcript_to_json(transcript: Transcript) -> dict[str, Any]:
    return {
        "language": transcript.language,
        "duration": transcript.duration,
        "segments": [_segment_to_json(s) for s in transcript.segments],
        "speech": None if transcript.speech is None else [list(r) for r in transcript.speech],
        "set_aside": [_segment_to_json(s) for s in transcript.set_aside],
    }


def _segment_to_json(s: Segment) -> dict[str, Any]:
    return {
        "id": s.id,
        "start": s.start,
        "end": s.end,
        "speaker": s.speaker,
        "text": s.source_text,
        "words": [[w.start, w.end, w.text, w.probability] for w in s.words],
        "language": s.language,
        "flags": list(s.flags),
    }


def _segment_from_json(s: dict[str, Any]) -> Segment:
    return Segment(
        id=s["id"],
        start=s["start"],
        end=s["end"],
        speaker=s["speaker"],
        source_text=s["text"],
        words=tuple(Word(*w) for w in s["words"]),
        language=s.get("language"),
        flags=tuple(s.get("flags", ())),
    )


def transcript_from_json(data: dict[str, Any]) -> Transcript:
    speech = data.get("speech")
    return Transcript(
        language=data["language"],
        duration=data["duration"],
        segments=tuple(_segment_from_json(s) for s in data["segments"]),
        speech=None if speech is None else tuple((a, b) for a, b in speech),
        set_aside=tuple(_segment_from_json(s) for s in data.get("set_aside", ())),
    )


async def recognised(ctx: DubContext, ingested: Ingested) -> Transcript | None:
    """The transcript recognition made of this input, when it is in the store: what an
    edited transcript lacks (the speech heard, the lines set aside) comes from it."""
    key = transcript_key(ctx, ingested)
    await ctx.use((key, "json"))
    return transcript_from_json(ctx.store.read_json(key)) if ctx.store.has(key, "json") else None


async def _second_chance(
    ctx: DubContext,
    audio: Path,
    lines: list[TimedText],
    speech: tuple[SpeechRegion, ...] | None,
) -> list[TimedText]:
    """Whisper now and then skips a stretch of speech (often where the language changes):
    each stretch over a second that no line covers is transcribed again on its own, in the
    language of the nearest line. What is still missed is reported as unrecognised."""
    if not speech or not lines:
        return []
    trusted = [
        (x.start, x.end) for x in lines if review.SET_ASIDE.isdisjoint(review.flags(x, speech))
    ]
    gaps = review.coverage(trusted, speech).unrecognised
    if not gaps:
        return []
    transcriber = ctx.studio.registry.transcriber(ctx.plan.transcriber)
    samples, _ = await ctx.compute(
        media.decode_audio, audio, sample_rate=RECOGNITION_RATE, channels="mono"
    )
    found: list[TimedText] = []
    for start, end in gaps:
        nearest = min(lines, key=lambda x: min(abs(x.start - end), abs(x.end - start)))
        offset = max(0.0, start - _SPEECH_MARGIN_S)
        piece = samples[
            int(offset * RECOGNITION_RATE) : int((end + _SPEECH_MARGIN_S) * RECOGNITION_RATE)
        ]
        options = TranscribeOptions(language=nearest.language, word_timestamps=True, vad=False)
        ctx.studio.settings.temp_dir.mkdir(parents=True, exist_ok=True)
        with media.temp_path(ctx.studio.settings.temp_dir, suffix=".wav") as path:
            media.write_audio(path, piece, RECOGNITION_RATE, "wav")
            again = await ctx.engine(
                "transcribe", transcriber.name, transcriber.transcribe, path, options
            )
        found.extend(_shifted(line, offset) for line in resegment(again.segments, ctx.plan.timing))
    return found


def _shifted(line: TimedText, offset: float) -> TimedText:
    return replace(
        line,
        start=line.start + offset,
        end=line.end + offset,
        words=tuple(replace(w, start=w.start + offset, end=w.end + offset) for w in line.words),
    )


async def heard_in_english(
    ctx: DubContext, ingested: Ingested, segments: Sequence[Segment]
) -> dict[str, str | None]:
    """Whisper's speech translation of each of ``segments`` into English, by line id (None
    where it cannot): the pivot for lines whose language the translator has no pair for.
    It is part of hearing the input, done where the recogniser runs, so a machine that only
    translates never loads one. Each line's result is stored."""
    if not segments:
        return {}
    transcriber = ctx.studio.registry.transcriber(ctx.plan.transcriber)
    keys = {
        segment.id: artifact_key(
            "speech-in-english",
            input=ingested.digest,
            channel=_channel(segment.speaker, len(ingested.recognition)),
            start=segment.start,
            end=segment.end,
            language=segment.language,
            engine=transcriber.name,
            model=transcriber.model_id,
        )
        for segment in segments
    }
    await ctx.use(*((key, "json") for key in keys.values()))
    decoded: dict[int, FloatAudio] = {}
    english: dict[str, str | None] = {}
    for segment in segments:
        key = keys[segment.id]
        if ctx.store.has(key, "json"):
            english[segment.id] = ctx.store.read_json(key)
            continue
        channel = _channel(segment.speaker, len(ingested.recognition))
        if channel not in decoded:
            decoded[channel], _ = await ctx.compute(
                media.decode_audio,
                ingested.recognition[channel],
                sample_rate=RECOGNITION_RATE,
                channels="mono",
            )
        first = int(max(0.0, segment.start - _SPEECH_MARGIN_S) * RECOGNITION_RATE)
        last = int((segment.end + _SPEECH_MARGIN_S) * RECOGNITION_RATE)
        options = TranscribeOptions(
            language=segment.language, task="translate", word_timestamps=False, vad=False
        )
        ctx.studio.settings.temp_dir.mkdir(parents=True, exist_ok=True)
        with media.temp_path(ctx.studio.settings.temp_dir, suffix=".wav") as path:
            media.write_audio(path, decoded[channel][first:last], RECOGNITION_RATE, "wav")
            try:
                heard = await ctx.engine(
                    "speech-in-english", transcriber.name, transcriber.transcribe, path, options
                )
                text = heard.text.strip() or None
            except (UnsupportedLanguage, InvalidInput):
                text = None
        ctx.store.write_json(key, text)
        english[segment.id] = text
    return english


_SPEECH_MARGIN_S = 0.2  # around a line's words, so its first and last sounds are whole


def _channel(speaker: str, channels: int) -> int:
    """The recognition channel a line came from: speakers S1, S2… of a file with panned
    speakers are its channels in order; everything else is the one channel."""
    if channels > 1 and speaker[:1] == "S" and speaker[1:].isdigit():
        return min(channels, max(1, int(speaker[1:]))) - 1
    return 0
