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
    key = artifact_key(
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
    )
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
        options = TranscribeOptions(language=language, word_timestamps=True)
        results.append(
            await ctx.engine("transcribe", transcriber.name, transcriber.transcribe, audio, options)
        )
    detected = language or _dominant_language(results)
    lines: list[tuple[str, TimedText]] = []
    for index, result in enumerate(results):
        speaker = f"S{index + 1}"
        lines.extend((speaker, line) for line in resegment(result.segments, plan.timing))
    lines.sort(key=lambda item: (item[1].start, item[0]))
    if by_voice and lines:
        ctx.report("transcribe", 0, total, "Telling speakers apart by voice")
        spans = [(line.start, line.end) for _, line in lines]
        speakers = await ctx.engine(
            "diarize", encoder.name, diarize_file, ingested.recognition[0], spans, encoder
        )
        lines = [(speaker, line) for speaker, (_, line) in zip(speakers, lines, strict=True)]
    transcript = Transcript(
        language=detected,
        duration=ingested.duration,
        segments=tuple(
            Segment(
                id=f"seg-{i + 1:04d}",
                start=round(line.start, 3),
                end=round(line.end, 3),
                speaker=speaker,
                source_text=line.text.strip(),
                words=line.words,
            )
            for i, (speaker, line) in enumerate(lines)
            if line.text.strip()
        ),
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
        "segments": [
            {
                "id": s.id,
                "start": s.start,
                "end": s.end,
                "speaker": s.speaker,
                "text": s.source_text,
                "words": [[w.start, w.end, w.text, w.probability] for w in s.words],
            }
            for s in transcript.segments
        ],
    }


def transcript_from_json(data: dict[str, Any]) -> Transcript:
    return Transcript(
        language=data["language"],
        duration=data["duration"],
        segments=tuple(
            Segment(
                id=s["id"],
                start=s["start"],
                end=s["end"],
                speaker=s["speaker"],
                source_text=s["text"],
                words=tuple(Word(*w) for w in s["words"]),
            )
            for s in data["segments"]
        ),
    )
