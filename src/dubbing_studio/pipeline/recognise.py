"""Stage 2: transcribe into dub-friendly lines, each with its speaker.

Speakers panned to separate channels are told apart by channel: each channel is transcribed
on its own and its lines belong to one speaker. On one channel they are told apart by voice
when the speaker encoder is installed (``diarize``); otherwise everything is one speaker.
"""

from __future__ import annotations

from typing import Any

from dubbing_studio.domain.dub import Segment, Transcript
from dubbing_studio.domain.languages import resolve_language
from dubbing_studio.domain.speech import TimedText, Transcription, Word
from dubbing_studio.engines.protocols import TranscribeOptions
from dubbing_studio.pipeline import review
from dubbing_studio.pipeline.artifacts import artifact_key
from dubbing_studio.pipeline.context import DubContext
from dubbing_studio.pipeline.diarize import diarization_enabled, diarize_file
from dubbing_studio.pipeline.ingest import Ingested
from dubbing_studio.pipeline.timing import resegment


async def recognise(ctx: DubContext, ingested: Ingested) -> Transcript:
    plan = ctx.plan
    transcriber = ctx.studio.registry.transcriber(plan.transcriber)
    language = resolve_language(plan.source_language).code if plan.source_language else None
    encoder = ctx.studio.speaker_encoder
    by_voice = diarization_enabled(plan.diarize, encoder) and len(ingested.recognition) == 1
    key = _transcript_key(ctx, ingested)
    path = ctx.store.path(key, "json")
    if path.exists():
        transcript = transcript_from_json(ctx.store.read_json(key))
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
        lines.extend(
            (speaker, line, review.flags(line, result.speech))
            for line in resegment(result.segments, plan.timing)
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
    ctx.store.write_json(key, transcript_to_json(transcript))
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


def recognised(ctx: DubContext, ingested: Ingested) -> Transcript | None:
    """The transcript recognition made of this input, when it is in the store: what an
    edited transcript lacks (the speech heard, the lines set aside) comes from it."""
    key = _transcript_key(ctx, ingested)
    return transcript_from_json(ctx.store.read_json(key)) if ctx.store.has(key, "json") else None


def _transcript_key(ctx: DubContext, ingested: Ingested) -> str:
    plan = ctx.plan
    transcriber = ctx.studio.registry.transcriber(plan.transcriber)
    language = resolve_language(plan.source_language).code if plan.source_language else None
    by_voice = (
        diarization_enabled(plan.diarize, ctx.studio.speaker_encoder)
        and len(ingested.recognition) == 1
    )
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
        review="per-region language, guard 1",  # what this version adds to a transcript
    )
