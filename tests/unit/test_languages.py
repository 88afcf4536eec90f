from __future__ import annotations

import pytest

from dubbing_studio.domain.errors import UnsupportedLanguage
from dubbing_studio.domain.languages import language_name, resolve_language


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("es", "es"),
        ("Spanish", "es"),
        ("spanish", "es"),
        ("SPANISH", "es"),
        (" en-US ", "en"),
        ("pt_BR", "pt"),
        ("Hebrew", "he"),
        ("iw", "he"),
        ("castilian", "es"),
        ("zh-Hans", "zh"),
    ],
)
def test_codes_names_and_tags_resolve(value: str, code: str) -> None:
    assert resolve_language(value).code == code


@pytest.mark.parametrize("value", ["", "   ", "Klingonese", "xx", "english!"])
def test_unknown_languages_are_named_in_the_error(value: str) -> None:
    with pytest.raises(UnsupportedLanguage) as caught:
        resolve_language(value)
    assert caught.value.status_code == 422
    if value.strip():
        assert repr(value) in caught.value.detail


def test_names() -> None:
    assert language_name("en") == "English"
    assert language_name("zz") == "zz"
