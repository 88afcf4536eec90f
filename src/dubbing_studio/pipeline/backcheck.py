"""Hear the dub back: the recogniser transcribes every dubbed line in the target language, and
each line gets its word and character error rates against the text it should say.

The lines go to the recogniser in windows of nearly Whisper's 30 s (clips joined with a second
of silence between them), so the check costs about one pass over the dubbed speech rather than
a 30 s window per line; a clip that several lines share (the same words, voice and fit) is
heard once. A dub run through to the end hears each window as soon as its lines are spoken,
beside the synthesis of the next ones and the mix, and a hearing model of its own (tiny.en for
English) is loaded while the first lines are spoken (issue 12). Each window's words are stored
under its own key, and the whole dub's under one more, so a rerun asks the recogniser nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dubbing_studio import media
from dubbing_studio.domain.errors import StudioError, UnsupportedLanguage
from dubbing_studio.domain.metrics import char_error_rate, word_error_rate
from dubbing_studio.domain.speech import RECOGNITION_RATE, Transcription
from dubbing_studio.engines.protocols import Capability, ModelWarming, TranscribeOptions
from dubbing_studio.pipeline.artifacts import artifact_key
from dubbing_studio.pipeline.context import DubContext
from dubbing_studio.pipeline.speech import FittedLine

GAP_S = 1.0
WINDOW_S = 28.0  # joined clips and gaps per recognition call: within one 30 s Whisper window
SHORT_LINE_S = 2.0  # a window with no room left for a line this short is sent at once

Window = list[tuple[str, FittedLine]]  # distinct clips (their audio keys) and a line of each


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
    async with listening(ctx, language) as listener:
        for line in lines:
            listener.add(line)
        return await listener.heard()


@contextlib.asynccontextmanager
async def listening(ctx: DubContext, language: str) -> AsyncIterator[BackListener]:
    """A ``BackListener`` whose windows still being heard when the block ends (a failed or
    cancelled dub) are cancelled and waited for, their temp files removed."""
    listener = BackListener(ctx, language)
    try:
        yield listener
    finally:
        await listener.close()


class BackListener:
    """Takes the fitted lines one by one, in order, and sends each window to the recogniser
    as soon as it is full (the windows depend on the lines alone, so a rerun finds each
    stored); ``heard`` sends the rest and gathers every line's words."""

    def __init__(self, ctx: DubContext, language: str) -> None:
        self._ctx = ctx
        self._language = language
        self._transcriber = ctx.studio.registry.transcriber(ctx.plan.transcriber)
        self._model = _hearing_model(ctx, self._transcriber.name, language)
        # Who hears the lines, as every hear-back key names it.
        self._hearing = {
            "engine": self._transcriber.name,
            "model": self._transcriber.model_id,
            "language": language,
            **({"heard_with": self._model} if self._model else {}),
        }
        self._lines: list[FittedLine] = []
        self._heard_as: list[str] = []  # each line's clip
        self._clips: set[str] = set()
        self._window: Window = []
        self._window_s = 0.0
        self._windows: list[asyncio.Task[dict[str, str] | None]] = []
        self._warming: asyncio.Task[None] | None = None

    def _warm_when_heard(self) -> None:
        """Start loading a hearing model of its own (the first window would otherwise wait
        for it: 0.5 s for tiny.en) once this run has spoken a line afresh: a window with that
        line is not stored, so it will be heard. A run whose lines all come from the store (a
        rerun, the mix step after the hear-back step) loads nothing."""
        transcriber = self._transcriber
        if self._warming is not None or not self._model:
            return
        spoken = any(call.startswith("synthesize:") for call in self._ctx.engine_calls)
        if spoken and isinstance(transcriber, ModelWarming):
            self._warming = asyncio.create_task(self._warm(transcriber, self._model))

    def add(self, line: FittedLine) -> None:
        self._warm_when_heard()
        clip = line.segment.audio_key or f"line {len(self._lines)}"
        self._lines.append(line)
        self._heard_as.append(clip)
        if clip in self._clips:
            return  # the store served the repeat: heard once
        self._clips.add(clip)
        length_s = len(line.samples) / line.sample_rate + GAP_S
        if self._window and self._window_s + length_s > WINDOW_S:
            self._send()
        self._window.append((clip, line))
        self._window_s += length_s
        if self._window_s + SHORT_LINE_S + GAP_S > WINDOW_S:
            self._send()

    async def heard(self) -> list[HeardLine] | None:
        """Every line's words and error rates, lined up with the lines added; None when the
        recogniser does not know the language. A dub heard whole before (stored under its
        own key) is read back, and the windows still queued are dropped."""
        key = artifact_key(
            "heard-back",
            clips=[line.segment.audio_key for line in self._lines],
            **self._hearing,
        )
        model = self._model or self._transcriber.model_id
        self._ctx.engines_used["hear_back"] = f"{self._transcriber.name}:{model}"
        texts: list[str] | None
        await self._ctx.use((key, "json"))
        if self._ctx.store.has(key, "json"):
            await self.close()
            texts = self._ctx.store.read_json(key)
        else:
            if self._window:
                self._send()
            windows = await asyncio.gather(*self._windows)
            said: dict[str, str] = {}
            for words in windows:
                said.update(words or {})
            no_language = any(words is None for words in windows)
            texts = None if no_language else [said[clip] for clip in self._heard_as]
            self._ctx.store.write_json(key, texts)  # None too: a rerun does not ask again
        if texts is None:
            return None
        return [
            HeardLine(
                text=text,
                wer=round(word_error_rate(line.segment.target_text, text), 4),
                cer=round(char_error_rate(line.segment.target_text, text), 4),
            )
            for line, text in zip(self._lines, texts, strict=True)
        ]

    async def close(self) -> None:
        """Cancel the windows not yet heard (and the model's loading) and wait until each has
        stopped."""
        tasks = [*self._windows, *([self._warming] if self._warming else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _warm(self, transcriber: ModelWarming, model: str) -> None:
        with contextlib.suppress(StudioError):  # the first window's call reports it
            await self._ctx.compute(transcriber.warm_model, model)

    def _send(self) -> None:
        self._windows.append(asyncio.create_task(self._hear(self._window)))
        self._window, self._window_s = [], 0.0

    async def _hear(self, window: Window) -> dict[str, str] | None:
        """One window's words per clip, from the store when heard before."""
        clips = [clip for clip, _ in window]
        key = artifact_key(
            "heard-back-window",
            clips=clips,
            **self._hearing,
        )
        texts: list[str] | None
        await self._ctx.use((key, "json"))
        if self._ctx.store.has(key, "json"):
            texts = self._ctx.store.read_json(key)
        else:
            texts = await self._recognise([line for _, line in window])
            self._ctx.store.write_json(key, texts)
        return None if texts is None else dict(zip(clips, texts, strict=True))

    async def _recognise(self, lines: Sequence[FittedLine]) -> list[str] | None:
        temp_dir = self._ctx.studio.settings.temp_dir
        temp_dir.mkdir(parents=True, exist_ok=True)
        with media.temp_path(temp_dir, suffix=".wav") as path:
            spans = await self._ctx.compute(_write_joined, lines, path)
            options = TranscribeOptions(
                language=self._language, word_timestamps=True, model=self._model
            )
            name = self._transcriber.name
            try:
                heard = await self._ctx.engine(
                    "hear-back", name, self._transcriber.transcribe, path, options
                )
            except UnsupportedLanguage:
                return None  # stored too: a rerun does not ask again
        return _split(heard, spans)


def _hearing_model(ctx: DubContext, transcriber: str, language: str) -> str | None:
    """The model settings name for hearing ``language`` back, if the transcriber offers it."""
    model = ctx.studio.settings.engines.hear_back_models.get(language)
    if model is None:
        return None
    offered = ctx.studio.registry.get(Capability.TRANSCRIBE, transcriber).info().models
    return model if model in offered else None


def _write_joined(lines: Sequence[FittedLine], path: Path) -> list[tuple[float, float]]:
    joined, spans = _join(lines)
    media.write_audio(path, joined, RECOGNITION_RATE, "wav")
    return spans


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
