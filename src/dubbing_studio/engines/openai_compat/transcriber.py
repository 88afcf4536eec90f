"""Speech to text through OpenAI's (or a compatible server's) ``/audio`` endpoints.

``gpt-4o-transcribe`` is the more accurate model but answers with text only, so requests that
need timing (word timestamps, the dubbing pipeline) go to ``whisper-1`` as ``verbose_json``,
which also reports the language and the duration. Translation to English always uses
``whisper-1``, the one model the translations endpoint serves.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from dubbing_studio.domain.errors import InvalidInput, UnsupportedLanguage
from dubbing_studio.domain.languages import LANGUAGE_NAMES, resolve_language
from dubbing_studio.domain.speech import TimedText, Transcription, Word
from dubbing_studio.engines.openai_compat.client import (
    NOT_CONFIGURED,
    OpenAIConnection,
    upstream_errors,
)
from dubbing_studio.engines.openai_compat.translator import OpenAITranslator
from dubbing_studio.engines.protocols import (
    Capability,
    EngineInfo,
    TranscribeOptions,
    Transcriber,
)
from dubbing_studio.engines.registry import Engine

if TYPE_CHECKING:
    from openai.types.audio import TranscriptionSegment, TranscriptionWord

log = logging.getLogger(__name__)

TASKS = ("transcribe", "translate")


class OpenAITranscriber(Engine, Transcriber):
    """Transcriber protocol; ``refiner`` polishes the result when ``refine_transcripts``."""

    name = "openai"

    def __init__(
        self, connection: OpenAIConnection, refiner: OpenAITranslator | None = None
    ) -> None:
        self.connection = connection
        self.refiner = refiner

    @property
    def model_id(self) -> str:
        """Both models (which one answers depends on the options), and the refiner's."""
        cfg = self.connection.settings.openai
        models = [cfg.transcribe_model, cfg.timestamped_transcribe_model]
        if self.refiner is not None and cfg.refine_transcripts:
            models.append(f"refined by {self.refiner.model_id}")
        return self.connection.model_id(*models)

    def info(self) -> EngineInfo:
        cfg = self.connection.settings.openai
        configured = self.connection.configured
        return EngineInfo(
            name=self.name,
            capability=Capability.TRANSCRIBE,
            description="OpenAI speech to text: gpt-4o-transcribe, whisper-1 for timestamps.",
            available=configured,
            reason=None if configured else NOT_CONFIGURED,
            languages=tuple(LANGUAGE_NAMES),
            models=(cfg.transcribe_model, cfg.timestamped_transcribe_model),
            extra={"base_url": self.connection.base_url, "refine": cfg.refine_transcripts},
        )

    def transcribe(self, audio: Path, options: TranscribeOptions) -> Transcription:
        if options.task not in TASKS:
            raise InvalidInput(f"Unknown task {options.task!r}; use one of {', '.join(TASKS)}.")
        if options.task == "translate":
            result = self._translate(audio, options)
        elif options.word_timestamps:
            result = self._timestamped(audio, options)
        else:
            result = self._plain(audio, options)
        return self._refined(result)

    def _plain(self, audio: Path, options: TranscribeOptions) -> Transcription:
        """Text only; OpenAI reports no language here, so it is the caller's or ''."""
        from openai import omit  # the SDK loads on first use (client.py)

        client = self.connection.client
        with upstream_errors("transcription"), audio.open("rb") as file:
            response = client.audio.transcriptions.create(
                file=file,
                model=self.connection.settings.openai.transcribe_model,
                response_format="json",
                language=options.language or omit,
                prompt=options.prompt or omit,
            )
        usage = response.usage
        duration = usage.seconds if usage is not None and usage.type == "duration" else 0.0
        return Transcription(
            text=response.text.strip(),
            language=options.language or "",
            language_probability=1.0 if options.language else 0.0,
            duration=duration,
        )

    def _timestamped(self, audio: Path, options: TranscribeOptions) -> Transcription:
        from openai import omit  # the SDK loads on first use (client.py)

        client = self.connection.client
        with upstream_errors("transcription"), audio.open("rb") as file:
            response = client.audio.transcriptions.create(
                file=file,
                model=self.connection.settings.openai.timestamped_transcribe_model,
                response_format="verbose_json",
                timestamp_granularities=["segment", "word"],
                language=options.language or omit,
                prompt=options.prompt or omit,
            )
        return _from_verbose(
            response.text,
            response.language,
            response.duration,
            response.segments or [],
            response.words or [],
            given=options.language,
        )

    def _translate(self, audio: Path, options: TranscribeOptions) -> Transcription:
        """English text with segment timing (the endpoint gives no word timestamps)."""
        from openai import omit  # the SDK loads on first use (client.py)

        client = self.connection.client
        with upstream_errors("translation"), audio.open("rb") as file:
            response = client.audio.translations.create(
                file=file,
                model=self.connection.settings.openai.timestamped_transcribe_model,
                response_format="verbose_json",
                prompt=options.prompt or omit,
            )
        return _from_verbose(
            response.text,
            response.language,
            response.duration,
            response.segments or [],
            [],
            given=None,
        )

    def _refined(self, result: Transcription) -> Transcription:
        """Segment texts (or the text) polished by the chat model, timings untouched."""
        if self.refiner is None or not self.connection.settings.openai.refine_transcripts:
            return result
        language = result.language or "en"
        if not result.segments:
            text = self.refiner.refine(result.text, language)
            return Transcription(
                text=text,
                language=result.language,
                language_probability=result.language_probability,
                duration=result.duration,
            )
        texts = self.refiner.refine_lines([s.text for s in result.segments], language)
        segments = [
            TimedText(start=s.start, end=s.end, text=text, words=s.words)
            for s, text in zip(result.segments, texts, strict=True)
        ]
        return Transcription.from_segments(
            segments,
            language=result.language,
            language_probability=result.language_probability,
            duration=result.duration,
        )


def _from_verbose(
    text: str,
    language: str,
    duration: float,
    segments: list[TranscriptionSegment],
    words: list[TranscriptionWord],
    *,
    given: str | None,
) -> Transcription:
    """Build the domain result from a ``verbose_json`` answer.

    Words come as one flat list; each goes to the segment its midpoint falls in. The
    language comes as an English name ("english"); the caller's own code wins if it gave one.
    """
    timed = [Word(start=w.start, end=w.end, text=w.word) for w in words]
    if not segments:
        spans = [(0.0, duration, text)] if text.strip() else []
    else:
        spans = [(s.start, s.end, s.text) for s in segments]
    buckets: list[list[Word]] = [[] for _ in spans]
    index = 0
    for word in timed:
        middle = (word.start + word.end) / 2
        while index < len(spans) - 1 and middle >= spans[index][1]:
            index += 1
        if buckets:
            buckets[index].append(word)
    timed_texts = [
        TimedText(start=start, end=end, text=seg_text.strip(), words=tuple(bucket))
        for (start, end, seg_text), bucket in zip(spans, buckets, strict=True)
    ]
    code = given or _language_code(language)
    return Transcription.from_segments(
        timed_texts,
        language=code,
        language_probability=1.0 if code else 0.0,
        duration=duration,
    )


def _language_code(reported: str) -> str:
    """'english' (or 'en') to 'en'; '' for a name the studio does not know."""
    try:
        return resolve_language(reported).code
    except UnsupportedLanguage:
        log.warning("OpenAI reported an unknown language %r", reported)
        return ""
