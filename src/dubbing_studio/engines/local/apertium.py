"""Apertium rule-based translation: the offline default, good between related Romance languages.

Installed pairs are discovered from the ``.mode`` files at every call, so a pair installed with
apt shows up without a restart. Starting apertium costs 0.25-0.33 s, so a whole batch goes through
one process per translation leg: texts are HTML-escaped and joined with ``<hr>``, which apertium's
HTML deformatter turns into a superblank it copies through verbatim (checked on every installed
pair; plain-text markers get translated, reordered or re-cased by some pairs).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Callable

from dubbing_studio.config import ApertiumSettings
from dubbing_studio.domain.errors import EngineFailed, EngineUnavailable, UnsupportedLanguage
from dubbing_studio.domain.languages import LANGUAGE_NAMES, language_name
from dubbing_studio.domain.speech import Glossary
from dubbing_studio.engines.protocols import Capability, EngineInfo, Pivoting, Translator
from dubbing_studio.engines.registry import Engine

Runner = Callable[..., subprocess.CompletedProcess[str]]
Pair = tuple[str, str]

_SEPARATOR = "<hr>"
# A pair's mode is "src-tgt"; anything longer (eng-cat_valencia, en-eo-bytecode) is a variant.
_MODE_NAME = re.compile(r"([a-z]{2,3})-([a-z]{2,3})")
# Apertium names languages by ISO 639-3 in newer pairs and ISO 639-1 in older ones.
# fmt: off
_ISO_639_1 = {
    "afr": "af", "arg": "an", "ast": "ast", "bel": "be", "bre": "br", "bul": "bg", "cat": "ca",
    "ces": "cs", "cym": "cy", "dan": "da", "deu": "de", "ell": "el", "eng": "en", "epo": "eo",
    "eus": "eu", "fin": "fi", "fra": "fr", "glg": "gl", "heb": "he", "hin": "hi", "hrv": "hr",
    "isl": "is", "ita": "it", "kaz": "kk", "mkd": "mk", "mlt": "mt", "nld": "nl", "nno": "nn",
    "nob": "nb", "oci": "oc", "pol": "pl", "por": "pt", "ron": "ro", "rus": "ru", "slv": "sl",
    "spa": "es", "srp": "sr", "swe": "sv", "tat": "tt", "tur": "tr", "ukr": "uk", "urd": "ur",
}
# fmt: on
# Preferred intermediate languages: Apertium's best-covered hubs first.
_PIVOTS = ("es", "en", "ca", "fr")
# Glossary terms travel through apertium as made-up words it leaves alone (an unknown word is
# copied through, and moved about like a noun). Restoring ignores case: some pairs re-case the
# first word of a sentence.
_PLACEHOLDER = "Xq{}qx"
_PLACEHOLDER_RE = re.compile(r"Xq(\d+)qx", re.IGNORECASE)
_SPACES = re.compile(r"[ \t]{2,}")
_INSTALL_HINT = "apt-get install apertium apertium-eng-spa apertium-spa-cat apertium-es-pt …"


class ApertiumTranslator(Engine, Translator, Pivoting):
    """Translates batches with the ``apertium`` program, chaining two pairs through a pivot."""

    name = "apertium"

    def __init__(self, settings: ApertiumSettings, runner: Runner = subprocess.run) -> None:
        """``runner`` stands in for ``subprocess.run`` (tests count process launches)."""
        self._settings = settings
        self._runner = runner

    @property
    def model_id(self) -> str:
        """Rule-based pairs: the installed ones the modes folder names."""
        return f"{self._settings.binary} {self._settings.modes_dir}"

    def info(self) -> EngineInfo:
        routes = self._routes()
        reason = None
        if shutil.which(self._settings.binary) is None:
            reason = f"apertium is not installed ({_INSTALL_HINT})."
        elif not routes:
            folder = self._settings.modes_dir
            reason = f"No apertium language pair is installed in {folder} ({_INSTALL_HINT})."
        return EngineInfo(
            name=self.name,
            capability=Capability.TRANSLATE,
            description="Apertium rule-based MT: offline; usable between related languages.",
            available=reason is None,
            reason=reason,
            languages=tuple(sorted({code for pair in routes for code in pair})),
            pairs=tuple(sorted(routes)),
            extra={"pivots": {f"{s}→{t}": r for (s, t), r in routes.items() if len(r) > 1}},
        )

    def supports(self, source: str, target: str) -> bool:
        return source == target or (source, target) in self._routes()

    def translate(
        self,
        texts: list[str],
        source: str,
        target: str,
        glossary: Glossary | None = None,
    ) -> list[str]:
        if source == target or not texts:
            return list(texts)
        routes = self._routes()
        route = routes.get((source, target))
        if route is None:
            raise UnsupportedLanguage(
                f"Apertium cannot translate {language_name(source)} to {language_name(target)}; "
                f"installed pairs: {_pair_list(routes) or 'none'}."
            )
        masked, terms = _protect(texts, glossary or Glossary())
        for mode in route:
            masked = self._run_batch(mode, masked)
        return [_restore(text, terms) for text in masked]

    def pivot(self, source: str, target: str) -> str | None:
        direct = self._direct_pairs()
        if source == target or (source, target) in direct:
            return None
        return _via(direct, source, target)

    def _routes(self) -> dict[Pair, list[str]]:
        """Modes to run for each reachable pair: one for a direct pair, two through a pivot."""
        direct = self._direct_pairs()
        routes: dict[Pair, list[str]] = {pair: [mode] for pair, mode in direct.items()}
        languages = sorted({code for pair in direct for code in pair})
        for source in languages:
            for target in languages:
                if source == target or (source, target) in routes:
                    continue
                via = _via(direct, source, target)
                if via is not None:
                    routes[(source, target)] = [direct[(source, via)], direct[(via, target)]]
        return routes

    def _direct_pairs(self) -> dict[Pair, str]:
        """Installed pairs by ISO 639-1 codes, read from the modes folder."""
        try:
            modes = sorted(p.stem for p in self._settings.modes_dir.glob("*.mode"))
        except OSError:
            return {}
        pairs: dict[Pair, str] = {}
        for mode in modes:
            match = _MODE_NAME.fullmatch(mode)
            if match is None:
                continue
            source, target = (_ISO_639_1.get(code, code) for code in match.groups())
            if source in LANGUAGE_NAMES and target in LANGUAGE_NAMES:
                pairs.setdefault((source, target), mode)
        return pairs

    def _run_batch(self, mode: str, texts: list[str]) -> list[str]:
        """One apertium process for the whole batch; the result lines up with ``texts``."""
        if not any(text.strip() for text in texts):
            return [text.strip() for text in texts]
        payload = _SEPARATOR.join(html.escape(text, quote=False) for text in texts)
        # -d points at the folder holding modes/; -u drops the '*' marking unknown words.
        command = [
            self._settings.binary,
            "-d",
            str(self._settings.modes_dir.parent),
            "-u",
            "-f",
            "html",
            mode,
        ]
        try:
            done = self._runner(
                command,
                input=payload,
                capture_output=True,
                text=True,
                encoding="utf-8",
                timeout=self._settings.timeout_s,
                check=False,
            )
        except FileNotFoundError as error:
            raise EngineUnavailable(f"apertium is not installed ({_INSTALL_HINT}).") from error
        except subprocess.TimeoutExpired as error:
            raise EngineFailed(
                f"apertium {mode} took longer than {self._settings.timeout_s:.0f} s."
            ) from error
        if done.returncode != 0:
            detail = " ".join(done.stderr.split())[-300:] or "no message"
            raise EngineFailed(f"apertium {mode} failed (exit {done.returncode}): {detail}")
        parts = done.stdout.split(_SEPARATOR)
        if len(parts) != len(texts):
            raise EngineFailed(
                f"apertium {mode} returned {len(parts)} texts for {len(texts)}; "
                "the batch separator did not survive."
            )
        # Some pairs leave two spaces where a word was dropped.
        return [_SPACES.sub(" ", html.unescape(part)).strip() for part in parts]


def _protect(texts: list[str], glossary: Glossary) -> tuple[list[str], list[str]]:
    """Glossary terms in ``texts`` swapped for numbered placeholders.

    Returns the masked texts and, by placeholder number, what each placeholder becomes: the
    source's own spelling for a kept term, the forced translation for a forced one. Terms match
    whole words, ignoring case, longest first.
    """
    rules: dict[str, str | None] = {term: None for term in glossary.keep if term}
    rules.update({src: dst for src, dst in glossary.force if src})
    if not rules:
        return list(texts), []
    wanted = {term.casefold(): forced for term, forced in rules.items()}
    alternatives = "|".join(re.escape(term) for term in sorted(rules, key=len, reverse=True))
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    terms: list[str] = []

    def mask(match: re.Match[str]) -> str:
        forced = wanted[match.group(0).casefold()]
        terms.append(match.group(0) if forced is None else forced)
        return _PLACEHOLDER.format(len(terms) - 1)

    return [pattern.sub(mask, text) for text in texts], terms


def _restore(text: str, terms: list[str]) -> str:
    if not terms:
        return text

    def unmask(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return terms[index] if index < len(terms) else match.group(0)

    return _PLACEHOLDER_RE.sub(unmask, text)


def _via(direct: dict[Pair, str], source: str, target: str) -> str | None:
    """The language to go through from ``source`` to ``target`` with two installed pairs."""
    languages = sorted({code for pair in direct for code in pair})
    return next(
        (p for p in (*_PIVOTS, *languages) if (source, p) in direct and (p, target) in direct),
        None,
    )


def _pair_list(routes: dict[Pair, list[str]]) -> str:
    return ", ".join(f"{s}→{t}" for s, t in sorted(routes))
