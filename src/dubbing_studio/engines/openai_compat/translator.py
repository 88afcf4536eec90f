"""Translation and other line rewrites (transcript polish, shortening, voice direction) through
an OpenAI(-compatible) chat model.

A whole job goes out as numbered lines in one JSON request, so the model sees the dialogue as
a whole and the studio pays one round trip. Jobs too long for one reply (``max_output_tokens``)
are cut into consecutive chunks, each sent with a few neighbouring lines as context.

Replies are parsed defensively (code fences, prose around the JSON, lists instead of objects).
A reply that does not give exactly one non-empty line per id is asked for once more with a
stricter instruction naming the problem; if that fails too, a chunk of at most
``PER_LINE_FALLBACK_MAX`` lines is done one line per request, and a longer one raises
``EngineFailed`` rather than send hundreds of requests or return misaligned lines.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

from dubbing_studio.domain.errors import EngineFailed, InvalidInput, UnsupportedLanguage
from dubbing_studio.domain.languages import LANGUAGE_NAMES, language_name, resolve_language
from dubbing_studio.domain.speech import Glossary
from dubbing_studio.engines.openai_compat.client import OpenAIConnection, server_or_configured
from dubbing_studio.engines.protocols import Capability, EngineInfo, Shortener, Translator
from dubbing_studio.engines.registry import Engine

log = logging.getLogger(__name__)

CONTEXT_LINES = 2
PER_LINE_FALLBACK_MAX = 25
_CHARS_PER_TOKEN = 3  # conservative for non-English output
_TOKENS_PER_LINE_OVERHEAD = 8  # the id, quotes and separators around each line in JSON
_VOICE_DIRECTION_TEXT_MAX = 2000

_BATCH_FORMAT = """
The user message is JSON. "lines" maps ids to the lines to work on; "context_before" and
"context_after" are neighbouring lines given for context only. Reply with one JSON object and
nothing else: {"lines": {"<id>": "<result for that line>", ...}} with exactly the same ids,
one non-empty result per id. Never merge, split, drop or reorder lines."""

_STRICT_RETRY = """
Your previous reply could not be used: {problem}. Reply with only the JSON object
{{"lines": {{...}}}} whose keys are exactly {ids}, each with one non-empty string."""

_SINGLE_FORMAT = """
The user message is JSON: "line" is the line to work on; "context_before" and "context_after"
are neighbouring lines for context only. Reply with the result for "line" only: plain text,
no JSON, no quotes, no notes."""

_FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```$", re.DOTALL)


class ReplyError(ValueError):
    """A model reply that does not hold one usable line per requested id."""


class OpenAITranslator(Engine, Translator, Shortener):
    """Translator protocol over chat completions, plus the studio's other LLM rewrites."""

    name = "openai"

    def __init__(self, connection: OpenAIConnection) -> None:
        self.connection = connection

    @property
    def model_id(self) -> str:
        return self.connection.model_id(self.connection.model_for("chat"))

    def info(self, *, live: bool = False) -> EngineInfo:
        configured = self.connection.configured
        return EngineInfo(
            name=self.name,
            capability=Capability.TRANSLATE,
            description="Natural translation by an OpenAI(-compatible) chat model.",
            available=configured,
            reason=None if configured else self.connection.not_configured,
            languages=tuple(LANGUAGE_NAMES),
            models=server_or_configured(self.connection, "chat", live),
            extra={"base_url": self.connection.base_url},
        )

    def offered(self) -> EngineInfo:
        return self.info(live=True)

    def supports(self, source: str, target: str) -> bool:
        try:
            resolve_language(source)
            resolve_language(target)
        except UnsupportedLanguage:
            return False
        return True

    # --- Translator protocol --------------------------------------------------------
    def translate(
        self,
        texts: list[str],
        source: str,
        target: str,
        glossary: Glossary | None = None,
    ) -> list[str]:
        system = _translation_prompt(language_name(source), language_name(target), glossary)
        out = self._map_lines(texts, system, action="translation")
        if glossary is None or glossary.empty:
            return out
        return [enforce_glossary(src, dst, glossary) for src, dst in zip(texts, out, strict=True)]

    # --- other rewrites -------------------------------------------------------------
    def refine(self, text: str, language: str) -> str:
        """Polish one transcript: punctuation, casing, obvious mis-hearings; same meaning."""
        if not text.strip():
            return text
        system = _refine_prompt(language_name(language))
        return _keep_if_sane(text, self._single(system, text, action="refinement"))

    def refine_lines(self, lines: list[str], language: str) -> list[str]:
        """``refine`` for the segments of one transcript in one request, lined up with them."""
        refined = self._map_lines(lines, _refine_prompt(language_name(language)), "refinement")
        return [_keep_if_sane(a, b) for a, b in zip(lines, refined, strict=True)]

    def direct_voice(
        self, text: str, language: str | None = None, character: str | None = None
    ) -> str:
        """Short delivery instructions (tone, pace, emotion) for an instructable TTS model,
        in keeping with ``character`` (who speaks) when given.

        '' when the model has nothing to say; the text itself is never repeated back.
        """
        if not text.strip():
            return ""
        payload = {
            "language": language_name(language) if language else "unknown",
            "text": text[:_VOICE_DIRECTION_TEXT_MAX],
        }
        if character:
            payload["character"] = character[:_VOICE_DIRECTION_TEXT_MAX]
        reply = self.connection.chat(
            _VOICE_DIRECTOR, json.dumps(payload, ensure_ascii=False), action="voice direction"
        )
        return _clean_line(reply)

    def shorten(self, text: str, language: str, max_chars: int) -> str:
        """Say the same line in at most ``max_chars``.

        Best effort: the model's version is used when it is shorter than the original, even
        if still over the limit; otherwise the original comes back unchanged.
        """
        if max_chars < 1:
            raise InvalidInput("shorten needs a positive max_chars.")
        if len(text) <= max_chars:
            return text
        system = _SHORTEN.format(language=language_name(language), max_chars=max_chars)
        reply = self._single(system, text, action="shortening")
        return reply if reply and len(reply) < len(text) else text

    # --- the batch machinery ----------------------------------------------------------
    def _map_lines(self, lines: list[str], system: str, action: str) -> list[str]:
        """Rewrite every non-blank line (blank ones stay as they are), chunk by chunk."""
        todo = [i for i, line in enumerate(lines) if line.strip()]
        texts = [lines[i] for i in todo]
        results: list[str] = []
        budget = self.connection.settings.openai.max_output_tokens // 2
        for start, stop in chunk_bounds(texts, budget):
            results.extend(self._map_chunk(texts, start, stop, system, action))
        out = list(lines)
        for i, result in zip(todo, results, strict=True):
            out[i] = result
        return out

    def _map_chunk(
        self, texts: list[str], start: int, stop: int, system: str, action: str
    ) -> list[str]:
        count = stop - start
        lines = {str(n): texts[start + n - 1] for n in range(1, count + 1)}
        user = json.dumps({"lines": lines, **_context(texts, start, stop)}, ensure_ascii=False)
        instruction = system + _BATCH_FORMAT
        for attempt in (1, 2):
            reply = self.connection.chat(instruction, user, json_mode=True, action=action)
            try:
                return parse_numbered_lines(reply, count)
            except ReplyError as exc:
                log.warning("%s reply %d for %d lines unusable: %s", action, attempt, count, exc)
                ids = ", ".join(f'"{n}"' for n in range(1, count + 1))
                instruction = system + _BATCH_FORMAT + _STRICT_RETRY.format(problem=exc, ids=ids)
        if count > PER_LINE_FALLBACK_MAX:
            raise EngineFailed(
                f"OpenAI {action} failed: the model did not return {count} lines as JSON; "
                "try a stronger chat model."
            )
        results = [
            self._single(system, texts[i], action=action, context=_context(texts, i, i + 1))
            for i in range(start, stop)
        ]
        if not all(results):
            raise EngineFailed(f"OpenAI {action} returned an empty line.")
        return results

    def _single(
        self,
        system: str,
        line: str,
        *,
        action: str,
        context: dict[str, list[str]] | None = None,
    ) -> str:
        """One line per request (plain-text reply, '' if none), with optional context."""
        payload = {"line": line, **(context or {})}
        reply = self.connection.chat(
            system + _SINGLE_FORMAT, json.dumps(payload, ensure_ascii=False), action=action
        )
        return _clean_line(reply)


def _context(texts: list[str], start: int, stop: int) -> dict[str, list[str]]:
    """The lines around ``texts[start:stop]``, sent for context only."""
    return {
        "context_before": texts[max(0, start - CONTEXT_LINES) : start],
        "context_after": texts[stop : stop + CONTEXT_LINES],
    }


def chunk_bounds(texts: list[str], token_budget: int) -> Iterator[tuple[int, int]]:
    """Consecutive ``(start, stop)`` ranges whose estimated reply fits ``token_budget``."""
    start, used = 0, 0
    for i, text in enumerate(texts):
        cost = len(text) // _CHARS_PER_TOKEN + _TOKENS_PER_LINE_OVERHEAD
        if i > start and used + cost > token_budget:
            yield start, i
            start, used = i, 0
        used += cost
    if start < len(texts):
        yield start, len(texts)


def parse_numbered_lines(reply: str, count: int) -> list[str]:
    """The ``count`` lines of a ``{"lines": {"1": ..., "2": ...}}`` reply, in id order.

    Also accepted: the id map at top level or under any single key, and a plain list of
    ``count`` strings. Raises ``ReplyError`` saying what is wrong otherwise.
    """
    data = _loads_lenient(reply)
    if isinstance(data, dict) and len(data) == 1:
        (inner,) = data.values()
        if isinstance(inner, dict | list):
            data = inner
    if isinstance(data, list):
        values: list[Any] = data
        if len(values) != count:
            raise ReplyError(f"expected {count} lines, got {len(values)}")
    elif isinstance(data, dict):
        expected = [str(n) for n in range(1, count + 1)]
        got = {str(k).strip() for k in data}
        if got != set(expected):
            missing = sorted(set(expected) - got, key=int)
            extra = sorted(got - set(expected))
            raise ReplyError(f"ids missing: {missing or 'none'}, unexpected: {extra or 'none'}")
        by_id = {str(k).strip(): v for k, v in data.items()}
        values = [by_id[k] for k in expected]
    else:
        raise ReplyError("the JSON is neither an object of lines nor a list")
    lines = [v.strip() if isinstance(v, str) else "" for v in values]
    empty = [str(n) for n, line in enumerate(lines, 1) if not line]
    if empty:
        raise ReplyError(f"no text for ids {empty}")
    return lines


def _loads_lenient(reply: str) -> Any:
    """JSON from a reply that may wrap it in a code fence or a sentence of prose."""
    text = _strip_fence(reply.strip())
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if starts:
        start = min(starts)
        end = text.rfind("}" if text[start] == "{" else "]")
        if end > start:
            try:
                return json.loads(text[start : end + 1])
            except json.JSONDecodeError:
                pass
    raise ReplyError("the reply is not valid JSON")


def _strip_fence(text: str) -> str:
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text


def _clean_line(reply: str) -> str:
    """A plain-text reply without code fences or quotes around the whole of it."""
    text = _strip_fence(reply.strip())
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”«»":
        text = text[1:-1].strip()
    return text


def _keep_if_sane(original: str, refined: str) -> str:
    """A polish that lost or invented much text changed the content: keep the original."""
    refined = _clean_line(refined)
    if not refined or not 0.5 <= len(refined) / max(1, len(original)) <= 1.5:
        return original
    return refined


def enforce_glossary(source: str, translated: str, glossary: Glossary) -> str:
    """Apply what can be checked cheaply after the fact.

    A forced term the model left untranslated is replaced by its translation; a kept term
    that went missing cannot be restored safely and is only logged.
    """
    for term, replacement in glossary.force:
        if (
            _contains(source, term)
            and not _contains(translated, replacement)
            and _contains(translated, term)
        ):
            translated = _term_pattern(term).sub(replacement, translated)
    for term in glossary.keep:
        if _contains(source, term) and not _contains(translated, term):
            log.warning("glossary term %r was not kept in a translated line", term)
    return translated


def _term_pattern(term: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)


def _contains(text: str, term: str) -> bool:
    return bool(_term_pattern(term).search(text))


def _translation_prompt(source: str, target: str, glossary: Glossary | None) -> str:
    prompt = _TRANSLATE.format(source=source, target=target)
    if glossary is None or glossary.empty:
        return prompt
    rules = ["", "Glossary (follow it exactly):"]
    rules += [f'- keep "{term}" exactly as written, untranslated' for term in glossary.keep]
    rules += [f'- always translate "{a}" as "{b}"' for a, b in glossary.force]
    return prompt + "\n".join(rules)


def _refine_prompt(language: str) -> str:
    return _REFINE.format(language=language)


_TRANSLATE = """You are a professional dubbing translator. Translate dialogue from {source} \
to {target}.
- Translate naturally, not word for word: keep each line's meaning, tone, register and \
intent, and say it the way a native {target} speaker would.
- The lines will be spoken aloud by a voice actor: write speakable text with no notes, \
brackets or alternatives, about as long as the original line.
- Lines are consecutive; use the neighbouring lines to resolve pronouns, gender and ambiguity.
- Keep names of people and places unless they have a usual {target} form."""

_REFINE = """You correct automatic speech-recognition transcripts in {language}. Fix \
punctuation, capitalisation and obvious mis-hearings only. Never change the meaning, rephrase, \
summarise, translate, or add or remove content."""

_SHORTEN = """You adapt dubbing lines in {language} to the time available. Rewrite the line \
so it says the same thing in at most {max_chars} characters. Keep its meaning, tone and \
register and the names in it; it must still sound natural spoken aloud. Stay in {language}."""

_VOICE_DIRECTOR = """You are a voice director preparing a text-to-speech actor. The user \
message is JSON with the "text" to be spoken and its "language". Write delivery instructions \
in English: tone, emotion, pace and emphasis that suit this text. At most three short \
sentences, under 60 words. When "character" describes who speaks (the speaker and some of \
their lines), keep the delivery in that character, consistent across their lines. Do not \
repeat, quote or translate the text. Reply with the instructions only."""
