"""The studio's single-step use cases: transcribe, translate, speak.

Every shell (seed API, OpenAI-compatible API, CLI) goes through here, so validation, engine
choice, language handling and concurrency limits are the same everywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import anyio.to_thread
import numpy as np

from dubbing_studio import media
from dubbing_studio.config import Settings
from dubbing_studio.domain.errors import InvalidInput, UnsupportedLanguage, ValidationFailed
from dubbing_studio.domain.languages import Language, resolve_language
from dubbing_studio.domain.speech import RECOGNITION_RATE, Glossary, Speech, Transcription
from dubbing_studio.engines.gate import EngineGate
from dubbing_studio.engines.protocols import (
    Capability,
    SpeakerEncoder,
    SynthesisOptions,
    TranscribeOptions,
)
from dubbing_studio.engines.registry import EngineRegistry
from dubbing_studio.engines.text import split_sentences
from dubbing_studio.engines.voices import OPENAI_TTS_MODELS, VoiceChoice, choose_local_voice
from dubbing_studio.services.language_id import LanguageIdentifier

STREAM_CHUNK_CHARS = 400  # local engines: short groups, so streaming starts quickly
OPENAI_CHUNK_CHARS = 4096  # OpenAI's own input limit: one request (and one voice direction)
PCM_RATE = 24_000  # OpenAI's raw PCM is 24 kHz 16-bit mono; clients decode it as such
SENTENCE_PAUSE_S = 0.2


@dataclass(frozen=True, slots=True)
class SpeechRequest:
    """What a caller asks to hear; ``voice``/``model`` may be OpenAI names or local ids."""

    text: str
    voice: str | None = None
    model: str | None = None
    language: str | None = None
    instructions: str | None = None
    speed: float = 1.0
    engine: str | None = None


class Studio:
    def __init__(
        self,
        settings: Settings,
        registry: EngineRegistry,
        gate: EngineGate,
        language_id: LanguageIdentifier,
        speaker_encoder: SpeakerEncoder,
        media_sandbox: media.Sandbox | None = None,
    ) -> None:
        """``media_sandbox``: where uploads are read (``media.untrusted``); default a new
        Python per file."""
        self.settings = settings
        self.registry = registry
        self.gate = gate
        self.language_id = language_id
        self.speaker_encoder = speaker_encoder
        self.media_sandbox = media_sandbox or media.ChildPerCall()

    # --- speech to text -------------------------------------------------------------
    async def transcribe(
        self,
        path: Path,
        *,
        language: str | None = None,
        task: str = "transcribe",
        word_timestamps: bool = True,
        prompt: str | None = None,
        engine: str | None = None,
    ) -> Transcription:
        """Recognise an uploaded file with the chosen engine. A local engine gets 16 kHz mono
        decoded in a child process (``media.convert_untrusted``), never the upload itself;
        OpenAI decodes remotely, so the upload is only probed (in a child) and sent."""
        code = resolve_language(language).code if language else None
        transcriber = self.registry.transcriber(engine)
        options = TranscribeOptions(
            language=code, task=task, word_timestamps=word_timestamps, prompt=prompt
        )
        cap = self.settings.max_duration_s
        if transcriber.name == "openai":
            await self.gate.compute(
                media.probe_untrusted, path, max_duration_s=cap, sandbox=self.media_sandbox
            )
            result = await self.gate.run(transcriber.name, transcriber.transcribe, path, options)
        else:
            self.settings.temp_dir.mkdir(parents=True, exist_ok=True)
            with media.temp_path(self.settings.temp_dir, ".wav") as audio:
                await self.gate.compute(
                    media.convert_untrusted,
                    path,
                    audio,
                    sample_rate=RECOGNITION_RATE,
                    max_duration_s=cap,
                    sandbox=self.media_sandbox,
                )
                result = await self.gate.run(
                    transcriber.name, transcriber.transcribe, audio, options
                )
        if not result.language:  # engines that do not report it (gpt-4o-transcribe)
            detected = await self.gate.compute(self.language_id.detect, result.text)
            result = replace(result, language=detected or "en")
        return result

    # --- text to text ---------------------------------------------------------------
    async def translate(
        self,
        texts: list[str],
        source: str,
        target: str,
        *,
        glossary: Glossary | None = None,
        engine: str | None = None,
    ) -> tuple[list[str], Language, Language]:
        """Translate a batch in one engine call; returns the texts and resolved languages."""
        src, tgt = resolve_language(source), resolve_language(target)
        translator = self.registry.translator(engine)
        if src.code == tgt.code:
            return list(texts), src, tgt
        if not translator.supports(src.code, tgt.code):
            raise UnsupportedLanguage(
                f"{translator.name} cannot translate {src.name} to {tgt.name}."
                + _pairs_hint(self.registry, translator.name)
            )
        out = await self.gate.run(
            translator.name, translator.translate, texts, src.code, tgt.code, glossary
        )
        return out, src, tgt

    # --- text to speech -------------------------------------------------------------
    def resolve_voice(self, request: SpeechRequest) -> VoiceChoice:
        """Which engine and voice will speak this request (language detected if absent)."""
        language = self.detect_language(request.text, request.language)
        engine = request.engine or self.registry.default_name(Capability.SYNTHESIZE)
        if engine == "openai":
            return VoiceChoice("openai", request.voice or "onyx", language)
        if request.engine:
            synth = self.registry.synthesizer(engine)
            ids = [v.id for v in synth.voices() if v.speaks(language)]
            if not ids:
                raise UnsupportedLanguage(f"{engine} has no voice for language {language!r}.")
            voice = request.voice if request.voice in ids else ids[0]
            return VoiceChoice(engine, voice, language)
        return choose_local_voice(
            self.registry, language=language, voice=request.voice, model=request.model
        )

    def detect_language(self, text: str, given: str | None) -> str:
        if given:
            return resolve_language(given).code
        return self.language_id.detect(text) or "en"

    async def synthesize(self, request: SpeechRequest, choice: VoiceChoice) -> Speech:
        """The whole text as one waveform (sentence chunks joined by short pauses)."""
        parts = [speech async for speech in self.synthesize_chunks(request, choice)]
        samples = np.concatenate([part.samples for part in parts]).astype(np.float32)
        return Speech(samples, parts[0].sample_rate)

    async def synthesize_chunks(
        self, request: SpeechRequest, choice: VoiceChoice
    ) -> AsyncIterator[Speech]:
        """Speak bounded groups of sentences one after another, for streaming responses.

        Every chunk after the first starts with a short pause, so the chunks played back to
        back sound like the text read in one go.
        """
        synth = self.registry.synthesizer(choice.engine)
        options = SynthesisOptions(
            voice=choice.voice,
            language=choice.language,
            rate=request.speed,
            instructions=request.instructions,
            model=request.model,
        )
        limit = OPENAI_CHUNK_CHARS if choice.engine == "openai" else STREAM_CHUNK_CHARS
        chunks = split_sentences(request.text, max_chars=limit)
        spoken = 0
        for chunk in chunks:
            speech = await self.gate.run(synth.name, synth.synthesize, chunk, options)
            if not speech.samples.size:  # punctuation or symbols alone: nothing was said
                continue
            if spoken:
                pause = np.zeros(int(SENTENCE_PAUSE_S * speech.sample_rate), dtype=np.float32)
                speech = Speech(np.concatenate([pause, speech.samples]), speech.sample_rate)
            spoken += 1
            yield speech
        if not spoken:
            raise InvalidInput("The text has nothing a voice can say (no words or numbers).")

    def local_synthesizers(self) -> list[str]:
        return [n for n in self.registry.names(Capability.SYNTHESIZE) if n != "openai"]

    def speech_request(
        self,
        text: str,
        *,
        voice: str | None,
        model: str,
        language: str | None = None,
        instructions: str | None = None,
        speed: float = 1.0,
    ) -> SpeechRequest:
        """A request from OpenAI-style fields: ``model`` is an OpenAI TTS model (mapped to
        local engines offline) or the name of a local engine, which then speaks it."""
        local = self.local_synthesizers()
        if model not in OPENAI_TTS_MODELS and model not in local:
            raise ValidationFailed(
                f"Unknown model {model!r}: use one of {', '.join((*OPENAI_TTS_MODELS, *local))}."
            )
        return SpeechRequest(
            text=text,
            voice=voice,
            model=model,
            language=language,
            instructions=instructions,
            speed=speed,
            engine=model if model in local else None,
        )

    async def speak_encoded(self, request: SpeechRequest, choice: VoiceChoice, fmt: str) -> bytes:
        """The whole speech encoded as ``fmt``; OpenAI returns its own encoding directly."""
        if choice.engine == "openai":
            synth = self.registry.synthesizer("openai")
            speech_bytes = synth.speech_bytes  # type: ignore[attr-defined]
            return await self.gate.run(
                "openai",
                speech_bytes,
                request.text,
                voice=choice.voice,
                model=request.model,
                instructions=request.instructions,
                fmt=fmt,
                speed=request.speed,
                language=choice.language,
            )
        speech = await self.synthesize(request, choice)
        return await self.gate.compute(media.encode_audio, speech.samples, speech.sample_rate, fmt)

    async def speak_stream(
        self, request: SpeechRequest, choice: VoiceChoice, fmt: str
    ) -> AsyncIterator[bytes]:
        """Encoded audio as each sentence group is synthesized, for chunked responses."""
        if choice.engine == "openai":
            yield await self.speak_encoded(request, choice, fmt)
            return
        encoder: media.StreamingEncoder | None = None
        async for speech in self.synthesize_chunks(request, choice):
            samples, rate = speech.samples, speech.sample_rate
            if fmt == "pcm" and rate != PCM_RATE:
                samples = await self.gate.compute(media.resample, samples, rate, PCM_RATE)
                rate = PCM_RATE
            if encoder is None:
                encoder = media.StreamingEncoder(fmt, rate)
            data = await self.gate.compute(encoder.feed, samples)
            if data:
                yield data
        if encoder is not None:
            tail = await self.gate.compute(encoder.finish)
            if tail:
                yield tail

    async def release_idle_models(self) -> None:
        await anyio.to_thread.run_sync(self.registry.release_idle)
        await anyio.to_thread.run_sync(self.speaker_encoder.release_idle)


def _pairs_hint(registry: EngineRegistry, translator: str) -> str:
    for info in registry.describe():
        if info.name == translator and info.capability == Capability.TRANSLATE and info.pairs:
            pairs = ", ".join(f"{a}→{b}" for a, b in info.pairs)
            return f" Supported pairs: {pairs}."
    return ""
