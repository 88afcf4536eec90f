"""Runs the stages of a dub in order. Each stage looks its output up in the artifact store
before computing it, so rerunning after a crash or an edit redoes only what changed."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from dubbing_studio import media
from dubbing_studio.domain.dub import DubPlan, DubReport, MixPolicy, Segment, Transcript
from dubbing_studio.domain.errors import InvalidInput, UnsupportedLanguage
from dubbing_studio.domain.languages import resolve_language
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.engines.protocols import Capability
from dubbing_studio.engines.registry import EngineRegistry
from dubbing_studio.pipeline.artifacts import ArtifactStore, UseCallback
from dubbing_studio.pipeline.backcheck import BackListener, hear_back, listening
from dubbing_studio.pipeline.casting import VoiceRef, cast_voices, parse_voice
from dubbing_studio.pipeline.context import (
    DubContext,
    DubEngines,
    KeyedLocks,
    ProgressCallback,
    ignore_progress,
)
from dubbing_studio.pipeline.diarize import diarization_enabled
from dubbing_studio.pipeline.export import (
    OutputWriter,
    output_writers,
    review_fields,
    segment_report,
    write_report,
)
from dubbing_studio.pipeline.ingest import Ingested, ingest
from dubbing_studio.pipeline.mix import mix, mix_rate
from dubbing_studio.pipeline.recognise import heard_in_english, recognise, recognised
from dubbing_studio.pipeline.separate import background_mode, separated_background
from dubbing_studio.pipeline.speech import FittedLine, character_of, speak_line
from dubbing_studio.pipeline.steps import HEAR_BACK, MIX, RECOGNISE, TRANSLATE
from dubbing_studio.pipeline.timing import FIT_POLICIES, Window, windows
from dubbing_studio.pipeline.translate import (
    needs_english,
    translate_segments,
    translation_route,
)
from dubbing_studio.pipeline.voice_match import Casting, cast_speakers, estimate_speakers

T = TypeVar("T")

Original = tuple[FloatAudio, int, FloatAudio | None, MixPolicy]
"""The original at the mix rate, the rate, the original without its speech (or None), and
the mix policy with its background decided."""


@dataclass(frozen=True, slots=True)
class DubResult:
    report: DubReport
    segments: list[Segment]
    outputs: dict[str, Path]
    engine_calls: Counter[str]
    source_language: str


class DubPipeline:
    def __init__(self, studio: DubEngines, store: ArtifactStore) -> None:
        self.studio = studio
        self.store = store
        self.locks = KeyedLocks()  # shared by concurrent runs: one recognition per file

    def check(self, plan: DubPlan, translating: bool = True) -> None:
        """Refuse at once what would only fail minutes into a run: a target language no
        voice speaks, or a language pair the translator lacks (422 each). ``translating``
        is False when the translation is imported."""
        target = resolve_language(plan.target_language).code
        if plan.timing.fit not in FIT_POLICIES:
            raise InvalidInput(f"fit is one of {', '.join(FIT_POLICIES)}, not {plan.timing.fit!r}.")
        cast_voices(self.studio.registry, ["S1"], target, plan)
        diarization_enabled(plan.diarize, self.studio.speaker_encoder)
        if plan.mix.background == "separate":
            self.studio.registry.separator()  # 503 when no separator can run here
        source = resolve_language(plan.source_language).code if plan.source_language else None
        if translating and source and source != target:
            translator = self.studio.registry.translator(plan.translator)
            if translation_route(translator, source, target) is None:
                raise UnsupportedLanguage(
                    f"{translator.name} cannot translate {source} to {target}."
                )

    async def run(
        self,
        source: Path,
        plan: DubPlan,
        out_dir: Path,
        *,
        transcript: Transcript | None = None,
        progress: ProgressCallback = ignore_progress,
        on_use: UseCallback | None = None,
    ) -> DubResult:
        """Dub ``source`` into ``out_dir``. ``transcript`` (an edited earlier run) replaces
        recognition; lines whose translation a person wrote keep it. ``on_use`` is told of
        every artifact the run touches, before it is used (a caller deleting projects needs
        to know)."""
        result = await self.run_through(
            MIX, source, plan, out_dir, transcript=transcript, progress=progress, on_use=on_use
        )
        assert result is not None  # the last step returns the dub
        return result

    async def run_through(
        self,
        step: str,
        source: Path,
        plan: DubPlan,
        out_dir: Path,
        *,
        transcript: Transcript | None = None,
        progress: ProgressCallback = ignore_progress,
        on_use: UseCallback | None = None,
    ) -> DubResult | None:
        """``run``, stopped once ``step`` (one of ``steps.STEPS``) is done: its outputs are
        then in the artifact store, where the next step's call finds them (None until the
        last step, which returns the dub)."""
        tracked = self.store.tracking(on_use) if on_use is not None else self.store
        ctx = DubContext(self.studio, tracked, plan, progress, locks=self.locks)
        # Reading the input keeps one core busy: the other loads the recogniser's model
        # meanwhile, which recognition would otherwise wait for (issue 12).
        warming: contextlib.AbstractAsyncContextManager[object] = contextlib.nullcontext()
        if transcript is None:
            recogniser = self.studio.registry.get(Capability.TRANSCRIBE, plan.transcriber)
            warming = _alongside(ctx.compute(recogniser.warm))
        async with warming:
            ingested = await ingest(ctx, source)
        if step != MIX:
            return await self._through(step, ctx, source, ingested, out_dir, transcript, None)
        # The original as the mix needs it (decoded, its speech separated out) depends on the
        # input alone: a run through to the mix prepares it while the lines are recognised
        # and spoken (issue 12).
        async with _alongside(self._original(ctx, source, ingested)) as original:
            return await self._through(step, ctx, source, ingested, out_dir, transcript, original)

    async def _through(
        self,
        step: str,
        ctx: DubContext,
        source: Path,
        ingested: Ingested,
        out_dir: Path,
        transcript: Transcript | None,
        prepared: asyncio.Task[Original] | None,
    ) -> DubResult | None:
        plan = ctx.plan
        if transcript is None:
            transcript = await recognise(ctx, ingested)
        lines = sorted(transcript.segments, key=lambda s: (s.start, s.speaker))
        english = await heard_in_english(
            ctx, ingested, needs_english(ctx, lines, transcript.language)
        )
        if step == RECOGNISE:
            return None
        heard = transcript if transcript.speech is not None else await recognised(ctx, ingested)
        source_language = transcript.language
        if not lines:
            raise InvalidInput("No speech was found in the input; nothing to dub.")
        target = resolve_language(plan.target_language).code
        spans = windows(lines, ingested.duration, plan.timing)
        # What runs beside the stages (issue 12): each speaker's pitch, which depends on the
        # lines' timing alone, is estimated while they are translated and spoken (casting
        # waits for it only to match voices); a run through to the end hears the dub back
        # window by window while the next lines are spoken, and mixes and encodes it while
        # the last windows are heard. Progress is still told stage after stage.
        async with contextlib.AsyncExitStack() as alongside:
            estimating = (
                await alongside.enter_async_context(
                    _alongside(ctx.compute(estimate_speakers, ingested, lines))
                )
                if step != TRANSLATE
                else None
            )
            lines = await translate_segments(ctx, lines, source_language, spans, english)
            if estimating is None:  # the translation step
                return None
            casting = await cast_speakers(ctx, ingested, lines, target, estimating)
            if step != MIX:
                fitted = await self._speak(ctx, lines, spans, casting, target)
                if step == HEAR_BACK and plan.back_transcribe:
                    ctx.report("hear_back", 0, 1, "Hearing the dub back")
                    await hear_back(ctx, fitted, target)
                    ctx.report("hear_back", 1, 1, "Heard back")
                return None

            assert prepared is not None  # started for every run through to the mix
            listener = (
                await alongside.enter_async_context(listening(ctx, target))
                if plan.back_transcribe
                else None
            )
            fitted = await self._speak(ctx, lines, spans, casting, target, listener)
            writers = partial(
                output_writers,
                out_dir=out_dir,
                stem=source.stem,
                source=source,
                has_video=ingested.info.has_video,
                lines=fitted,
                audio_formats=plan.audio_formats,
                video_format=plan.video_format,
                keep_original_audio=plan.keep_original_audio,
                source_language=source_language,
                target_language=target,
            )
            media_out = await alongside.enter_async_context(
                _alongside(self._mixed_outputs(ctx, fitted, prepared, writers))
            )
            heard_back = None
            if listener is not None:
                ctx.report("hear_back", 0, 1, "Hearing the dub back")
                heard_back = await listener.heard()
                ctx.report("hear_back", 1, 1, "Heard back")
            ctx.report("mix", 0, 1, "Mixing")
            if not prepared.done():
                ctx.report("mix", 0, 1, "Separating the original speech from its background")
            outputs = await media_out
            ctx.report("mix", 1, 1, "Mixed")
            speakers = casting.report(await estimating)

        ctx.report("export", 0, 1, "Writing outputs")
        base = DubReport(
            source_language=source_language,
            target_language=target,
            duration_s=round(ingested.duration, 3),
            segments=tuple(
                segment_report(
                    line, window.comfortable_end, heard_back[index] if heard_back else None
                )
                for index, (line, window) in enumerate(zip(fitted, spans, strict=True))
            ),
            outputs={},
            speakers=speakers,
            fit=plan.timing.fit,
            **review_fields(heard, lines),
            engines={
                **ctx.engines_used,
                **_voice_engines(self.studio.registry, casting.voices.values()),
            },
        )
        outputs = await ctx.compute(write_report, out_dir, base, outputs)
        ctx.report("export", 1, 1, "Done")
        return DubResult(
            report=base,
            segments=[line.segment for line in fitted],
            outputs=outputs,
            engine_calls=ctx.engine_calls,
            source_language=source_language,
        )

    async def _speak(
        self,
        ctx: DubContext,
        lines: list[Segment],
        spans: list[Window],
        casting: Casting,
        target: str,
        listener: BackListener | None = None,
    ) -> list[FittedLine]:
        """Every line spoken and fitted in order, each handed to ``listener`` once fitted."""
        plan = ctx.plan
        fitted: list[FittedLine] = []
        ctx.report("synthesize", 0, len(lines), "Speaking")
        last_end: dict[str, float] = {}
        for index, (segment, window) in enumerate(zip(lines, spans, strict=True)):
            cast = casting.voices[segment.speaker]
            voice = (
                parse_voice(segment.voice, self.studio.registry, target) if segment.voice else cast
            )
            shift = casting.shifts[segment.speaker] if voice == cast else 0.0
            previous_end = last_end.get(segment.speaker)
            start = (
                segment.start
                if previous_end is None
                else max(segment.start, previous_end + plan.timing.min_gap_s)
            )
            reference = casting.references.get(segment.speaker) if voice == cast else None
            character = character_of(segment.speaker, voice, lines)
            line = await speak_line(
                ctx, segment, start, window, voice, target, shift, reference, character
            )
            fitted.append(line)
            if listener is not None:
                listener.add(line)
            last_end[segment.speaker] = line.end
            ctx.report(
                "synthesize", index + 1, len(lines), line.segment.target_text[:60], (line.segment,)
            )
        return fitted

    async def _mixed_outputs(
        self,
        ctx: DubContext,
        fitted: list[FittedLine],
        prepared: asyncio.Task[Original],
        writers: Callable[..., list[OutputWriter]],
    ) -> dict[str, Path]:
        """The lines mixed over the original, then every output of ``writers(mixed=, rate=)``."""
        original, rate, separated, policy = await prepared
        mixed = await ctx.compute(mix, original, rate, fitted, policy, separated)
        writes = await ctx.compute(writers, mixed=mixed, rate=rate)
        return await written_side_by_side(ctx.compute, writes)

    async def _original(self, ctx: DubContext, source: Path, ingested: Ingested) -> Original:
        audio = ingested.info.audio
        original, rate = await ctx.compute(
            media.decode_untrusted,
            source,
            sample_rate=mix_rate(audio.sample_rate if audio else None),
            channels="stereo",
            max_duration_s=self.studio.settings.max_duration_s,
            work_dir=self.studio.settings.temp_dir,
            sandbox=self.studio.media_sandbox,
        )
        policy = replace(
            ctx.plan.mix, background=background_mode(ctx.plan.mix, self.studio.registry)
        )
        if policy.background != "separate":
            return original, rate, None, policy
        separated = await separated_background(ctx, ingested.digest, original, rate)
        return original, rate, separated, policy


async def written_side_by_side(
    compute: Callable[[OutputWriter], Awaitable[dict[str, Path]]], writes: Sequence[OutputWriter]
) -> dict[str, Path]:
    """Every output, each written by ``compute`` beside the others, named in ``writes``'
    order. All of them finish (or fail) before this returns or raises the first failure, so
    no output is still being written once a failed dub is reported."""
    written = await asyncio.gather(*map(compute, writes), return_exceptions=True)
    outputs: dict[str, Path] = {}
    for result in written:
        if isinstance(result, BaseException):
            raise result
        outputs.update(result)
    return outputs


@contextlib.asynccontextmanager
async def _alongside(work: Coroutine[Any, Any, T]) -> AsyncIterator[asyncio.Task[T]]:
    """``work`` as a task running beside the block; cancelled and waited for if the block
    ends without awaiting it (a failed dub), its outcome then dropped."""
    task = asyncio.create_task(work)
    try:
        yield task
    finally:
        task.cancel()  # nothing when it is done
        await asyncio.gather(task, return_exceptions=True)


def _voice_engines(registry: EngineRegistry, voices: Iterable[VoiceRef]) -> dict[str, str]:
    """``synthesize:ENGINE`` for each engine the cast speaks with, and its model."""
    return {
        f"synthesize:{engine}": f"{engine}:{registry.synthesizer(engine).model_id}"
        for engine in sorted({voice.engine for voice in voices})
    }
