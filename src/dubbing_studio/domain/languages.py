"""Language codes and English names, matched the way the seed's clients send them.

Clients send ISO 639-1 codes (``es``), English names in any case (``Spanish``, ``spanish``)
or regional tags (``en-US``, ``pt_BR``). Everything inside the studio uses the bare code.
"""

from __future__ import annotations

from dataclasses import dataclass

from dubbing_studio.domain.errors import UnsupportedLanguage

# The languages Whisper recognises, by ISO 639-1 code (Whisper's own table, plus Hebrew's
# old code and a few names people commonly use).
LANGUAGE_NAMES: dict[str, str] = {
    "af": "Afrikaans",
    "am": "Amharic",
    "ar": "Arabic",
    "as": "Assamese",
    "az": "Azerbaijani",
    "ba": "Bashkir",
    "be": "Belarusian",
    "bg": "Bulgarian",
    "bn": "Bengali",
    "bo": "Tibetan",
    "br": "Breton",
    "bs": "Bosnian",
    "ca": "Catalan",
    "cs": "Czech",
    "cy": "Welsh",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "eo": "Esperanto",
    "es": "Spanish",
    "et": "Estonian",
    "eu": "Basque",
    "fa": "Persian",
    "fi": "Finnish",
    "fo": "Faroese",
    "fr": "French",
    "gl": "Galician",
    "gu": "Gujarati",
    "ha": "Hausa",
    "haw": "Hawaiian",
    "he": "Hebrew",
    "hi": "Hindi",
    "hr": "Croatian",
    "ht": "Haitian Creole",
    "hu": "Hungarian",
    "hy": "Armenian",
    "id": "Indonesian",
    "is": "Icelandic",
    "it": "Italian",
    "ja": "Japanese",
    "jw": "Javanese",
    "ka": "Georgian",
    "kk": "Kazakh",
    "km": "Khmer",
    "kn": "Kannada",
    "ko": "Korean",
    "la": "Latin",
    "lb": "Luxembourgish",
    "ln": "Lingala",
    "lo": "Lao",
    "lt": "Lithuanian",
    "lv": "Latvian",
    "mg": "Malagasy",
    "mi": "Maori",
    "mk": "Macedonian",
    "ml": "Malayalam",
    "mn": "Mongolian",
    "mr": "Marathi",
    "ms": "Malay",
    "mt": "Maltese",
    "my": "Burmese",
    "ne": "Nepali",
    "nl": "Dutch",
    "nn": "Norwegian Nynorsk",
    "no": "Norwegian",
    "nb": "Norwegian Bokmal",
    "oc": "Occitan",
    "pa": "Punjabi",
    "pl": "Polish",
    "ps": "Pashto",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sa": "Sanskrit",
    "sd": "Sindhi",
    "si": "Sinhala",
    "sk": "Slovak",
    "sl": "Slovenian",
    "sn": "Shona",
    "so": "Somali",
    "sq": "Albanian",
    "sr": "Serbian",
    "su": "Sundanese",
    "sv": "Swedish",
    "sw": "Swahili",
    "ta": "Tamil",
    "te": "Telugu",
    "tg": "Tajik",
    "th": "Thai",
    "tk": "Turkmen",
    "tl": "Tagalog",
    "tr": "Turkish",
    "tt": "Tatar",
    "uk": "Ukrainian",
    "ur": "Urdu",
    "uz": "Uzbek",
    "vi": "Vietnamese",
    "yi": "Yiddish",
    "yo": "Yoruba",
    "zh": "Chinese",
    "yue": "Cantonese",
    "an": "Aragonese",
    "ast": "Asturian",
}

_ALIASES: dict[str, str] = {
    "iw": "he",
    "castilian": "es",
    "flemish": "nl",
    "mandarin": "zh",
    "farsi": "fa",
    "moldavian": "ro",
    "moldovan": "ro",
    "valencian": "ca",
    "haitian": "ht",
    "letzeburgesch": "lb",
    "pushto": "ps",
    "panjabi": "pa",
    "sinhalese": "si",
    "burmese": "my",
    "myanmar": "my",
    "filipino": "tl",
    "bokmal": "nb",
    "nynorsk": "nn",
    "jv": "jw",
    "javanese": "jw",
}

_BY_NAME: dict[str, str] = {name.lower(): code for code, name in LANGUAGE_NAMES.items()}


@dataclass(frozen=True, slots=True)
class Language:
    """A language the studio knows, by ISO 639-1 code and English name."""

    code: str
    name: str


def resolve_language(value: str) -> Language:
    """Turn a code, regional tag or English name (any case) into a ``Language``.

    Raises ``UnsupportedLanguage`` naming the value when nothing matches.
    """
    key = value.strip().lower().replace("_", "-")
    if not key:
        raise UnsupportedLanguage("Language must not be empty.")
    code = _lookup(key) or _lookup(key.split("-", 1)[0])
    if code is None:
        raise UnsupportedLanguage(
            f"Unknown language {value!r}: use an ISO 639-1 code such as 'es' "
            "or an English name such as 'Spanish'."
        )
    return Language(code=code, name=LANGUAGE_NAMES[code])


def _lookup(key: str) -> str | None:
    if key in LANGUAGE_NAMES:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    return _BY_NAME.get(key)


def language_name(code: str) -> str:
    """English name of a code, or the code itself when the studio has no name for it."""
    return LANGUAGE_NAMES.get(code, code)
