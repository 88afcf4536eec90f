"""Speech to text through OpenAI's (or a compatible server's) ``/audio`` endpoints.

Requests that need timing (word timestamps, the dubbing pipeline) ask the transcription model
for ``verbose_json`` segments, which also report the language and the duration. Models that
answer with text only (``gpt-4o-transcribe``: known by name, or seen answering without
segments) hand off as ``openai.timestamp_fallback`` says: to ``timestamped_transcribe_model``
(``whisper-1``) on the same server, to local Whisper, or to a clear error; the hand-off is
logged and named in the result's ``model``. Translation to English always uses the
timestamped model, the one model OpenAI's translations endpoint serves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from dubbing_studio import media
from dubbing_studio.domain.errors import InvalidInput, UnsupportedLanguage
from dubbing_studio.domain.languages import LANGUAGE_NAMES, resolve_language
from dubbing_studio.domain.speech import RECOGNITION_RATE, TimedText, Transcription, Word
from dubbing_studio.engines.openai_compat.client import (
    OpenAIConnection,
    server_or_configured,
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
TEXT_ONLY_MODELS = ("gpt-4o-transcribe", "gpt-4o-mini-transcribe")


class OpenAITranscriber(Engine, Transcriber):
    """Transcriber protocol; ``refiner`` polishes the result when ``refine_transcripts``;
    ``local`` gives the local transcriber for ``timestamp_fallback="local"``."""

    name = "openai"

    def __init__(
        self,
        connection: OpenAIConnection,
        refiner: OpenAITranslator | None = None,
        local: Callable[[], Transcriber] | None = None,
    ) -> None:
        self.connection = connection
        self.refiner = refiner
        self.local = local

    @property
    def model(self) -> str:
        return self.connection.model_for("transcription")

    @property
    def model_id(self) -> str:
        """Both models (which one answers depends on the options), and the refiner's."""
        cfg = self.connection.settings.openai
        models = [self.model, self._fallback_id()]
        if self.refiner is not None and cfg.refine_transcripts:
            models.append(f"refined by {self.refiner.model_id}")
        return self.connection.model_id(*models)

    def _fallback_id(self) -> str:
        fallback = self.connection.settings.openai.timestamp_fallback
        if fallback == "remote":
            return self.connection.settings.openai.timestamped_transcribe_model
        if fallback == "local" and self.local is not None:
            return f"local {self.local().model_id}"
        return "no fallback"

    def info(self, *, live: bool = False) -> EngineInfo:
        cfg = self.connection.settings.openai
        configured = self.connection.configured
        models = server_or_configured(self.connection, "transcription", live)
        return EngineInfo(
            name=self.name,
            capability=Capability.TRANSCRIBE,
            description="OpenAI(-compatible) speech to text; verbose_json segments for timing, "
            "whisper-1 or local Whisper where the model gives none.",
            available=configured,
            reason=None if configured else self.connection.not_configured,
            languages=tuple(LANGUAGE_NAMES),
            models=tuple(dict.fromkeys((*models, cfg.timestamped_transcribe_model))),
            extra={
                "base_url": self.connection.base_url,
                "refine": cfg.refine_transcripts,
                "timestamp_fallback": cfg.timestamp_fallback,
            },
        )

    def offered(self) -> EngineInfo:
        return self.info(live=True)

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
                model=self.model,
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
        """Segments from the transcription model, or from the configured fallback when the
        model gives none."""
        model = self.model
        if not _text_only(model):
            result = self._verbose(audio, options, model)
            if result is not None:
                return result
        return self._fallback(audio, options, model)

    def _verbose(self, audio: Path, options: TranscribeOptions, model: str) -> Transcription | None:
        """The ``verbose_json`` answer of ``model``; None when it has no segments to give."""
        from openai import omit  # the SDK loads on first use (client.py)

        client = self.connection.client
        try:
            with upstream_errors("transcription"), audio.open("rb") as file:
                response = client.audio.transcriptions.create(
                    file=file,
                    model=model,
                    response_format="verbose_json",
                    timestamp_granularities=["segment", "word"],
                    language=options.language or omit,
                    prompt=options.prompt or omit,
                )
        except InvalidInput as exc:
            if "verbose_json" not in exc.detail and "response_format" not in exc.detail:
                raise
            log.warning("%s refused verbose_json: %s", model, exc.detail)
            return None
        segments = getattr(response, "segments", None) or []
        if not segments and (getattr(response, "text", "") or "").strip():
            log.warning("%s answered without segment timestamps", model)
            return None
        result = _from_verbose(
            response.text,
            getattr(response, "language", "") or "",
            getattr(response, "duration", 0.0) or 0.0,
            segments,
            getattr(response, "words", None) or [],
            given=options.language,
        )
        return replace(result, model=self.connection.model_id(model))

    def _fallback(self, audio: Path, options: TranscribeOptions, model: str) -> Transcription:
        cfg = self.connection.settings.openai
        reason = f"{model} gives no segment timestamps, which dubbing needs"
        if cfg.timestamp_fallback == "remote" and cfg.timestamped_transcribe_model != model:
            fallback = cfg.timestamped_transcribe_model
            log.warning(
                "%s; transcribing with %s on %s", reason, fallback, self.connection.base_url
            )
            result = self._verbose(audio, options, fallback)
            if result is not None:
                return result
            reason = f"{reason}, nor does {fallback}"
        elif cfg.timestamp_fallback == "local" and self.local is not None:
            local = self.local()
            log.warning("%s; transcribing with local %s (%s)", reason, local.name, local.model_id)
            # The file may be an upload sent on as it came: decode it in the sandboxed child
            # first, as every local engine's input is.
            settings = self.connection.settings
            settings.temp_dir.mkdir(parents=True, exist_ok=True)
            with media.temp_path(settings.temp_dir, suffix=".wav") as wav:
                media.convert_untrusted(
                    audio,
                    wav,
                    sample_rate=RECOGNITION_RATE,
                    channels="mono",
                    max_duration_s=settings.max_duration_s,
                )
                result = local.transcribe(wav, options)
            return replace(result, model=f"{local.name}:{local.model_id}")
        raise InvalidInput(
            f"{reason}. Set DUBBING_STUDIO_OPENAI__TIMESTAMP_FALLBACK to 'remote' (with "
            "TIMESTAMPED_TRANSCRIBE_MODEL, e.g. whisper-1) or 'local' (local Whisper), or "
            "choose a model that answers verbose_json with segments."
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
            return replace(result, text=text)
        texts = self.refiner.refine_lines([s.text for s in result.segments], language)
        segments = [
            TimedText(start=s.start, end=s.end, text=text, words=s.words)
            for s, text in zip(result.segments, texts, strict=True)
        ]
        refined = Transcription.from_segments(
            segments,
            language=result.language,
            language_probability=result.language_probability,
            duration=result.duration,
        )
        return replace(refined, model=result.model)


def _text_only(model: str) -> bool:
    """OpenAI's newer transcription models answer ``json`` or ``text`` only."""
    return any(model.startswith(name) for name in TEXT_ONLY_MODELS)


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
