"""Offline language identification of text (lingua), for requests that carry no language.

lingua's models for all languages take ~900 MB and 10 s to load; restricting it to the
languages the studio can speak keeps it near 150 MB and a second or two, loaded on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

DEFAULT_LANGUAGES = (
    "en",
    "es",
    "fr",
    "de",
    "it",
    "pt",
    "nl",
    "ca",
    "gl",
    "eo",
    "ja",
    "zh",
    "ko",
    "ru",
    "uk",
    "pl",
    "tr",
    "ar",
    "he",
    "hi",
    "sv",
    "da",
    "fi",
    "cs",
    "el",
    "ro",
    "hu",
    "vi",
)


class LanguageIdentifier:
    def __init__(self, languages: Iterable[str] = DEFAULT_LANGUAGES) -> None:
        self._codes = tuple(languages)
        self._detector: object | None = None
        self._lock = threading.Lock()

    def detect(self, text: str) -> str | None:
        """ISO 639-1 code of the text's language, or None when lingua cannot tell."""
        if not text.strip():
            return None
        detector = self._load()
        language = detector.detect_language_of(text)  # type: ignore[attr-defined]
        return language.iso_code_639_1.name.lower() if language is not None else None

    def _load(self) -> object:
        with self._lock:
            if self._detector is None:
                from lingua import IsoCode639_1, LanguageDetectorBuilder

                codes = [
                    getattr(IsoCode639_1, c.upper())
                    for c in self._codes
                    if hasattr(IsoCode639_1, c.upper())
                ]
                self._detector = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()
            return self._detector
