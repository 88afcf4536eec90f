"""Word and character error rates, and how heard-back words are shared out between lines."""

from __future__ import annotations

import pytest

from dubbing_studio.domain.metrics import char_error_rate, word_error_rate
from dubbing_studio.domain.speech import TimedText, Transcription, Word
from dubbing_studio.pipeline.backcheck import _split


@pytest.mark.parametrize(
    ("reference", "heard", "wer"),
    [
        ("Pide no qué vuestro país", "pide no qué vuestro país.", 0.0),  # case, punctuation
        ("Pide no qué vuestro país", "Pideno qué vuestro país", 0.4),  # 1 sub + 1 deletion
        ("uno dos", "uno dos tres cuatro", 1.0),  # insertions count
        ("", "", 0.0),
        ("", "algo", 1.0),
    ],
)
def test_word_error_rate(reference: str, heard: str, wer: float) -> None:
    assert word_error_rate(reference, heard) == pytest.approx(wer)


def test_char_error_rate() -> None:
    assert char_error_rate("casa", "cosa") == pytest.approx(0.25)
    assert char_error_rate("qué", "que") == pytest.approx(1 / 3)


def test_heard_words_go_to_the_clip_they_were_said_in() -> None:
    words = (Word(0.1, 0.5, "hola"), Word(1.2, 1.4, "eco"), Word(2.2, 2.8, "adiós"))
    heard = Transcription.from_segments(
        [TimedText(0.0, 3.0, "hola eco adiós", words)],
        language="es",
        language_probability=1.0,
        duration=3.0,
    )
    # Clip 1 at 0–1 s, a gap, clip 2 at 2–3 s: "eco" in the gap's first half goes to clip 1.
    assert _split(heard, [(0.0, 1.0), (2.0, 3.0)]) == ["hola eco", "adiós"]
