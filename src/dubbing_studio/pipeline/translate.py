"""Stage 4: translate every line of a dub in one engine call.

Lines a person edited keep their text. With an LLM translator, a line whose estimated spoken
length would not fit its window even at the speed cap is rewritten shorter before synthesis.
"""

from __future__ import annotations

from collections.abc import Sequence

from dubbing_studio.domain.dub import Segment
from dubbing_studio.domain.languages import resolve_language
from dubbing_studio.engines.protocols import Shortener, Translator
from dubbing_studio.pipeline.artifacts import artifact_key
from dubbing_studio.pipeline.context import DubContext
from dubbing_studio.pipeline.timing import Window

# Characters spoken per second at a natural pace; rough, only used to decide when to shorten.
CHARS_PER_SECOND = {"ja": 8.0, "zh": 5.0, "ko": 8.0, "es": 16.0, "it": 15.0, "fr": 15.0}
DEFAULT_CHARS_PER_SECOND = 14.0


def estimated_seconds(text: str, language: str) -> float:
    return len(text) / CHARS_PER_SECOND.get(language, DEFAULT_CHARS_PER_SECOND)


async def translate_segments(
    ctx: DubContext,
    segments: Sequence[Segment],
    source: str,
    windows: Sequence[Window],
) -> list[Segment]:
    target = resolve_language(ctx.plan.target_language).code
    translator = ctx.studio.registry.translator(ctx.plan.translator)
    texts = [s.source_text for s in segments]
    ctx.report("translate", 0, 1, f"Translating {len(texts)} lines")
    if source == target:
        translated = list(texts)
    else:
        ctx.engines_used["translate"] = f"{translator.name}:{translator.model_id}"
        translated = await _translate_missing(ctx, translator, texts, source, target)
    translated = await _shorten_overlong(ctx, translator, translated, segments, windows, target)
    result = [
        segment if segment.target_edited else segment.edited(target_text=text)
        for segment, text in zip(segments, translated, strict=True)
    ]
    ctx.report("translate", 1, 1, f"{len(texts)} lines", tuple(result), source)
    return result


async def _translate_missing(
    ctx: DubContext, translator: Translator, texts: list[str], source: str, target: str
) -> list[str]:
    """Each line's translation is stored on its own, so after an edit only the changed lines
    go to the engine — all of them in one call, as on the first run."""
    glossary = ctx.plan.glossary
    keys = [
        artifact_key(
            "line-translation",
            engine=translator.name,
            model=translator.model_id,
            source=source,
            target=target,
            keep=glossary.keep,
            force=glossary.force,
            text=text,
        )
        for text in texts
    ]
    translated = [ctx.store.read_json(k) if ctx.store.has(k, "json") else None for k in keys]
    missing = [i for i, text in enumerate(translated) if text is None]
    if missing:
        fresh = await ctx.engine(
            "translate",
            translator.name,
            translator.translate,
            [texts[i] for i in missing],
            source,
            target,
            glossary,
        )
        for i, text in zip(missing, fresh, strict=True):
            ctx.store.write_json(keys[i], text)
            translated[i] = text
    return [text or "" for text in translated]


async def _shorten_overlong(
    ctx: DubContext,
    translator: Translator,
    texts: list[str],
    segments: Sequence[Segment],
    windows: Sequence[Window],
    language: str,
) -> list[str]:
    """Duration-aware translation, for engines that can rewrite (LLMs)."""
    if not isinstance(translator, Shortener):
        return texts
    result = list(texts)
    cap = ctx.plan.timing.max_speed
    for index, (text, segment, window) in enumerate(zip(texts, segments, windows, strict=True)):
        room = window.comfortable_end - segment.start
        if segment.target_edited or estimated_seconds(text, language) <= room * cap:
            continue
        max_chars = int(room * cap * CHARS_PER_SECOND.get(language, DEFAULT_CHARS_PER_SECOND))
        key = artifact_key(
            "shortened",
            engine=translator.name,
            model=translator.model_id,
            text=text,
            language=language,
            max_chars=max_chars,
        )
        if ctx.store.has(key, "json"):
            result[index] = ctx.store.read_json(key)
        else:
            result[index] = await ctx.engine(
                "shorten", translator.name, translator.shorten, text, language, max_chars
            )
            ctx.store.write_json(key, result[index])
        if result[index] != text:
            ctx.shortened[segment.id] = text
    return result
