"""Stage 4: translate every line of a dub in one engine call.

Lines a person edited keep their text. With an LLM translator, a line whose estimated spoken
length would not fit its window even at the speed cap is rewritten shorter before synthesis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise

from dubbing_studio.domain.dub import Segment
from dubbing_studio.domain.errors import UnsupportedLanguage
from dubbing_studio.domain.languages import resolve_language
from dubbing_studio.engines.protocols import Pivoting, Shortener, Translator
from dubbing_studio.pipeline.artifacts import artifact_key
from dubbing_studio.pipeline.context import DubContext
from dubbing_studio.pipeline.timing import Window

# Characters spoken per second at a natural pace; rough, only used to decide when to shorten.
CHARS_PER_SECOND = {"ja": 8.0, "zh": 5.0, "ko": 8.0, "es": 16.0, "it": 15.0, "fr": 15.0}
DEFAULT_CHARS_PER_SECOND = 14.0


UNTRANSLATABLE = "untranslatable_language"  # flag: no route from the line's own language


def estimated_seconds(text: str, language: str) -> float:
    return len(text) / CHARS_PER_SECOND.get(language, DEFAULT_CHARS_PER_SECOND)


PIVOTS = ("en", "es")
"""Languages a line goes through when its translator has no direct pair (English first, as
Whisper can also translate speech into it; Spanish is Apertium's hub)."""


def translation_route(translator: Translator, source: str, target: str) -> tuple[str, ...] | None:
    """The languages a line passes through from ``source`` to ``target``, both included:
    ``(source,)`` when they are the same, ``(source, pivot, target)`` when no direct pair
    exists; None when there is no way."""
    if source == target:
        return (source,)
    if translator.supports(source, target):
        via = translator.pivot(source, target) if isinstance(translator, Pivoting) else None
        return (source, target) if via is None else (source, via, target)
    for pivot in PIVOTS:
        if pivot not in (source, target) and (
            translator.supports(source, pivot) and translator.supports(pivot, target)
        ):
            return (source, pivot, target)
    return None


def needs_english(ctx: DubContext, segments: Sequence[Segment], source: str) -> list[Segment]:
    """The lines to translate from their speech heard in English (Whisper's translate
    task): those whose translation no person wrote, in a language the translator has no
    route from (``source`` for lines without one), when English has a route."""
    target = resolve_language(ctx.plan.target_language).code
    translator = ctx.studio.registry.translator(ctx.plan.translator)
    if translation_route(translator, "en", target) is None:
        return []
    return [
        segment
        for segment in segments
        if not segment.target_edited
        and translation_route(translator, segment.language or source, target) is None
    ]


async def translate_segments(
    ctx: DubContext,
    segments: Sequence[Segment],
    source: str,
    windows: Sequence[Window],
    english: Mapping[str, str | None] | None = None,
) -> list[Segment]:
    """Each line from its own language (``source`` for lines without one); lines already in
    the target language keep their words and are only re-voiced. A line in a language the
    translator cannot handle goes through its speech heard in English, when ``english``
    (line id: text, see ``needs_english``) has it; otherwise it is translated as ``source``
    and flagged."""
    target = resolve_language(ctx.plan.target_language).code
    translator = ctx.studio.registry.translator(ctx.plan.translator)
    texts = [s.source_text for s in segments]
    ctx.report("translate", 0, 1, f"Translating {len(texts)} lines")
    translated = [s.target_text if s.target_edited else s.source_text for s in segments]
    flagged = [s.flags for s in segments]
    via: list[str | None] = [None] * len(segments)
    by_language: dict[str, list[int]] = {}
    for index, segment in enumerate(segments):
        if segment.target_edited:
            continue  # a person (or an imported translation) wrote it: never sent to the engine
        language = segment.language or source
        route = translation_route(translator, language, target)
        heard = english.get(segment.id) if route is None and english else None
        if heard:
            texts[index], language, via[index] = heard, "en", "en"
            route = translation_route(translator, "en", target)
        if route is None:
            language = source
            flagged[index] = tuple(dict.fromkeys((*segment.flags, UNTRANSLATABLE)))
        elif len(route) > 2 and via[index] is None:  # heard in English: that is the pivot
            via[index] = route[1]
        by_language.setdefault(language, []).append(index)
    if any(language != target for language in by_language):
        ctx.engines_used["translate"] = f"{translator.name}:{translator.model_id}"
    for language, indices in by_language.items():
        if language == target:
            continue  # already in the target language: re-voiced as it was said
        route = translation_route(translator, language, target)
        if route is None:
            raise UnsupportedLanguage(f"{translator.name} cannot translate {language} to {target}.")
        batch = [texts[i] for i in indices]
        # One call when the engine reaches the target itself, else one per leg of the route.
        direct = translator.supports(language, target)
        for hop_source, hop_target in [(language, target)] if direct else pairwise(route):
            batch = await _translate_missing(ctx, translator, batch, hop_source, hop_target)
        for i, text in zip(indices, batch, strict=True):
            translated[i] = text
    translated = await _shorten_overlong(ctx, translator, translated, segments, windows, target)
    result = [
        segment
        if segment.target_edited
        else segment.edited(target_text=text, flags=flags, translated_via=pivot)
        for segment, text, flags, pivot in zip(segments, translated, flagged, via, strict=True)
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
    await ctx.use(*((key, "json") for key in keys))
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
        await ctx.use((key, "json"))
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
