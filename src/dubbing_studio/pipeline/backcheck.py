"""Hear the dub back: the recogniser transcribes every dubbed line in the target language, and
each line gets its word and character error rates against the text it should say.

All lines go to the recogniser in one call (joined with a second of silence between them), so
the check costs one pass over the dubbed speech rather than a 30 s window per line; a clip
that several lines share (the same words, voice and fit) is in it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dubbing_studio import media
from dubbing_studio.domain.errors import UnsupportedLanguage
from dubbing_studio.domain.metrics import char_error_rate, word_error_rate
from dubbing_studio.domain.speech import RECOGNITION_RATE, Transcription
from dubbing_studio.engines.protocols import TranscribeOptions
from dubbing_studio.pipeline.artifacts import artifact_key
from dubbing_studio.pipeline.context import DubContext
from dubbing_studio.pipeline.speech import FittedLine

GAP_S = 1.0


@dataclass(frozen=True, slots=True)
class HeardLine:
    text: str
    wer: float
    cer: float


async def hear_back(
    ctx: DubContext, lines: Sequence[FittedLine], language: str
) -> list[HeardLine] | None:
    """What the recogniser hears in each fitted line, lined up with ``lines``; None when it
    does not recognise the target language (an English-only model)."""
    transcriber = ctx.studio.registry.transcriber(ctx.plan.transcriber)
    key = artifact_key(
        "heard-back",
        engine=transcriber.name,
        model=transcriber.model_id,
        language=language,
        clips=[line.segment.audio_key for line in lines],
    )
    texts: list[str] | None
    await ctx.use((key, "json"))
    if ctx.store.has(key, "json"):
        texts = ctx.store.read_json(key)
    else:
        # A clip spoken again word for word (the store serves the repeat) is heard once.
        heard_as = [line.segment.audio_key or f"line {index}" for index, line in enumerate(lines)]
        distinct = {clip: line for clip, line in zip(heard_as, lines, strict=True)}
        joined, spans = await ctx.compute(_join, list(distinct.values()))
        ctx.studio.settings.temp_dir.mkdir(parents=True, exist_ok=True)
        with media.temp_path(ctx.studio.settings.temp_dir, suffix=".wav") as path:
            media.write_audio(path, joined, RECOGNITION_RATE, "wav")
            options = TranscribeOptions(language=language, word_timestamps=True)
            try:
                heard = await ctx.engine(
                    "hear-back", transcriber.name, transcriber.transcribe, path, options
                )
                said = dict(zip(distinct, _split(heard, spans), strict=True))
                texts = [said[clip] for clip in heard_as]
            except UnsupportedLanguage:
                texts = None  # stored too: a rerun does not ask again
        ctx.store.write_json(key, texts)
    if texts is None:
        return None
    return [
        HeardLine(
            text=text,
            wer=round(word_error_rate(line.segment.target_text, text), 4),
            cer=round(char_error_rate(line.segment.target_text, text), 4),
        )
        for line, text in zip(lines, texts, strict=True)
    ]


def _join(lines: Sequence[FittedLine]) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Every clip at the recognition rate, a gap of silence after each; each clip's span."""
    gap = np.zeros(int(GAP_S * RECOGNITION_RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    cursor = 0.0
    for line in lines:
        clip = media.resample(line.samples, line.sample_rate, RECOGNITION_RATE)
        parts.extend((np.clip(clip, -1.0, 1.0).astype(np.float32), gap))
        length = len(clip) / RECOGNITION_RATE
        spans.append((cursor, cursor + length))
        cursor += length + GAP_S
    return (np.concatenate(parts) if parts else gap), spans


def _split(heard: Transcription, spans: Sequence[tuple[float, float]]) -> list[str]:
    """Each recognised word goes to the clip its middle falls in (or the gap after it)."""
    words: list[list[str]] = [[] for _ in spans]
    for segment in heard.segments:
        for word in segment.words:
            middle = (word.start + word.end) / 2
            for index, (start, end) in enumerate(spans):
                if start - GAP_S / 2 <= middle < end + GAP_S / 2:
                    words[index].append(word.text.strip())
                    break
    return [" ".join(w for w in clip if w) for clip in words]
